// Entry point: applies the theme, asks the node who is logged in (GET /api/v1/me), then shows either the
// welcome screen or the app (store bootstrap, live events with reconnect and catch-up, routes).

import * as api from './api.js';
import { state, emit } from './state.js';
import { renderWelcome } from './views/welcome.js';
import { renderShell } from './views/shell.js';
import { EventSocket } from './events.js';
import { bootstrap, applyFrame, catchUp, refreshNode } from './sync.js';
import * as router from './router.js';
import { onNotificationClick } from './notify.js';

const root = document.getElementById('app');
const SESSION_ENDED = 'chatly.sessionEnded';

function showWelcome(notice) {
  document.title = 'Chatly';
  renderWelcome(root, { onLoggedIn: (user) => startApp(user), notice });
  root.removeAttribute('aria-busy');
}

async function startApp(me) {
  state.me = me;
  window.__chatly = { state }; // a handle for tests and curious people in the console
  root.setAttribute('aria-busy', 'true');
  api.onUnauthorized(() => {
    try { sessionStorage.setItem(SESSION_ENDED, '1'); } catch { /* ignore */ }
    location.reload();
  });
  await bootstrap();
  renderShell(root);
  emit('me');
  router.start();
  onNotificationClick((roomId) => router.openRoom(roomId));
  const socket = new EventSocket({
    onFrame: applyFrame,
    onState: (s) => { state.conn = s; emit('conn'); },
    onReconnected: () => catchUp(),
    onGiveUpCheck: async () => {
      try { await api.getMe(); return true; } catch (e) {
        if (e.status === 401) { location.reload(); return false; }
        return true;
      }
    },
  });
  window.__chatly.socket = socket;
  socket.start();
  // nodes that do not push node.peers frames: poll the peer count instead
  setInterval(() => { if (!state.peersFromSocket && !document.hidden) refreshNode(); }, 15000);
}

async function boot() {
  let ended = false;
  try { ended = sessionStorage.getItem(SESSION_ENDED) === '1'; sessionStorage.removeItem(SESSION_ENDED); } catch { /* ignore */ }
  try {
    const me = await api.getMe();
    await startApp(me);
  } catch (e) {
    if (e instanceof api.ApiError && e.status === 401) showWelcome(ended ? 'Your session ended. Please log in again.' : null);
    else showWelcome(e instanceof api.ApiError && e.status === 0 ? 'The node isn’t answering. Is it running?' : null);
  }
}

boot();
