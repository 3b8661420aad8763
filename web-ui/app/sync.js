// Keeps state in step with the node: initial load, history paging, catch-up after a reconnect, and the
// live WebSocket frames (api.md "Live events" plus node.peers) applied to the store.

import * as api from './api.js';
import { state, emit, setFeature, upsertUser } from './state.js';
import { Timeline } from './timeline.js';
import { onIncomingMessage } from './notify.js';

const PAGE = 50;

export function timeline(roomId) {
  let t = state.timelines.get(roomId);
  if (!t) { t = new Timeline(roomId); state.timelines.set(roomId, t); }
  return t;
}

async function quiet(promise, feature) {
  try {
    return await promise;
  } catch (e) {
    if (feature && api.isMissing(e)) setFeature(feature, false);
    else if (!(e instanceof api.ApiError) || e.status !== 401) console.warn(e);
    return null;
  }
}

export async function refreshUsers() {
  const list = await quiet(api.getUsers());
  if (!Array.isArray(list)) return;
  for (const u of list) upsertUser(u);
  emit('users');
  emit('presence');
}

let usersTimer = null;
/** Someone unknown wrote: fetch the people list again soon (debounced). */
export function learnUser(id) {
  if (!id || state.users.has(id) || usersTimer) return;
  usersTimer = setTimeout(() => { usersTimer = null; refreshUsers(); }, 800);
}

export async function refreshPresence() {
  const p = await quiet(api.getPresence(), 'presence');
  if (!p || !Array.isArray(p.online)) return;
  state.online = new Set(p.online);
  state.presenceLoaded = true;
  emit('presence');
}

const PUBLIC_FALLBACK = { id: 'public', kind: 'public', name: 'Public', description: '', members: [], admins: [],
  unread: 0, last_message: null, encrypted: false };

export async function refreshRooms() {
  const list = await quiet(api.getRooms());
  if (Array.isArray(list)) {
    const next = new Map();
    for (const r of list) next.set(r.id, { ...state.rooms.get(r.id), ...r });
    if (!next.has('public')) next.set('public', state.rooms.get('public') || PUBLIC_FALLBACK);
    state.rooms = next;
  } else if (!state.rooms.has('public')) {
    state.rooms.set('public', PUBLIC_FALLBACK);
  }
  emit('rooms');
}

export async function refreshNode() {
  const n = await quiet(api.getNode());
  if (!n) return null;
  state.node = n;
  if (state.peers == null || !state.peersFromSocket) state.peers = Array.isArray(n.peers) ? n.peers.length : 0;
  emit('peers');
  emit('node');
  return n;
}

/** Finds out which optional endpoints this node has, so missing ones are hidden instead of failing. */
async function probeFeatures() {
  const none = 'chatly-probe-0000000000000000';
  const checks = {
    search: () => api.probe('GET', '/search?q=chatly'),
    files: () => api.probe('GET', `/files/${none}`),
    edit: () => api.probe('PATCH', `/rooms/public/messages/${none}`, { text: 'probe' }),
    delete: () => api.probe('DELETE', `/rooms/public/messages/${none}`),
    reactions: () => api.probe('POST', `/rooms/public/messages/${none}/reactions`, { emoji: '👍' }),
    groups: () => api.probe('POST', '/rooms', { kind: 'chatly-probe' }),
  };
  await Promise.all(Object.entries(checks).map(async ([name, fn]) => {
    const ok = await fn();
    if (ok !== null) setFeature(name, ok);
  }));
  setFeature('direct', state.features.groups);
}

export async function bootstrap() {
  await Promise.all([refreshUsers(), refreshRooms(), refreshPresence(), refreshNode()]);
  probeFeatures();
}

/** Loads the newest page of a room (first open, or "jump to latest" from a detached window). */
export async function loadLatest(roomId) {
  const t = timeline(roomId);
  const res = await quiet(api.getMessages(roomId, { limit: PAGE }));
  if (!res) { t.loaded = true; t.hasOlder = false; emit(`timeline:${roomId}`, { type: 'reset' }); return; }
  if (t.hasNewer) t.clear();
  t.hasNewer = false;
  t.hasOlder = !!res.has_more;
  t.loaded = true;
  t.merge(res.messages || []);
  for (const m of res.messages || []) learnUser(m.author);
  emit(`timeline:${roomId}`, { type: 'reset' });
}

