// Desktop notifications (permission asked only from a click in the user menu) and an optional short sound
// when the tab is hidden; messages that mention me always notify, even while the tab is visible.

import { state, displayName, roomName } from './state.js';
import { mentions } from './richtext.js';

const KEY_NOTIFY = 'chatly.notify';
const KEY_SOUND = 'chatly.sound';
let audioCtx = null;

function read(key) { try { return localStorage.getItem(key) === '1'; } catch { return false; } }
function write(key, on) { try { localStorage.setItem(key, on ? '1' : '0'); } catch { /* ignore */ } }

export function notificationsSupported() { return typeof Notification !== 'undefined'; }
export function notificationsOn() {
  return read(KEY_NOTIFY) && notificationsSupported() && Notification.permission === 'granted';
}
export function soundOn() { return read(KEY_SOUND); }

/** Must be called from a user gesture (a click). Resolves the new on/off state. */
export async function setNotifications(on) {
  if (!on || !notificationsSupported()) { write(KEY_NOTIFY, false); return false; }
  let perm = Notification.permission;
  if (perm === 'default') perm = await Notification.requestPermission();
  write(KEY_NOTIFY, perm === 'granted');
  return perm === 'granted';
}

export function setSound(on) {
  write(KEY_SOUND, on);
  if (on) { ensureAudio(); beep(); }
}

function ensureAudio() {
  if (!audioCtx && typeof AudioContext !== 'undefined') audioCtx = new AudioContext();
  if (audioCtx && audioCtx.state === 'suspended') audioCtx.resume();
  return audioCtx;
}

function beep() {
  const ctx = ensureAudio();
  if (!ctx) return;
  const now = ctx.currentTime;
  for (const [i, freq] of [[0, 880], [1, 1320]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = freq;
    osc.type = 'sine';
    gain.gain.setValueAtTime(0.0001, now + i * 0.12);
    gain.gain.exponentialRampToValueAtTime(0.15, now + i * 0.12 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.12 + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(now + i * 0.12);
    osc.stop(now + i * 0.12 + 0.2);
  }
}

/** Names that count as mentioning me: @username and @display name (first word too). */
export function myMentionNames() {
  const me = state.me;
  if (!me) return [];
  const names = [me.username];
  if (me.display_name) {
    names.push(me.display_name);
    const first = me.display_name.split(/\s+/)[0];
    if (first && first !== me.display_name) names.push(first);
  }
  return names.filter(Boolean);
}

export function isMention(msg) { return !!msg && !msg.deleted && mentions(msg.text, myMentionNames()); }

let openRoomHandler = null;
export function onNotificationClick(fn) { openRoomHandler = fn; }

export function onIncomingMessage(msg, room) {
  const mention = isMention(msg);
  const hidden = document.hidden;
  const elsewhere = state.currentRoomId !== msg.room_id || state.view !== 'room';
  if (hidden && soundOn()) beep();
  if (!(hidden || (mention && elsewhere))) return;
  const granted = notificationsSupported() && Notification.permission === 'granted';
  if (!granted || !(read(KEY_NOTIFY) || mention)) return;
  try {
    const title = room.kind === 'public' ? `${displayName(msg.author)} in ${roomName(room)}`
      : room.kind === 'direct' ? displayName(msg.author) : `${displayName(msg.author)} in ${roomName(room)}`;
    const body = msg.text ? msg.text.slice(0, 180) : (msg.files?.length ? 'Sent a file' : '');
    const n = new Notification(title, { body, tag: msg.id, icon: '/app/icon.svg' });
    n.onclick = () => { window.focus(); if (openRoomHandler) openRoomHandler(msg.room_id); n.close(); };
  } catch { /* notifications unavailable */ }
}
