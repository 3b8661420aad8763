// Global keyboard shortcuts: Ctrl/Cmd+K quick switcher, Ctrl/Cmd+/ shortcut help, Alt+Up/Down to move
// between rooms, Esc to cancel a reply or close the drawer, and typing anywhere focuses the composer.

import { isTyping } from './dom.js';

export const SHORTCUTS = [
  ['Ctrl/⌘ + K', 'Find a room or person (quick switcher)'],
  ['Ctrl/⌘ + /', 'Show keyboard shortcuts'],
  ['Ctrl/⌘ + Shift + F', 'Search messages'],
  ['Alt + ↑ / ↓', 'Previous / next room'],
  ['Enter', 'Send the message'],
  ['Shift + Enter', 'New line'],
  ['↑ in an empty composer', 'Edit your last message'],
  ['Esc', 'Close a dialog, cancel a reply or edit'],
  ['↑ / ↓ on a message', 'Move between messages'],
  ['Tab', 'Move to the next control'],
];

export function installShortcuts(h) {
  document.addEventListener('keydown', (e) => {
    const mod = e.ctrlKey || e.metaKey;
    const inDialog = !!document.querySelector('dialog[open]');
    if (mod && !e.shiftKey && (e.key === 'k' || e.key === 'K')) {
      e.preventDefault();
      if (!inDialog) h.quickSwitch();
    } else if (mod && (e.key === '/' || e.code === 'Slash')) {
      e.preventDefault();
      if (!inDialog) h.help();
    } else if (mod && e.shiftKey && (e.key === 'F' || e.key === 'f')) {
      e.preventDefault();
      if (!inDialog) h.search();
    } else if (e.altKey && !mod && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      if (inDialog) return;
      e.preventDefault();
      h.moveRoom(e.key === 'ArrowUp' ? -1 : 1);
    } else if (e.key === 'Escape' && !inDialog) {
      if (h.escape()) e.preventDefault();
    } else if (!inDialog && !mod && !e.altKey && e.key.length === 1 && !isTyping(e.target) &&
      !(e.target.closest && e.target.closest('button, a, [role="toolbar"], .popover'))) {
      // typing while nothing editable has focus goes to the composer
      h.typeToComposer();
    }
  });
}
