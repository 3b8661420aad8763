// One room's loaded history: messages ordered oldest first (by sent time, then id), deduplicated by
// id, with local pending messages, and whether older or newer pages remain on the node. A timeline is
// "live" when it reaches the newest message (hasNewer false); after a jump to an old message it is a
// detached window until paging reaches the end again.

import { parseTime } from './format.js';
import { emit } from './state.js';

let seq = 0;

export class Timeline {
  constructor(roomId) {
    this.roomId = roomId;
    this.messages = [];
    this.byId = new Map();
    this.hasOlder = true;
    this.hasNewer = false;
    this.loaded = false;
    this.loadingOlder = null;
    this.loadingNewer = null;
    this.readMarkerId = null;
  }

  get length() { return this.messages.length; }

  indexOf(id) {
    const m = this.byId.get(id);
    if (!m) return -1;
    // messages are sorted: binary search by their order, then scan if it was not found
    let lo = 0;
    let hi = this.messages.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = cmp(this.messages[mid], m);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return this.messages.indexOf(m);
  }

  get(id) { return this.byId.get(id) || null; }

  /** Inserts or replaces one message; returns true when something changed. */
  upsert(raw, { silent = false } = {}) {
    if (!raw || !raw.id) return false;
    const old = this.byId.get(raw.id);
    const t = parseTime(raw.sent_at);
    if (old) {
      const msg = { ...old, ...raw, _t: old._t === t ? old._t : t, _seq: old._seq };
      const i = this.indexOf(old.id);
      if (msg._t === old._t) {
        this.messages[i] = msg;
        this.byId.set(msg.id, msg);
        if (!silent) emit(`timeline:${this.roomId}`, { type: 'update', id: msg.id });
        return true;
      }
      this.messages.splice(i, 1);
      this.byId.delete(old.id);
      this.insert(msg);
      if (!silent) emit(`timeline:${this.roomId}`, { type: 'reset' });
      return true;
    }
    seq += 1;
    const msg = { ...raw, _t: t, _seq: raw._seq ?? seq };
    const i = this.insert(msg);
    if (!silent) {
      emit(`timeline:${this.roomId}`, i === this.messages.length - 1
        ? { type: 'append', id: msg.id } : { type: 'reset' });
    }
    return true;
  }

  insert(msg) {
    let lo = 0;
    let hi = this.messages.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp(this.messages[mid], msg) <= 0) lo = mid + 1; else hi = mid;
    }
    // pending local messages stay at the bottom until the node confirms them
    while (!msg._local && lo > 0 && this.messages[lo - 1]._local) lo -= 1;
    this.messages.splice(lo, 0, msg);
    this.byId.set(msg.id, msg);
    return lo;
  }

  /** Merges a page of messages (oldest first) and emits one reset. */
  merge(list) {
    let changed = false;
    for (const m of list || []) changed = this.upsert(m, { silent: true }) || changed;
    if (changed) emit(`timeline:${this.roomId}`, { type: 'reset' });
    return changed;
  }

  remove(id, { silent = false } = {}) {
    const i = this.indexOf(id);
    if (i < 0) return false;
    this.messages.splice(i, 1);
    this.byId.delete(id);
    if (!silent) emit(`timeline:${this.roomId}`, { type: 'reset' });
    return true;
  }

  /** Replaces a pending local message by the node's copy (which may already be here via the socket). */
  confirm(localId, real) {
    this.remove(localId, { silent: true });
    this.upsert(real, { silent: true });
    emit(`timeline:${this.roomId}`, { type: 'reset' });
  }

  clear() {
    this.messages = [];
    this.byId.clear();
    this.hasOlder = true;
    this.hasNewer = false;
    this.loaded = false;
  }

  firstServerId() {
    for (const m of this.messages) if (!m._local) return m.id;
    return null;
  }

  lastServerId() {
    for (let i = this.messages.length - 1; i >= 0; i -= 1) if (!this.messages[i]._local) return this.messages[i].id;
    return null;
  }

  lastServerMessage() {
    const id = this.lastServerId();
    return id ? this.byId.get(id) : null;
  }
}

// The node's own order, sent time then id: history pages are cut on it, so an older page merged later
// lands wholly above what is loaded, even when messages share a millisecond. Pending local messages
// come after them, in the order they were sent.
function cmp(a, b) {
  if (a._local !== b._local) return a._local ? 1 : -1;
  if (a._local) return a._t - b._t || a._seq - b._seq;
  return a._t - b._t || (a.id < b.id ? -1 : Number(a.id > b.id));
}
