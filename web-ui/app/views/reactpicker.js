// A small emoji picker popover for reactions: opens next to its button, arrow keys move, Esc or a click
// outside closes it and focus returns to the button.

import { h } from '../dom.js';

export const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀', '🔥', '✅'];

let current = null;

export function closePicker() {
  if (current) current();
}

export function openPicker(anchor, onPick) {
  closePicker();
  const buttons = QUICK_EMOJI.map((e) => h('button', { type: 'button', 'aria-label': `React with ${e}`,
    onClick: () => { done(); if (anchor.isConnected) anchor.focus(); onPick(e); } }, e));
  const pop = h('div', { class: 'popover', role: 'dialog', 'aria-label': 'Choose a reaction' },
    h('div', { class: 'emoji-picker' }, buttons));
  document.body.append(pop);
  const r = anchor.getBoundingClientRect();
  const pr = pop.getBoundingClientRect();
  pop.style.left = `${Math.max(8, Math.min(window.innerWidth - pr.width - 8, r.right - pr.width))}px`;
  pop.style.top = `${r.top - pr.height - 6 > 8 ? r.top - pr.height - 6 : r.bottom + 6}px`;
  buttons[0].focus();

  function onKey(e) {
    const i = buttons.indexOf(document.activeElement);
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); done(); anchor.focus(); }
    else if (e.key === 'ArrowRight' || e.key === 'ArrowDown') { e.preventDefault(); buttons[(i + 1) % buttons.length].focus(); }
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') { e.preventDefault(); buttons[(i - 1 + buttons.length) % buttons.length].focus(); }
    else if (e.key === 'Tab') { done(); }
  }
  function onDown(e) { if (!pop.contains(e.target)) done(); }
  function done() {
    pop.remove();
    document.removeEventListener('keydown', onKey, true);
    document.removeEventListener('pointerdown', onDown, true);
    current = null;
  }
  document.addEventListener('keydown', onKey, true);
  document.addEventListener('pointerdown', onDown, true);
  current = done;
}
