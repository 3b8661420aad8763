// The keyboard shortcut help dialog (Ctrl/Cmd+/).

import { h } from '../dom.js';
import { SHORTCUTS } from '../keyboard.js';
import { openDialog } from './dialog.js';

export function openShortcutHelp() {
  const table = h('table', { class: 'shortcuts' },
    h('caption', { class: 'visually-hidden' }, 'Keyboard shortcuts'),
    h('tbody', null, SHORTCUTS.map(([keys, what]) => h('tr', null, h('td', null, what),
      h('td', null, keys.split(' + ').map((k, i) => [i ? ' + ' : '', h('kbd', null, k)]))))));
  openDialog({ title: 'Keyboard shortcuts', body: table });
}
