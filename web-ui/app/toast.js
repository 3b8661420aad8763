// Short, polite notices at the bottom of the screen (the #toasts region is aria-live="polite").

import { h } from './dom.js';

export function toast(text, ms = 4000) {
  const region = document.getElementById('toasts');
  if (!region) return;
  const el = h('div', { class: 'toast' }, text);
  region.append(el);
  setTimeout(() => el.remove(), ms);
}
