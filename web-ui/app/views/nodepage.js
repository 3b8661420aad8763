// The node page: this node's peer id, version, addresses, the connected peers and how each was found,
// and a form to add a peer by address. Refreshes itself while open.

import { h, replaceChildren } from '../dom.js';
import { icon } from '../icons.js';
import { state, on } from '../state.js';
import { refreshNode } from '../sync.js';
import { addPeerForm } from './addpeer.js';
import { toast } from '../toast.js';

const SOURCES = {
  mdns: 'Found on the local network (LAN)',
  static: 'Given at start (--peer)',
  dialed: 'Added by address',
  inbound: 'Connected to us',
  mesh: 'Through the mesh',
  gossip: 'Through the mesh',
  kademlia: 'Another node knew it (peer routing)',
  record: 'Home node of someone you contacted',
  identify: 'Through the mesh',
};

const PATHS = {
  lan: ['Local network', 'On this network: found by LAN discovery or at a local address'],
  direct: ['Direct', 'A direct connection across networks (including one opened through a NAT)'],
  relayed: ['Through a relay', 'Relayed by another node, which forwards encrypted traffic it cannot read'],
};

const REACHABILITY = {
  public: 'Reachable from other networks',
  private: 'Behind a NAT or firewall: others reach it through a relay',
  unknown: 'Not known yet',
};

export function sourceLabel(s) { return SOURCES[s] || (s ? s : 'Unknown'); }
export function pathLabel(p) { return (PATHS[p] || [p || '—'])[0]; }

function copyBtn(text, what) {
  return h('button', { class: 'icon-btn small', type: 'button', 'aria-label': `Copy ${what}`, title: `Copy ${what}`,
    onClick: async () => {
      try { await navigator.clipboard.writeText(text); toast(`Copied ${what}`); } catch { toast('Copying isn’t allowed here; select the text instead'); }
    } }, icon('copy', 'small'));
}

export class NodePage {
  constructor({ onMenu }) {
    this.info = h('div', { 'aria-live': 'off' });
    this.form = addPeerForm();
    this.body = h('div', { class: 'page', id: 'node-page' }, this.info, h('h2', null, 'Add a peer by address'), this.form);
    this.el = h('main', { class: 'main', 'aria-labelledby': 'node-title' },
      h('header', { class: 'room-head' },
        h('button', { class: 'icon-btn menu-btn', type: 'button', 'aria-label': 'Open rooms and people', 'aria-controls': 'sidebar',
          id: 'menu-btn', onClick: onMenu }, icon('menu')),
        h('div', { class: 'title' }, h('h1', { id: 'node-title' }, icon('server', 'small'), 'This node'),
          h('p', { class: 'desc' }, 'How this node is reachable and who it is connected to'))),
      this.body);
    this.offs = [on('node', () => this.render()), on('peers', () => refreshNode())];
    this.timer = setInterval(refreshNode, 5000);
    this.render();
    refreshNode();
  }

  destroy() { this.offs.forEach((f) => f()); clearInterval(this.timer); }

  render() {
    const n = state.node;
    if (!n) { replaceChildren(this.info, h('p', { class: 'muted' }, 'Loading…')); return; }
    const peers = Array.isArray(n.peers) ? n.peers : [];
    replaceChildren(this.info,
      h('dl', { class: 'kv' },
        h('dt', null, 'Peer id'), h('dd', null, h('code', null, n.peer_id || '—'), n.peer_id ? copyBtn(n.peer_id, 'peer id') : null),
        h('dt', null, 'Version'), h('dd', null, n.version || '—'),
        h('dt', null, 'Web UI'), h('dd', null, h('code', null, n.http_addr || location.host)),
        h('dt', null, 'Reachability'), h('dd', null, REACHABILITY[n.reachability] || '—'),
        n.relay_server ? [h('dt', null, 'Relay'), h('dd', null, 'Offers relaying to other nodes')] : null),
      h('h2', null, 'Listening on'),
      h('p', { class: 'muted' }, 'Give one of these to someone whose node should connect to yours.'),
      h('ul', { class: 'addr-list' }, (n.listen_addrs || []).map((a) => {
        const full = n.peer_id && !a.includes('/p2p/') ? `${a}/p2p/${n.peer_id}` : a;
        return h('li', null, h('code', null, full), copyBtn(full, 'address'));
      })),
      (n.external_addrs || []).length ? [
        h('h2', null, 'Reachable from other networks at'),
        h('p', { class: 'muted' }, 'Addresses through a relay or a public address; nodes elsewhere can use these.'),
        h('ul', { class: 'addr-list' }, n.external_addrs.map((a) => {
          const full = n.peer_id && !a.endsWith(`/p2p/${n.peer_id}`) ? `${a}/p2p/${n.peer_id}` : a;
          return h('li', null, h('code', null, full), copyBtn(full, 'address'));
        }))] : null,
      h('h2', null, `Connected peers (${peers.length})`),
      peers.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'peers-table' },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Peer id'), h('th', { scope: 'col' }, 'How found'),
          h('th', { scope: 'col' }, 'Path'), h('th', { scope: 'col' }, 'Round trip'), h('th', { scope: 'col' }, 'Addresses'))),
        h('tbody', null, peers.map((p) => h('tr', null,
          h('td', null, h('code', null, p.peer_id)),
          h('td', null, h('span', { class: 'source-tag', title: p.source || '' }, sourceLabel(p.source))),
          h('td', null, h('span', { class: `path-tag path-${p.path || 'unknown'}`, title: (PATHS[p.path] || [])[1] || '' }, pathLabel(p.path))),
          h('td', null, Number.isFinite(p.rtt_ms) ? `${Math.round(p.rtt_ms)} ms` : '—'),
          h('td', null, (p.addrs || []).map((a) => h('div', null, h('code', null, a)))))))))
        : h('p', { class: 'muted' }, 'No other nodes found yet: on the same network they appear by themselves; or add one by address.'));
  }
}
