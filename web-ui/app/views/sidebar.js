// The sidebar: quick-switch button, the "no peers yet" notice with its add-peer form, rooms with unread
// counts, people with online dots and count, connection state, and my own button opening the user menu.

import { h, replaceChildren } from '../dom.js';
import { icon } from '../icons.js';
import { state, on, sortedRooms, roomName, directPeer, isOnline, displayName } from '../state.js';
import { lastSeen } from '../format.js';
import { avatar } from './avatar.js';
import { openRoom, go } from '../router.js';
import { addPeerForm } from './addpeer.js';

export function renderSidebar({ onQuickSwitch, onPerson, onUserMenu, onNewGroup, onNavigate }) {
  const roomsList = h('ul', { class: 'nav-list', 'aria-label': 'Rooms' });
  const peopleList = h('ul', { class: 'nav-list', 'aria-label': 'People' });
  const onlineCount = h('span', { class: 'online-count', id: 'online-count' });
  const peerNotice = h('div', { class: 'peer-notice', hidden: true, id: 'peer-notice' },
    h('p', null, h('strong', null, 'No other nodes found yet'), ': on the same network they appear by themselves; or add one by address.'),
    addPeerForm({ compact: true }));
  const newGroupBtn = h('button', { class: 'icon-btn small', type: 'button', 'aria-label': 'Create a group',
    title: 'Create a group', onClick: onNewGroup }, icon('plus', 'small'));
  const conn = h('button', { class: 'conn', type: 'button', id: 'conn-state', onClick: () => { go({ view: 'node' }); onNavigate(); } });
  const meBtn = h('button', { class: 'me-btn', type: 'button', 'aria-haspopup': 'dialog', id: 'user-menu-btn', onClick: onUserMenu });

  const el = h('nav', { class: 'sidebar', id: 'sidebar', 'aria-label': 'Rooms and people' },
    h('div', { class: 'sidebar-head' },
      h('span', { class: 'brand-name' }, h('img', { src: '/app/icon.svg', alt: '' }), 'Chatly')),
    h('button', { class: 'switcher-btn', type: 'button', onClick: onQuickSwitch, 'aria-keyshortcuts': 'Control+K Meta+K' },
      icon('search', 'small'), h('span', null, 'Find a room or person'), h('kbd', { 'aria-hidden': 'true' }, navigator.platform.startsWith('Mac') ? '⌘K' : 'Ctrl K')),
    h('div', { class: 'sidebar-scroll' },
      peerNotice,
      h('div', { class: 'section-head' }, h('h2', { id: 'rooms-head' }, 'Rooms'), newGroupBtn),
      roomsList,
      h('div', { class: 'section-head' }, h('h2', { id: 'people-head' }, 'People'), onlineCount),
      peopleList),
    h('div', { class: 'sidebar-foot' }, conn, meBtn));

  function renderRooms() {
    const items = sortedRooms().map((room) => {
      const current = state.view === 'room' && state.currentRoomId === room.id;
      const unread = room.unread || 0;
      let lead;
      if (room.kind === 'direct') lead = avatar(directPeer(room), 's', { dot: true });
      else lead = h('span', { class: 'room-icon' }, icon(room.kind === 'public' ? 'globe' : 'hash', 'small'));
      return h('li', null, h('button', {
        class: ['nav-item', unread && 'unread'], type: 'button', 'aria-current': current ? 'page' : null,
        dataset: { roomId: room.id },
        onClick: () => { openRoom(room.id); onNavigate(); },
      }, lead, h('span', { class: 'name' }, roomName(room)),
      room.encrypted ? h('span', { class: 'lock', title: 'End-to-end encrypted' }, icon('lock', 'tiny')) : null,
      room.encrypted ? h('span', { class: 'visually-hidden' }, ', encrypted') : null,
      unread ? h('span', { class: 'badge' }, unread > 99 ? '99+' : String(unread), h('span', { class: 'visually-hidden' }, ' unread')) : null));
    });
    replaceChildren(roomsList, items);
    const total = sortedRooms().reduce((n, r) => n + (r.unread || 0), 0);
    document.title = total ? `(${total}) Chatly` : 'Chatly';
  }

  function renderPeople() {
    const me = state.me?.id;
    const people = [...state.users.values()].filter((u) => u.id !== me)
      .sort((a, b) => Number(isOnline(b.id)) - Number(isOnline(a.id)) || displayName(a.id).localeCompare(displayName(b.id)));
    const online = new Set([...state.online].filter((id) => state.users.has(id) || id === me));
    if (me) online.add(me);
    onlineCount.textContent = `${online.size} online`;
    const items = people.map((u) => {
      const on = isOnline(u.id);
      return h('li', null, h('button', {
        class: 'nav-item people-item', type: 'button',
        dataset: { userId: u.id }, onClick: () => onPerson(u.id),
      }, avatar(u.id, 's', { dot: true }), h('span', { class: 'who' },
        h('span', null, displayName(u.id)),
        h('span', { class: 'sub' }, on ? 'Online' : lastSeen(u.last_seen)))));
    });
    if (!items.length) items.push(h('li', { class: 'people-item muted' }, h('span', { class: 'nav-item sub' }, 'Nobody else yet')));
    replaceChildren(peopleList, items);
  }

  function renderConn() {
    const reconnecting = state.conn !== 'open';
    conn.className = `conn ${reconnecting ? 'reconnecting' : ''}`;
    if (state.view === 'node') conn.setAttribute('aria-current', 'page'); else conn.removeAttribute('aria-current');
    let text;
    if (state.conn === 'reconnecting') text = 'Reconnecting…';
    else if (state.conn === 'connecting') text = 'Connecting…';
    else if (state.peers == null) text = 'Connected';
    else text = state.peers === 1 ? '1 peer connected' : `${state.peers} peers connected`;
    replaceChildren(conn, h('span', { class: ['dot', !reconnecting && state.peers > 0 && 'online'] }), h('span', null, text));
    conn.title = 'Open the node page';
    peerNotice.hidden = !(state.peers === 0);
  }

  function renderMe() {
    const me = state.me;
    if (!me) return;
    replaceChildren(meBtn, avatar(me.id, '', { dot: true }), h('span', { class: 'who' },
      h('span', null, displayName(me.id)), h('span', { class: 'sub' }, `@${me.username}`)));
    meBtn.title = 'Profile, theme, notifications and log out';
    meBtn.append(h('span', { class: 'visually-hidden' }, ': settings and log out'));
  }

  function renderFeatures() { newGroupBtn.hidden = state.features.groups !== true; }

  const offs = [
    on('rooms', renderRooms), on('route', () => { renderRooms(); renderConn(); }), on('users', () => { renderRooms(); renderPeople(); renderMe(); }),
    on('presence', () => { renderPeople(); renderRooms(); renderMe(); }), on('peers', renderConn), on('conn', renderConn),
    on('me', renderMe), on('features', renderFeatures),
  ];
  renderRooms(); renderPeople(); renderConn(); renderMe(); renderFeatures();
  const timer = setInterval(renderPeople, 60000);
  return { el, destroy() { offs.forEach((f) => f()); clearInterval(timer); } };
}
