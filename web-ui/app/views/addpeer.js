// The add-a-peer-by-address form (POST /api/v1/node/peers), used in the sidebar notice and the node page.

import { h, uid } from '../dom.js';
import * as api from '../api.js';
import { refreshNode } from '../sync.js';

export function addPeerForm({ compact = false } = {}) {
  const id = uid('peer-addr');
  const input = h('input', { type: 'text', id, name: 'addr', placeholder: '/ip4/192.168.1.20/tcp/4001/p2p/12D3…',
    autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', required: true });
  const btn = h('button', { class: ['btn', compact ? 'small' : '', 'primary'], type: 'submit' }, 'Add');
  const msg = h('p', { class: 'add-peer-msg', 'aria-live': 'polite' });
  const form = h('form', { class: 'add-peer-form-wrap' },
    h('label', { for: id, class: compact ? 'visually-hidden' : '' }, 'Peer address (multiaddr)'),
    h('div', { class: 'add-peer-form' }, input, btn), msg);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const addr = input.value.trim();
    msg.className = 'add-peer-msg';
    if (!addr.startsWith('/')) {
      msg.className = 'add-peer-msg error';
      msg.textContent = 'An address looks like /ip4/192.168.1.20/tcp/4001/p2p/12D3… (printed by the other node as "Listening on")';
      return;
    }
    btn.disabled = true;
    msg.textContent = 'Dialling…';
    try {
      await api.addPeer(addr);
      msg.className = 'add-peer-msg ok';
      msg.textContent = 'Dialling that node; it appears here once connected.';
      input.value = '';
      setTimeout(refreshNode, 1500);
    } catch (err) {
      msg.className = 'add-peer-msg error';
      msg.textContent = err.status === 400 ? `That address doesn’t work: ${err.message}` : `Couldn’t add the peer: ${err.message}`;
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}
