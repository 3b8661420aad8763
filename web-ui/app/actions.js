// What a person does, as functions: send (with sending/sent/failed state and retry), edit, delete, react,
// read receipts, typing notices, direct chats and group management. Missing endpoints degrade quietly.

import * as api from './api.js';
import { state, emit, setFeature } from './state.js';
import { timeline, refreshRooms, loadLatest } from './sync.js';
import { toast } from './toast.js';

let localSeq = 0;

function failureText(e) {
  if (!(e instanceof api.ApiError)) return 'Not sent';
  if (e.status === 0) return 'Not sent: the node can’t be reached';
  if (e.status === 413) return 'Not sent: the message is too long';
  if (e.status === 403) return 'Not sent: you are not a member of this room';
  if (e.status === 429) return `Not sent: too many messages; try again in ${e.retryAfter ?? 'a few'} s`;
  return `Not sent: ${e.message}`;
}

/** Sends a message with an optimistic pending copy; returns when the node answered. */
export async function send(roomId, text, { files = [], replyTo = null } = {}) {
  const t = timeline(roomId);
  // writing from an old part of the history: go back to the present first, like every chat app
  if (t.hasNewer) await loadLatest(roomId);
  localSeq += 1;
  const local = {
    id: `local:${localSeq}`, room_id: roomId, author: state.me.id, text, files: files.map((f) => ({ ...f })),
    reply_to: replyTo, sent_at: new Date().toISOString(), edited_at: null, deleted: false, reactions: {},
    _local: true, _state: 'sending',
  };
  t.upsert(local);
  await deliver(t, local);
}

async function deliver(t, local) {
  try {
    const real = await api.sendMessage(t.roomId, local.text, local.files.map((f) => f.id), local.reply_to);
    if (real && real.id) t.confirm(local.id, real);
    else t.remove(local.id);
    const room = state.rooms.get(t.roomId);
    if (room && real) { room.last_message = real; emit('rooms'); }
  } catch (e) {
    if (t.get(local.id)) t.upsert({ ...t.get(local.id), _state: 'failed', _error: failureText(e) });
  }
}

export function retry(roomId, localId) {
  const t = timeline(roomId);
  const m = t.get(localId);
  if (!m) return;
  t.remove(localId, { silent: true });
  const again = { ...m, sent_at: new Date().toISOString(), _state: 'sending', _error: null };
  t.upsert(again);
  deliver(t, again);
}

export function discard(roomId, localId) { timeline(roomId).remove(localId); }

function missing(feature, e, what) {
  if (api.isMissing(e)) {
    setFeature(feature, false);
    toast(`${what} isn’t available on this node yet`);
    return true;
  }
  return false;
}

export async function edit(roomId, id, text) {
  const t = timeline(roomId);
  const old = t.get(id);
  if (!old || old.text === text) return true;
  t.upsert({ ...old, text, edited_at: new Date().toISOString() });
  try {
    const res = await api.editMessage(roomId, id, text);
    if (res && res.id) t.upsert(res);
    return true;
  } catch (e) {
    t.upsert(old);
    if (!missing('edit', e, 'Editing')) toast(`Couldn’t edit: ${e.message}`);
    return false;
  }
}

export async function remove(roomId, id) {
  const t = timeline(roomId);
  const old = t.get(id);
  if (!old) return;
  try {
    await api.deleteMessage(roomId, id);
    if (t.get(id)) t.upsert({ ...t.get(id), deleted: true, text: '', files: [], reactions: {} });
  } catch (e) {
    if (!missing('delete', e, 'Deleting')) toast(`Couldn’t delete: ${e.message}`);
  }
}

export async function toggleReaction(roomId, id, emoji) {
  const t = timeline(roomId);
  const old = t.get(id);
  if (!old || !state.me) return;
  const me = state.me.id;
  const reactions = { ...(old.reactions || {}) };
  const list = new Set(reactions[emoji] || []);
  if (list.has(me)) list.delete(me); else list.add(me);
  if (list.size) reactions[emoji] = [...list]; else delete reactions[emoji];
  t.upsert({ ...old, reactions });
  try {
    const res = await api.react(roomId, id, emoji);
    if (res && res.id) t.upsert(res);
  } catch (e) {
    t.upsert(old);
    if (!missing('reactions', e, 'Reactions')) toast(`Couldn’t react: ${e.message}`);
  }
}

const lastReadSent = new Map();
/** Marks the newest loaded message of a room as read (local unread count at once, receipt to the node). */
export function markRead(roomId) {
  const room = state.rooms.get(roomId);
  if (room && room.unread) { room.unread = 0; emit('rooms'); }
  const last = timeline(roomId).lastServerMessage();
  if (!last || lastReadSent.get(roomId) === last.id || !state.features.read) return;
  lastReadSent.set(roomId, last.id);
  api.markRead(roomId, last.id).catch((e) => { if (api.isMissing(e)) setFeature('read', false); });
}

const lastTyping = new Map();
export function typing(roomId) {
  if (!state.features.typing) return;
  const now = Date.now();
  if (now - (lastTyping.get(roomId) || 0) < 3000) return;
  lastTyping.set(roomId, now);
  api.sendTyping(roomId).catch((e) => { if (api.isMissing(e)) setFeature('typing', false); });
}

/** Opens (or creates) the direct chat with a person; resolves the room id or null. */
export async function startDirect(userId) {
  try {
    const room = await api.openDirect(userId);
    if (room && room.id) {
      state.rooms.set(room.id, { ...state.rooms.get(room.id), ...room });
      emit('rooms');
      return room.id;
    }
  } catch (e) {
    if (api.isMissing(e) || e.status === 422 || e.status === 400) {
      setFeature('direct', false);
      return { unavailable: true };
    }
    toast(`Couldn’t open the chat: ${e.message}`);
  }
  return null;
}

async function roomCall(fn, what) {
  try {
    const room = await fn();
    if (room && room.id) {
      state.rooms.set(room.id, { ...state.rooms.get(room.id), ...room });
      emit('rooms');
    } else {
      await refreshRooms();
    }
    return room || true;
  } catch (e) {
    if (api.isMissing(e)) { setFeature('groups', false); throw new Error(`${what} isn’t available on this node yet`); }
    if (e.code === 'not_admin' || e.status === 403) throw new Error('Only the group’s admins can do that');
    throw new Error(e.message || `${what} failed`);
  }
}

export const createGroup = (name, members) => roomCall(() => api.createGroup(name, members), 'Creating groups');
export const updateRoom = (id, patch) => roomCall(() => api.updateRoom(id, patch), 'Editing groups');
export const addMember = (id, userId) => roomCall(() => api.addMember(id, userId), 'Adding members');
export const removeMember = (id, userId) => roomCall(() => api.removeMember(id, userId), 'Removing members');
export const promote = (id, userId) => roomCall(() => api.addAdmin(id, userId), 'Promoting admins');

export async function leave(roomId) {
  try {
    await api.removeMember(roomId, state.me.id);
  } catch (e) {
    if (api.isMissing(e)) throw new Error('Leaving groups isn’t available on this node yet');
    throw new Error(e.message || 'Couldn’t leave the group');
  }
  state.rooms.delete(roomId);
  state.timelines.delete(roomId);
  emit('rooms');
  emit('room.removed', roomId);
}
