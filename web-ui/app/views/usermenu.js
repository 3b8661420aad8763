// The user menu: my profile, colour scheme (system/light/dark), accent theme, notifications and sound,
// shortcuts, the node page, and log out.

import { h, replaceChildren } from '../dom.js';
import { icon } from '../icons.js';
import { state, displayName } from '../state.js';
import { openDialog } from './dialog.js';
import { avatar } from './avatar.js';
import * as theme from '../theme.js';
import * as notify from '../notify.js';
import { openProfile } from './profile.js';
import { openShortcutHelp } from './shortcuts.js';
import * as api from '../api.js';

function segmented(label, options, current, onPick) {
  const group = h('div', { class: 'segmented', role: 'group', 'aria-label': label });
  const render = (cur) => replaceChildren(group, options.map(([value, text]) =>
    h('button', { type: 'button', 'aria-pressed': String(value === cur), onClick: () => { onPick(value); render(value); } }, text)));
  render(current);
  return group;
}

function toggle(labelText, checked, onChange) {
  const input = h('input', { type: 'checkbox', checked, role: 'switch' });
  input.addEventListener('change', async () => { input.checked = await onChange(input.checked); });
  return h('label', { class: 'toggle-row check' }, h('span', null, labelText), input);
}

export function openUserMenu({ onNode }) {
  const me = state.me;
  let d;
  const item = (ic, text, fn, cls = '') => h('button', { class: ['menu-item', cls], type: 'button', onClick: () => { d.close(); fn(); } },
    icon(ic, 'small'), text);

  const swatches = h('div', { class: 'swatches', role: 'group', 'aria-label': 'Accent colour' });
  const renderSwatches = () => replaceChildren(swatches, theme.ACCENTS.map((a) => h('button', {
    class: ['swatch', a], type: 'button', 'aria-label': `${a[0].toUpperCase()}${a.slice(1)} accent`, 'aria-pressed': String(theme.accent() === a),
    onClick: () => { theme.setAccent(a); renderSwatches(); } })));
  renderSwatches();

  const body = h('div', null,
    h('div', { class: 'menu-section' },
      h('div', { class: 'toggle-row' }, h('span', { class: 'check' }, avatar(me.id), h('span', null,
        h('strong', null, displayName(me.id)), h('br'), h('span', { class: 'muted' }, `@${me.username}`)))),
      item('user', 'Edit profile…', () => openProfile()),
      item('server', 'This node…', onNode),
      item('keyboard', 'Keyboard shortcuts', () => openShortcutHelp())),
    h('div', { class: 'menu-section' },
      h('p', { class: 'menu-label', id: 'scheme-label' }, 'Appearance'),
      segmented('Colour scheme', [['system', 'System'], ['light', 'Light'], ['dark', 'Dark']], theme.scheme(), theme.setScheme),
      h('p', { class: 'menu-label' }, 'Accent'),
      swatches),
    h('div', { class: 'menu-section' },
      notify.notificationsSupported()
        ? toggle('Desktop notifications', notify.notificationsOn(), (on) => notify.setNotifications(on))
        : h('p', { class: 'toggle-row muted' }, 'This browser has no desktop notifications'),
      toggle('Sound when the tab is hidden', notify.soundOn(), (on) => { notify.setSound(on); return on; })),
    h('div', { class: 'menu-section' },
      item('logout', 'Log out', async () => {
        try { await api.logout(); } catch { /* the session may already be gone */ }
        location.hash = '';
        location.reload();
      }, 'danger')));
  d = openDialog({ title: 'Settings', body });
}
