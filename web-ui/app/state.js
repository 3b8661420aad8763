// The UI's single store: who I am, people, presence, rooms, timelines, connection and feature flags,
// with a tiny publish/subscribe so views re-render only the part that changed. Data flows one way:
// API and WebSocket -> sync.js mutates state -> emit(topic) -> views read state.

import { shortId } from './format.js';

export const state = {
  me: null,
  users: new Map(), // id -> User
  online: new Set(), // user ids
  rooms: new Map(), // id -> Room
  currentRoomId: null,
  view: 'room', // 'room' | 'node'
  conn: 'connecting', // 'connecting' | 'open' | 'reconnecting'
  peers: null, // number of connected peer nodes, null while unknown
  timelines: new Map(), // room id -> Timeline
  typing: new Map(), // room id -> Map(user id -> expires at ms)
  receipts: new Map(), // room id -> Map(user id -> message id)
  fileProgress: new Map(), // file id -> {done, total}
  // null = unknown, true = works, false = missing on this node (feature hidden quietly)
  features: { search: null, files: null, typing: true, read: true, presence: true, direct: null, groups: null,
    reactions: null, edit: null, delete: null },
};

const listeners = new Map();

/** Subscribe to a topic; returns the unsubscribe function. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic)?.delete(fn);
}

export function emit(topic, data) {
  const set = listeners.get(topic);
  if (!set) return;
  for (const fn of [...set]) {
    try { fn(data); } catch (e) { console.error(`listener for ${topic} failed`, e); }
  }
}

export function setFeature(name, value) {
  if (state.features[name] === value) return;
  state.features[name] = value;
  emit('features', name);
}

export function user(id) { return state.users.get(id) || null; }

export function displayName(id) {
  const u = state.users.get(id);
  if (u) return u.display_name || u.username || `User ${shortId(id)}`;
  if (state.me && id === state.me.id) return state.me.display_name || state.me.username;
  return `User ${shortId(id)}`;
}

export function isOnline(id) {
  if (state.online.has(id)) return true;
  const u = state.users.get(id);
  return !!(u && u.online && !state.presenceLoaded);
}

export function upsertUser(u) {
  if (!u || !u.id) return;
  const prev = state.users.get(u.id);
  state.users.set(u.id, { ...prev, ...u });
  if (u.online === true) state.online.add(u.id);
  else if (u.online === false) state.online.delete(u.id);
  if (state.me && u.id === state.me.id) state.me = { ...state.me, ...u };
}

/** The other person in a direct room. */
export function directPeer(room) {
  if (!room || room.kind !== 'direct' || !state.me) return null;
  return (room.members || []).find((m) => m !== state.me.id) || null;
}

export function roomName(room) {
  if (!room) return '';
  if (room.kind === 'public') return room.name || 'Public';
  if (room.kind === 'direct') {
    const peer = directPeer(room);
    return peer ? displayName(peer) : room.name || 'Direct chat';
  }
  return room.name || 'Unnamed group';
}

function lastActivity(room) {
  const m = room.last_message;
  return m && m.sent_at ? Date.parse(m.sent_at) || 0 : 0;
}

/** Public room first, then groups, then direct chats; each by latest activity. */
export function sortedRooms() {
  const order = { public: 0, group: 1, direct: 2 };
  return [...state.rooms.values()].sort((a, b) =>
    (order[a.kind] ?? 1) - (order[b.kind] ?? 1) || lastActivity(b) - lastActivity(a) ||
    roomName(a).localeCompare(roomName(b)));
}

export function isAdmin(room, id = state.me?.id) {
  return !!room && (room.admins || []).includes(id);
}

export function directRoomWith(userId) {
  for (const r of state.rooms.values()) if (r.kind === 'direct' && directPeer(r) === userId) return r;
  return null;
}

export function totalUnread() {
  let n = 0;
  for (const r of state.rooms.values()) n += r.unread || 0;
  return n;
}