export function ensureLoaded(roomId) {
  const t = timeline(roomId);
  if (!t.loaded && !t.loadingLatest) {
    t.loadingLatest = loadLatest(roomId).finally(() => { t.loadingLatest = null; });
  }
  return t.loadingLatest || Promise.resolve();
}

export function loadOlder(roomId) {
  const t = timeline(roomId);
  if (!t.hasOlder || t.loadingOlder || !t.loaded) return t.loadingOlder;
  const before = t.firstServerId();
  if (!before) { t.hasOlder = false; return null; }
  t.loadingOlder = (async () => {
    const res = await quiet(api.getMessages(roomId, { before, limit: PAGE }));
    if (!res) { t.hasOlder = false; return; }
    const msgs = res.messages || [];
    t.hasOlder = !!res.has_more && msgs.length > 0;
    for (const m of msgs) learnUser(m.author);
    if (!t.merge(msgs)) emit(`timeline:${roomId}`, { type: 'reset' });
  })().finally(() => { t.loadingOlder = null; });
  return t.loadingOlder;
}

export function loadNewer(roomId) {
  const t = timeline(roomId);
  if (!t.hasNewer || t.loadingNewer) return t.loadingNewer;
  const after = t.lastServerId();
  t.loadingNewer = (async () => {
    try {
      const res = await api.getMessages(roomId, { after, limit: PAGE });
      const msgs = res.messages || [];
      t.hasNewer = !!res.has_more && msgs.length > 0;
      if (!t.merge(msgs)) emit(`timeline:${roomId}`, { type: 'reset' });
    } catch {
      await loadLatest(roomId);
    }
  })().finally(() => { t.loadingNewer = null; });
  return t.loadingNewer;
}

/** Shows `msg` in context: uses the loaded history when it has it, else loads a window around it. */
export async function jumpTo(roomId, msg) {
  const t = timeline(roomId);
  state.pendingJump = { roomId, id: msg.id };
  if (!t.get(msg.id)) {
    const fill = (async () => {
      const [older, newer] = await Promise.all([
        quiet(api.getMessages(roomId, { before: msg.id, limit: 25 })),
        api.getMessages(roomId, { after: msg.id, limit: 25 }).catch(() => null),
      ]);
      t.clear();
      t.loaded = true;
      t.hasOlder = !!older?.has_more;
      t.hasNewer = newer ? !!newer.has_more : true;
      t.merge([...(older?.messages || []), msg, ...(newer?.messages || [])]);
    })();
    t.loadingLatest = fill.finally(() => { t.loadingLatest = null; });
    await fill;
  }
  emit(`jump:${roomId}`, msg.id);
}

/** After a reconnect: fetch what was missed in every loaded live timeline, without duplicates. */
export async function catchUp() {
  await Promise.all([refreshRooms(), refreshUsers(), refreshPresence(), refreshNode()]);
  for (const t of state.timelines.values()) {
    if (!t.loaded || t.hasNewer) continue;
    let after = t.lastServerId();
    if (!after) { await loadLatest(t.roomId); continue; }
    for (let page = 0; page < 25; page += 1) {
      let res;
      try {
        res = await api.getMessages(t.roomId, { after, limit: 200 });
      } catch (e) {
        if (!(e instanceof api.ApiError) || e.status === 0) break;
        await mergeNewest(t);
        break;
      }
      const msgs = res.messages || [];
      const added = msgs.filter((m) => !t.get(m.id));
      t.merge(msgs);
      for (const m of added) learnUser(m.author);
      if (!res.has_more || !added.length) break;
      after = msgs[msgs.length - 1].id;
    }
    // Messages already on screen may have been edited, deleted or reacted to meanwhile: refresh
    // the newest page of them too (older ones refresh when scrolled back to and reloaded).
    const recent = await quiet(api.getMessages(t.roomId, { limit: 200 }));
    if (recent?.messages) t.merge(recent.messages.filter((m) => t.get(m.id)));
  }
}

