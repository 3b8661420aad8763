// Message search (GET /api/v1/search): across all rooms or the open one, results with the words
// highlighted; choosing one opens its room and scrolls to the message in context.

import { h, replaceChildren } from '../dom.js';
import { state, displayName, roomName } from '../state.js';
import { openDialog } from './dialog.js';
import * as api from '../api.js';
import { renderText } from '../richtext.js';
import { exactTime, relativeTime, parseTime } from '../format.js';
import { openRoom } from '../router.js';
import { jumpTo } from '../sync.js';

export function openSearch({ roomId = null, query = '' } = {}) {
  const input = h('input', { type: 'search', value: query, 'aria-label': 'Search messages', placeholder: 'Search messages…', class: 'qs-input' });
  const scope = h('select', { 'aria-label': 'Where to search' },
    h('option', { value: '' }, 'All rooms'),
    roomId ? h('option', { value: roomId, selected: true }, `In ${roomName(state.rooms.get(roomId))}`) : null);
  const status = h('p', { class: 'muted', role: 'status' });
  const results = h('ul', { class: 'search-results', 'aria-label': 'Search results' });
  const d = openDialog({ title: 'Search', body: [h('div', { class: 'add-peer-form' }, input, scope), status, results],
    top: true, wide: true, initialFocus: input });

  let seq = 0;
  let timer = null;
  async function run() {
    const q = input.value.trim();
    const my = ++seq;
    if (q.length < 2) { status.textContent = q ? 'Type at least 2 characters' : ''; replaceChildren(results); return; }
    status.textContent = 'Searching…';
    try {
      const res = await api.search(q, scope.value || undefined);
      if (my !== seq) return;
      const msgs = (res && res.messages) || [];
      status.textContent = msgs.length ? `${msgs.length} result${msgs.length === 1 ? '' : 's'}` : 'No messages match';
      const terms = q.split(/\s+/).filter((w) => w.length > 1);
      replaceChildren(results, msgs.map((m) => {
        const t = parseTime(m.sent_at);
        const text = h('span', { class: 'text' });
        renderText(text, m.text || '', { terms });
        for (const a of text.querySelectorAll('a')) a.replaceWith(...a.childNodes);
        const btn = h('button', { class: 'search-result', type: 'button' },
          h('span', { class: 'where' }, h('strong', null, displayName(m.author)), h('span', null, roomName(state.rooms.get(m.room_id)) || m.room_id),
            h('time', { datetime: new Date(t).toISOString(), title: exactTime(t) }, relativeTime(t))),
          text);
        btn.addEventListener('click', async () => {
          d.close();
          const done = jumpTo(m.room_id, m);
          openRoom(m.room_id);
          await done;
        });
        return h('li', null, btn);
      }));
    } catch (e) {
      if (my !== seq) return;
      status.textContent = api.isMissing(e) ? 'Search isn’t available on this node yet.' : `Search failed: ${e.message}`;
    }
  }
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(run, 250); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); clearTimeout(timer); run(); }
    if (e.key === 'ArrowDown') { e.preventDefault(); results.querySelector('button')?.focus(); }
  });
  results.addEventListener('keydown', (e) => {
    const btns = [...results.querySelectorAll('button')];
    const i = btns.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && i < btns.length - 1) { e.preventDefault(); btns[i + 1].focus(); }
    if (e.key === 'ArrowUp') { e.preventDefault(); (i > 0 ? btns[i - 1] : input).focus(); }
  });
  scope.addEventListener('change', run);
  if (query) run();
}
