// Hash routes: #/room/<id> and #/node. The current route lives in state and is announced as 'route'.

import { state, emit } from './state.js';

export function parse(hash = location.hash) {
  const m = hash.match(/^#\/room\/(.+)$/);
  if (m) return { view: 'room', roomId: decodeURIComponent(m[1]) };
  if (hash === '#/node') return { view: 'node' };
  return { view: 'room', roomId: 'public' };
}

export function go(route) {
  const hash = route.view === 'node' ? '#/node' : `#/room/${encodeURIComponent(route.roomId)}`;
  if (location.hash === hash) apply();
  else location.hash = hash;
}

export const openRoom = (roomId) => go({ view: 'room', roomId });

export function apply() {
  const r = parse();
  if (!location.hash) history.replaceState(null, '', `#/room/${encodeURIComponent(r.roomId)}`);
  if (r.view === 'room' && !state.rooms.has(r.roomId) && state.rooms.size) {
    history.replaceState(null, '', '#/room/public');
    r.roomId = 'public';
  }
  state.view = r.view;
  if (r.view === 'room') state.currentRoomId = r.roomId;
  emit('route', r);
}

export function start() {
  window.addEventListener('hashchange', apply);
  apply();
}
