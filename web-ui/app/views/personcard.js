// A person's card: avatar, names, bio, online or last seen, safety number (fingerprint) to compare out
// of band, and "Message" to start or open the direct chat.

import { h } from '../dom.js';
import { state, displayName, isOnline, directRoomWith } from '../state.js';
import { openDialog } from './dialog.js';
import { avatar } from './avatar.js';
import { groupFingerprint, lastSeen, shortId } from '../format.js';
import { startDirect } from '../actions.js';
import { icon } from '../icons.js';

export function openPersonCard(userId, { onOpenRoom }) {
  const u = state.users.get(userId) || (state.me?.id === userId ? state.me : { id: userId });
  const me = state.me?.id === userId;
  const online = me || isOnline(userId);
  const note = h('p', { class: 'inline-note', 'aria-live': 'polite' });
  const msgBtn = h('button', { class: 'btn primary', type: 'button' }, icon('message', 'small'), 'Message');
  const body = h('div', { class: 'person' },
    avatar(userId, 'l'),
    h('div', { class: 'names' }, h('h3', null, displayName(userId)), u.username ? h('p', { class: 'muted' }, `@${u.username}`) : null),
    h('span', { class: 'status' }, h('span', { class: ['dot', online && 'online'] }), online ? 'Online' : lastSeen(u.last_seen)),
    u.bio ? h('p', { class: 'bio' }, u.bio) : null,
    h('div', { class: 'fingerprint' },
      h('strong', null, 'Safety number'),
      h('p', { class: 'muted' }, me ? 'Others can compare this with what their Chatly shows for you.'
        : `Compare it with what ${displayName(userId)} sees for their own account, in person or on a call.`),
      h('code', { 'aria-label': 'Safety number' }, u.fingerprint ? groupFingerprint(u.fingerprint) : 'Not known yet')),
    u.node_id ? h('p', { class: 'inline-note' }, 'Home node ', h('code', { title: u.node_id }, shortId(u.node_id))) : null,
    note);
  const footer = me ? null : [msgBtn];
  const d = openDialog({ title: me ? 'You' : 'Profile', body, footer, initialFocus: me ? null : msgBtn });
  if (state.features.direct === false) {
    msgBtn.disabled = true;
    note.textContent = 'Direct chats aren’t available on this node yet.';
  }
  msgBtn.addEventListener('click', async () => {
    const existing = directRoomWith(userId);
    if (existing) { d.close(); onOpenRoom(existing.id); return; }
    msgBtn.disabled = true;
    const res = await startDirect(userId);
    if (typeof res === 'string') { d.close(); onOpenRoom(res); return; }
    if (res && res.unavailable) note.textContent = 'Direct chats aren’t available on this node yet.';
    else msgBtn.disabled = false;
  });
}
