// Groups: the "create group" dialog (name + members picked from the people list) and the room details
// dialog (members with roles; admins rename, describe, add, remove and promote; anyone can leave).

import { h, replaceChildren, uid } from '../dom.js';
import { state, on, displayName, isAdmin, roomName, isOnline } from '../state.js';
import { openDialog, confirmDialog } from './dialog.js';
import { avatar } from './avatar.js';
import * as actions from '../actions.js';
import { openRoom } from '../router.js';
import { icon } from '../icons.js';

function peoplePicker(exclude = new Set()) {
  const filter = h('input', { type: 'search', 'aria-label': 'Filter people', placeholder: 'Filter people…' });
  const list = h('ul', { class: 'member-pick', 'aria-label': 'People' });
  const chosen = new Set();
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const people = [...state.users.values()].filter((u) => u.id !== state.me?.id && !exclude.has(u.id))
      .filter((u) => !q || displayName(u.id).toLowerCase().includes(q) || (u.username || '').includes(q))
      .sort((a, b) => displayName(a.id).localeCompare(displayName(b.id)));
    replaceChildren(list, people.length ? people.map((u) => {
      const cb = h('input', { type: 'checkbox', checked: chosen.has(u.id), class: 'check' });
      cb.addEventListener('change', () => { if (cb.checked) chosen.add(u.id); else chosen.delete(u.id); });
      return h('li', null, h('label', null, cb, avatar(u.id, 's', { dot: true }), h('span', null, displayName(u.id),
        u.username ? h('span', { class: 'muted' }, ` @${u.username}`) : null)));
    }) : h('li', null, h('p', { class: 'member-row muted' }, 'Nobody to add')));
  };
  filter.addEventListener('input', render);
  render();
  return { el: h('div', { class: 'field' }, filter, list), chosen };
}

export function openCreateGroup() {
  const nameId = uid('group-name');
  const name = h('input', { type: 'text', id: nameId, maxlength: '64', required: true, autocomplete: 'off' });
  const err = h('div', { class: 'form-error', role: 'alert' });
  const picker = peoplePicker();
  const create = h('button', { class: 'btn primary', type: 'submit', form: 'create-group-form' }, 'Create group');
  const cancel = h('button', { class: 'btn', type: 'button' }, 'Cancel');
  const form = h('form', { id: 'create-group-form' }, err,
    h('div', { class: 'field' }, h('label', { for: nameId }, 'Group name'), name),
    h('fieldset', { class: 'plain' }, h('legend', { class: 'field-label' }, 'Members'), picker.el));
  const d = openDialog({ title: 'Create a group', body: form, footer: [cancel, create], initialFocus: name });
  cancel.addEventListener('click', () => d.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!name.value.trim()) { err.textContent = 'Give the group a name'; name.focus(); return; }
    create.disabled = true;
    try {
      const room = await actions.createGroup(name.value.trim(), [...picker.chosen]);
      d.close();
      if (room && room.id) openRoom(room.id);
    } catch (ex) {
      err.textContent = ex.message;
    } finally {
      create.disabled = false;
    }
  });
}

export function openRoomSettings(roomId, { onPerson }) {
  const body = h('div');
  const err = h('div', { class: 'form-error', role: 'alert' });
  let d = null;
  const run = async (fn) => {
    err.textContent = '';
    try { await fn(); } catch (ex) { err.textContent = ex.message; }
  };

  function render() {
    const room = state.rooms.get(roomId);
    if (!room) { d?.close(); return; }
    const admin = isAdmin(room);
    const parts = [err];
    if (room.kind === 'group' && admin) {
      const name = h('input', { type: 'text', id: 'rs-name', value: room.name || '', maxlength: '64' });
      const desc = h('textarea', { id: 'rs-desc', rows: '2', maxlength: '280' });
      desc.value = room.description || '';
      const save = h('button', { class: 'btn primary small', type: 'submit' }, 'Save');
      const form = h('form', null,
        h('div', { class: 'field' }, h('label', { for: 'rs-name' }, 'Name'), name),
        h('div', { class: 'field' }, h('label', { for: 'rs-desc' }, 'Description'), desc), save);
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        run(() => actions.updateRoom(roomId, { name: name.value.trim(), description: desc.value.trim() }));
      });
      parts.push(form);
    } else if (room.description) {
      parts.push(h('p', { class: 'bio' }, room.description));
    }
    if (room.encrypted) parts.push(h('p', { class: 'inline-note' }, icon('lock', 'tiny'), ' Messages here are end-to-end encrypted.'));
    const members = room.members || [];
    parts.push(h('h3', { class: 'menu-label' }, `Members (${members.length})`));
    parts.push(h('ul', { class: 'member-pick' }, members.map((id) => {
      const isA = (room.admins || []).includes(id);
      const me = id === state.me?.id;
      return h('li', null, h('div', { class: 'member-row' },
        avatar(id, 's', { dot: true }),
        h('button', { class: 'link-btn who', type: 'button', onClick: () => onPerson(id) }, displayName(id) + (me ? ' (you)' : '')),
        h('span', { class: 'role' }, isA ? 'Admin' : isOnline(id) ? 'Online' : ''),
        room.kind === 'group' && admin && !me && !isA ? h('button', { class: 'btn small', type: 'button',
          onClick: () => run(() => actions.promote(roomId, id)) }, 'Make admin') : null,
        room.kind === 'group' && admin && !me ? h('button', { class: 'btn small danger', type: 'button', 'aria-label': `Remove ${displayName(id)}`,
          onClick: () => run(() => actions.removeMember(roomId, id)) }, 'Remove') : null));
    })));
    if (room.kind === 'group' && admin) {
      const sel = h('select', { id: 'rs-add', 'aria-label': 'Person to add' },
        h('option', { value: '' }, 'Add someone…'),
        [...state.users.values()].filter((u) => !members.includes(u.id))
          .map((u) => h('option', { value: u.id }, displayName(u.id))));
      const add = h('button', { class: 'btn small', type: 'button', onClick: () => { if (sel.value) run(() => actions.addMember(roomId, sel.value)); } }, 'Add');
      parts.push(h('div', { class: 'add-peer-form', role: 'group', 'aria-label': 'Add a member' }, sel, add));
    }
    replaceChildren(body, parts);
  }

  render();
  const room = state.rooms.get(roomId);
  const leaveBtn = h('button', { class: 'btn danger', type: 'button' }, icon('leave', 'small'), room?.kind === 'direct' ? 'Close chat' : 'Leave group');
  d = openDialog({ title: roomName(room), body, footer: room?.kind === 'group' ? [leaveBtn] : null, wide: true,
    onClose: () => off() });
  const off = on('rooms', render);
  leaveBtn.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: `Leave ${roomName(room)}?`, text: 'You will stop receiving its messages. An admin can add you again.',
      confirm: 'Leave', danger: true });
    if (!ok) return;
    run(async () => { await actions.leave(roomId); d.close(); openRoom('public'); });
  });
}
