// Ctrl/Cmd+K quick switcher: filter rooms and people as you type, arrows to move, Enter to open; a
// person opens the direct chat when there is one, else their card. Offers message search when available.

import { h, replaceChildren, uid } from '../dom.js';
import { state, sortedRooms, roomName, displayName, directRoomWith, isOnline } from '../state.js';
import { openDialog } from './dialog.js';
import { avatar } from './avatar.js';
import { icon } from '../icons.js';
import { openRoom } from '../router.js';
import { openSearch } from './search.js';

function score(name, q) {
  const n = name.toLowerCase();
  if (!q) return 1;
  if (n.startsWith(q)) return 3;
  if (n.split(/\s+/).some((w) => w.startsWith(q))) return 2;
  return n.includes(q) ? 1 : 0;
}

export function openQuickSwitcher({ onPerson }) {
  const listId = uid('qs-list');
  const input = h('input', { type: 'text', class: 'qs-input', role: 'combobox', 'aria-expanded': 'true', 'aria-controls': listId,
    'aria-autocomplete': 'list', 'aria-label': 'Find a room or person', placeholder: 'Find a room or person…', autocomplete: 'off' });
  const list = h('ul', { class: 'qs-list', role: 'listbox', id: listId, 'aria-label': 'Results' });
  let items = [];
  let active = 0;

  const d = openDialog({ title: 'Go to', body: [input, list], top: true, initialFocus: input });

  function choose(item) {
    d.close();
    item.run();
  }

  function render() {
    const q = input.value.trim().toLowerCase();
    const rooms = sortedRooms().map((r) => ({ kind: r.kind === 'direct' ? 'Direct chat' : r.kind === 'public' ? 'Public room' : 'Group',
      name: roomName(r), lead: r.kind === 'direct' ? avatar(r.members?.find((m) => m !== state.me?.id), 's', { dot: true })
        : icon(r.kind === 'public' ? 'globe' : 'hash', 'small'),
      s: score(roomName(r), q), run: () => openRoom(r.id), unread: r.unread }));
    const people = [...state.users.values()].filter((u) => u.id !== state.me?.id)
      .map((u) => ({ kind: isOnline(u.id) ? 'Person · online' : 'Person', name: displayName(u.id),
        lead: avatar(u.id, 's', { dot: true }),
        s: Math.max(score(displayName(u.id), q), score(u.username || '', q)),
        run: () => { const r = directRoomWith(u.id); if (r) openRoom(r.id); else onPerson(u.id); } }));
    items = [...rooms, ...people].filter((x) => x.s > 0).sort((a, b) => b.s - a.s).slice(0, 30);
    if (q && state.features.search) {
      items.push({ kind: 'Search', name: `Search messages for “${input.value.trim()}”`, lead: icon('search', 'small'), s: 0,
        run: () => openSearch({ query: input.value.trim() }) });
    }
    active = Math.min(active, Math.max(0, items.length - 1));
    replaceChildren(list, items.length ? items.map((it, i) => {
      const li = h('li', { class: 'qs-item', role: 'option', id: `${listId}-${i}`, 'aria-selected': String(i === active) },
        it.lead, h('span', null, it.name), it.unread ? h('span', { class: 'badge' }, String(it.unread)) : null,
        h('span', { class: 'kind' }, it.kind));
      li.addEventListener('click', () => choose(it));
      li.addEventListener('mousemove', () => { if (active !== i) { active = i; mark(); } });
      return li;
    }) : h('li', { class: 'qs-empty' }, 'Nothing matches'));
    mark();
  }

  function mark() {
    [...list.children].forEach((li, i) => li.setAttribute('aria-selected', String(i === active)));
    const cur = list.children[active];
    if (cur && items.length) {
      input.setAttribute('aria-activedescendant', cur.id);
      cur.scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  }

  input.addEventListener('input', () => { active = 0; render(); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); active = Math.min(items.length - 1, active + 1); mark(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); active = Math.max(0, active - 1); mark(); }
    else if (e.key === 'Enter') { e.preventDefault(); if (items[active]) choose(items[active]); }
  });
  render();
}
