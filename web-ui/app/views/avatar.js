// A person's avatar (uploaded picture, else initials on a stable colour) with an optional presence dot.

import { h } from '../dom.js';
import { state, displayName, isOnline } from '../state.js';
import { colorSlot, initials } from '../format.js';
import { fileUrl } from '../api.js';

export function avatar(userId, size = '', { dot = false } = {}) {
  const u = state.users.get(userId) || (state.me && state.me.id === userId ? state.me : null);
  const name = displayName(userId);
  // small avatars have room for one letter only
  const letters = size === 's' || size === 'xs' ? initials(name).slice(0, 1) : initials(name);
  const el = h('span', { class: ['avatar', size, `c${colorSlot(userId)}`], 'aria-hidden': 'true' });
  if (u && u.avatar) {
    const img = h('img', { src: fileUrl(u.avatar), alt: '', loading: 'lazy', decoding: 'async' });
    img.addEventListener('error', () => { img.remove(); el.textContent = letters; });
    el.append(img);
  } else {
    el.textContent = letters;
  }
  if (!dot) return el;
  const online = isOnline(userId);
  return h('span', { class: 'avatar-wrap' }, el, h('span', { class: ['dot', online && 'online'], 'aria-hidden': 'true' }));
}