/** Fallback catch-up when `after` is refused: merge the newest page, or start over if there is a gap. */
async function mergeNewest(t) {
  const res = await quiet(api.getMessages(t.roomId, { limit: PAGE }));
  if (!res) return;
  const msgs = res.messages || [];
  const overlaps = msgs.some((m) => t.get(m.id));
  if (!overlaps && msgs.length) {
    t.clear();
    t.loaded = true;
    t.hasOlder = !!res.has_more;
  }
  t.merge(msgs);
}

function roomOf(id) { return state.rooms.get(id); }

function onMessageCreated(msg) {
  if (!msg || !msg.room_id) return;
  const t = state.timelines.get(msg.room_id);
  const isNew = !t || !t.get(msg.id);
  const mine = state.me && msg.author === state.me.id;
  const pending = mine && t ? t.messages.find((m) => m._local && m._state === 'sending' && m.text === msg.text) : null;
  if (pending) t.confirm(pending.id, msg);
  else if (t && t.loaded && !t.hasNewer) t.upsert(msg);
  learnUser(msg.author);
  const room = roomOf(msg.room_id);
  if (!room) { refreshRooms(); return; }
  room.last_message = msg;
  if (isNew && !mine) {
    const watching = state.view === 'room' && state.currentRoomId === msg.room_id && !document.hidden && state.atBottom;
    if (!watching) {
      room.unread = (room.unread || 0) + 1;
      if (t && state.currentRoomId === msg.room_id && !t.readMarkerId) {
        t.readMarkerId = msg.id;
        emit(`timeline:${msg.room_id}`, { type: 'reset' });
      }
    }
    onIncomingMessage(msg, room);
  }
  // typing stops when the message lands
  state.typing.get(msg.room_id)?.delete(msg.author);
  emit(`typing:${msg.room_id}`);
  emit('rooms');
}

const handlers = {
  'message.created': (f) => onMessageCreated(f.message),
  'message.updated': (f) => {
    const m = f.message;
    const t = m && state.timelines.get(m.room_id);
    if (t && t.get(m.id)) t.upsert(m);
  },
  'message.delivery': (f) => {
    const t = state.timelines.get(f.room_id);
    const old = t && t.get(f.message_id);
    if (old) t.upsert({ ...old, delivery: f.delivery });
  },
  'message.deleted': (f) => {
    const t = state.timelines.get(f.room_id);
    const old = t && t.get(f.message_id);
    if (old) t.upsert({ ...old, deleted: true, text: '', files: [], reactions: {} });
  },
  'room.updated': (f) => {
    if (!f.room) return;
    state.rooms.set(f.room.id, { ...state.rooms.get(f.room.id), ...f.room });
    emit('rooms');
  },
  'room.removed': (f) => {
    state.rooms.delete(f.room_id);
    state.timelines.delete(f.room_id);
    emit('rooms');
    emit('room.removed', f.room_id);
  },
  presence: (f) => {
    if (f.online) state.online.add(f.user_id); else state.online.delete(f.user_id);
    const u = state.users.get(f.user_id);
    if (u) state.users.set(f.user_id, { ...u, online: !!f.online, last_seen: f.last_seen ?? u.last_seen });
    else learnUser(f.user_id);
    emit('presence');
  },
  typing: (f) => {
    if (state.me && f.user_id === state.me.id) return;
    if (!state.typing.has(f.room_id)) state.typing.set(f.room_id, new Map());
    state.typing.get(f.room_id).set(f.user_id, Date.now() + 6000);
    emit(`typing:${f.room_id}`);
  },
  receipt: (f) => {
    if (!state.receipts.has(f.room_id)) state.receipts.set(f.room_id, new Map());
    state.receipts.get(f.room_id).set(f.user_id, f.message_id);
    emit(`receipts:${f.room_id}`);
  },
  'user.updated': (f) => {
    upsertUser(f.user);
    emit('users');
    if (state.me && f.user && f.user.id === state.me.id) emit('me');
  },
  'file.progress': (f) => {
    state.fileProgress.set(f.file_id, { done: f.done, total: f.total });
    emit(`file:${f.file_id}`);
  },
  'node.peers': (f) => {
    state.peersFromSocket = true;
    state.peers = Number(f.connected) || 0;
    emit('peers');
  },
};

export function applyFrame(frame) {
  const fn = handlers[frame.type];
  if (fn) fn(frame);
}
