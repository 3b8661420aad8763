// Modal dialogs on the native <dialog> element: focus is trapped and restored, Esc and a click on the
// backdrop close it, and a title labels it for screen readers.

import { h, uid } from '../dom.js';
import { icon } from '../icons.js';

/**
 * openDialog({title, body: Node|Node[], footer?: Node[], wide?, top?, onClose?, initialFocus?})
 * Returns {el, close(), body}.
 */
export function openDialog({ title, body, footer, wide = false, top = false, onClose, initialFocus, className = '' }) {
  const titleId = uid('dlg-title');
  const opener = document.activeElement;
  const closeBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close' }, icon('close'));
  const bodyEl = h('div', { class: 'dialog-body' }, body);
  const dlg = h('dialog', { class: ['modal', wide && 'wide', top && 'top', className], 'aria-labelledby': titleId },
    h('div', { class: 'dialog-inner' },
      h('div', { class: 'dialog-head' }, h('h2', { id: titleId }, title), closeBtn),
      bodyEl,
      footer ? h('div', { class: 'dialog-foot' }, footer) : null));
  let closed = false;
  const close = () => { if (!closed) dlg.close(); };
  closeBtn.addEventListener('click', close);
  dlg.addEventListener('click', (e) => { if (e.target === dlg) close(); });
  dlg.addEventListener('close', () => {
    closed = true;
    dlg.remove();
    if (onClose) onClose();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  });
  document.body.append(dlg);
  dlg.showModal();
  const target = typeof initialFocus === 'function' ? initialFocus() : initialFocus;
  if (target) target.focus();
  return { el: dlg, close, body: bodyEl };
}

/** A yes/no question; resolves true when confirmed. */
export function confirmDialog({ title, text, confirm = 'OK', danger = false }) {
  return new Promise((resolve) => {
    let result = false;
    const yes = h('button', { class: ['btn', danger ? 'danger' : 'primary'], type: 'button' }, confirm);
    const no = h('button', { class: 'btn', type: 'button' }, 'Cancel');
    const d = openDialog({ title, body: h('p', null, text), footer: [no, yes], initialFocus: no,
      onClose: () => resolve(result) });
    yes.addEventListener('click', () => { result = true; d.close(); });
    no.addEventListener('click', () => d.close());
  });
}
