// The windowed message list (role="log"). Only a window of rows around what is on screen lives in the
// DOM (at most MAX_ROWS); scrolling near an edge slides the window, loading older or newer pages from
// the node when the window reaches the end of what is loaded. Every re-render keeps the row under the
// top of the viewport in place (scroll anchor), or stays pinned to the bottom when the reader was there.

import { h, replaceChildren } from '../dom.js';
import { icon } from '../icons.js';
import { state, on, emit, roomName } from '../state.js';
import { dayKey, dayLabel } from '../format.js';
import { timeline, loadOlder, loadNewer, loadLatest } from '../sync.js';
import { renderRow, refreshTimes } from './message.js';
import { isMention, myMentionNames } from '../notify.js';

const INITIAL_ROWS = 60;
const MAX_ROWS = 160;
const CHUNK = 40;
const GROUP_MS = 5 * 60 * 1000;
const BOTTOM_SLACK = 48;

export class MessageList {
  constructor(roomId, handlers) {
    this.roomId = roomId;
    this.t = timeline(roomId);
    this.on = handlers;
    this.start = 0;
    this.end = 0;
    this.cache = new Map(); // id -> {msg, sig, el}
    this.activeId = null;
    this.activeEl = null;
    this.stuck = true;
    this.newCount = 0;
    this.pending = false;

    const room = state.rooms.get(roomId);
    this.top = h('div', { class: 'timeline-top' });
    this.items = h('div', { class: 'timeline-items' });
    this.el = h('div', { class: 'timeline', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
      'aria-label': `Messages in ${roomName(room)}`, id: 'timeline' }, this.top, this.items);
    this.jumpBtn = h('button', { class: 'btn jump-latest', type: 'button', hidden: true, id: 'jump-latest' },
      icon('down', 'small'), h('span', null, 'Jump to latest'));
    this.jumpBtn.addEventListener('click', () => this.jumpToLatest());

    this.el.addEventListener('scroll', () => {
      // whether to follow new content is decided by where the reader is now, before any slide or resize
      this.stuck = this.atEnd() && this.distanceFromBottom() < BOTTOM_SLACK;
      this.scheduleCheck();
    }, { passive: true });
    this.items.addEventListener('keydown', (e) => this.onKey(e));
    this.items.addEventListener('focusin', (e) => {
      const art = e.target.closest('article.msg');
      if (art) this.setActive(art);
    });
    this.resizer = new ResizeObserver(() => { if (this.stuck && this.atEnd()) this.scrollToBottom(); });
    this.resizer.observe(this.items);
    this.offs = [
      on(`timeline:${roomId}`, (ev) => this.onTimeline(ev)),
      on(`receipts:${roomId}`, () => this.render()),
      on('users', () => { this.cache.clear(); this.render(); }),
      on('features', () => { this.cache.clear(); this.render(); }),
      // a search result: the view that is loading must not then scroll to the latest
      on(`jump:${roomId}`, (id) => { state.pendingJump = null; this.jumped = true; this.scrollToMessage(id); }),
    ];
    this.timer = setInterval(() => refreshTimes(this.items), 30000);
  }

  destroy() {
    this.offs.forEach((f) => f());
    clearInterval(this.timer);
    this.resizer.disconnect();
  }

  atEnd() { return this.end >= this.t.length && !this.t.hasNewer; }

  distanceFromBottom() { return this.el.scrollHeight - this.el.scrollTop - this.el.clientHeight; }

  scrollToBottom() { this.el.scrollTop = this.el.scrollHeight; }

  onTimeline(ev) {
    if (ev && ev.type === 'append' && !this.stuck) {
      const m = this.t.messages[this.t.length - 1];
      if (m && m.author !== state.me?.id) this.newCount += 1;
    }
    if (ev && ev.type === 'append' && this.t.messages[this.t.length - 1]?.author === state.me?.id) {
      // my own new message: always show it
      this.showLatest();
      return;
    }
    this.render();
  }

  /** First render, and "jump to latest". */
  showLatest() {
    const n = this.t.length;
    this.start = Math.max(0, n - INITIAL_ROWS);
    this.end = n;
    this.stuck = true;
    this.newCount = 0;
    this.render({ toBottom: true });
  }

  async jumpToLatest() {
    if (this.t.hasNewer) await loadLatest(this.roomId);
    this.showLatest();
    this.activeId = null;
    this.on.afterJumpLatest?.();
  }

  scrollToMessage(id) {
    const i = this.t.indexOf(id);
    if (i < 0) return;
    this.start = Math.max(0, i - CHUNK);
    this.end = Math.min(this.t.length, i + CHUNK);
    this.stuck = false;
    this.render({ noAnchor: true });
    const row = this.items.querySelector(`.row[data-id="${CSS.escape(id)}"]`);
    if (!row) return;
    row.scrollIntoView({ block: 'center' });
    const art = row.querySelector('article');
    art.classList.remove('flash');
    void art.offsetWidth; // restart the animation
    art.classList.add('flash');
    art.focus({ preventScroll: true });
    this.scheduleCheck();
  }

  /** Puts the "New" marker near the top of the view when it is above what is visible. */
  scrollToMarker() {
    const marker = this.items.querySelector('#read-marker');
    if (!marker) return;
    const top = this.el.getBoundingClientRect().top;
    const y = marker.getBoundingClientRect().top - top;
    if (y < 0) {
      this.el.scrollTop += y - 24;
      this.stuck = false;
      this.scheduleCheck();
    }
  }

  /** Recomputes the window after the timeline changed, keeping the same first/last rows when possible. */
  reconcileWindow() {
    const n = this.t.length;
    const ids = [...this.items.children].map((r) => r.dataset.id);
    const wasAtEnd = this.end >= this.prevLength;
    let s = ids.length ? this.t.indexOf(ids[0]) : -1;
    let e = ids.length ? this.t.indexOf(ids[ids.length - 1]) + 1 : 0;
    if (s < 0 || e <= 0) {
      s = Math.max(0, Math.min(this.start, n - INITIAL_ROWS));
      e = Math.min(n, s + Math.max(INITIAL_ROWS, this.end - this.start));
    }
    // older messages arrived while the window began at the oldest loaded one: show some at once, in the
    // same render that removes the spinner, so the anchor can be kept even at scrollTop 0
    if (s > 0 && this.start === 0 && ids.length) s = Math.max(0, s - CHUNK);
    if (wasAtEnd || !ids.length) e = n;
    if (!ids.length) s = Math.max(0, n - INITIAL_ROWS);
    if (e - s > MAX_ROWS) {
      if (this.stuck) s = e - MAX_ROWS; else e = s + MAX_ROWS;
    }
    this.start = s;
    this.end = e;
  }

  context(i, readerIndex) {
    const msgs = this.t.messages;
    const msg = msgs[i];
    const prev = i > 0 ? msgs[i - 1] : null;
    const newDay = !prev || dayKey(prev._t) !== dayKey(msg._t);
    const marker = this.t.readMarkerId === msg.id;
    const grouped = !!prev && !newDay && !marker && prev.author === msg.author && msg._t - prev._t < GROUP_MS &&
      !prev.deleted && !msg.reply_to;
    const own = msg.author === state.me?.id;
    return {
      grouped,
      day: newDay && (prev || !this.t.hasOlder) ? dayLabel(msg._t) : null,
      marker,
      own,
      seen: own && !msg._local && readerIndex.max >= i,
      readers: readerIndex.at.get(msg.id) || null,
      mention: !own && isMention(msg),
      mentionNames: this.mentionNames,
      terms: null,
      lookup: (id) => this.t.get(id),
      on: this.on,
    };
  }

  /** Where other people have read up to: {max: furthest index, at: Map(message id -> [user ids])}. */
  readerIndex() {
    const at = new Map();
    let max = -1;
    const receipts = state.receipts.get(this.roomId);
    if (receipts) {
      for (const [userId, mid] of receipts) {
        if (userId === state.me?.id) continue;
        const i = this.t.indexOf(mid);
        if (i < 0) continue;
        max = Math.max(max, i);
        if (!at.has(mid)) at.set(mid, []);
        at.get(mid).push(userId);
      }
    }
    return { max, at };
  }

  render({ toBottom = false, noAnchor = false } = {}) {
    if (!toBottom && !noAnchor) this.reconcileWindow();
    this.prevLength = this.t.length;
    const stick = toBottom || (this.stuck && this.atEnd() && this.distanceFromBottom() < BOTTOM_SLACK + 400);
    const anchor = stick || noAnchor ? null : this.findAnchor();
    const focused = this.items.contains(document.activeElement) ? document.activeElement : null;
    const focusedRow = focused?.closest('article.msg')?.dataset.id;
    this.mentionNames = myMentionNames();
    const readers = this.readerIndex();
    const rows = [];
    const seenIds = new Set();
    for (let i = this.start; i < this.end; i += 1) {
      const msg = this.t.messages[i];
      const ctx = this.context(i, readers);
      const sig = [ctx.grouped, ctx.day, ctx.marker, ctx.seen, ctx.readers?.join(','), ctx.mention,
        msg.reply_to ? this.t.get(msg.reply_to)?.text : ''].join('|');
      let c = this.cache.get(msg.id);
      if (!c || c.msg !== msg || c.sig !== sig) {
        c = { msg, sig, el: renderRow(msg, ctx) };
        for (const a of c.el.querySelectorAll('a[data-roving]')) a.tabIndex = -1;
        this.cache.set(msg.id, c);
        if (this.activeId === msg.id) this.activeEl = null;
      }
      seenIds.add(msg.id);
      rows.push(c.el);
    }
    for (const id of this.cache.keys()) if (!seenIds.has(id)) this.cache.delete(id);
    const sliding = !stick;
    if (sliding) this.el.setAttribute('aria-busy', 'true');
    reconcile(this.items, rows);
    if (sliding) requestAnimationFrame(() => this.el.removeAttribute('aria-busy'));
    refreshTimes(this.items); // rows kept in the cache may carry an old "n min ago"
    this.renderTop();
    if (focused && focused.isConnected) focused.focus({ preventScroll: true });
    else if (focusedRow) {
      // the focused message was re-rendered (edited, reacted to): keep focus on it
      this.items.querySelector(`article.msg[data-id="${CSS.escape(focusedRow)}"]`)?.focus({ preventScroll: true });
    }
    this.ensureActive();
    if (stick) { this.scrollToBottom(); this.stuck = true; }
    else if (anchor) this.restoreAnchor(anchor);
    this.updateJump();
    this.scheduleCheck();
  }

  renderTop() {
    const room = state.rooms.get(this.roomId);
    const key = this.start > 0 ? 'none' : this.t.hasOlder || !this.t.loaded ? 'spin' : `start:${roomName(room)}`;
    if (key === this.topKey) return;
    this.topKey = key;
    if (this.start > 0) replaceChildren(this.top);
    else if (this.t.hasOlder || !this.t.loaded) {
      replaceChildren(this.top, h('span', { class: 'spinner', role: 'img', 'aria-label': 'Loading older messages' }));
    } else {
      replaceChildren(this.top, h('div', { class: 'room-start' }, h('h2', null, roomName(room)),
        h('p', null, room?.kind === 'public' ? 'This is the beginning of the public room: everyone on every connected node can read it.'
          : 'This is the beginning of the conversation.')));
    }
  }

  findAnchor() {
    const top = this.el.getBoundingClientRect().top;
    // anchor on the bottom edge of the message itself: when older history arrives, what sits above that
    // edge may change (a day separator, the author line once it joins a group) but never what is below
    for (const row of this.items.children) {
      const r = row.lastElementChild.getBoundingClientRect();
      if (r.bottom > top + 1) return { id: row.dataset.id, offset: r.bottom - top };
    }
    return null;
  }

  restoreAnchor(anchor) {
    const row = this.items.querySelector(`.row[data-id="${CSS.escape(anchor.id)}"]`);
    if (!row) return;
    const top = this.el.getBoundingClientRect().top;
    const delta = row.lastElementChild.getBoundingClientRect().bottom - top - anchor.offset;
    if (Math.abs(delta) > 0.5) this.el.scrollTop += delta;
  }

  scheduleCheck() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.check(); });
  }

  /** Slides the window or loads pages when the reader nears an edge; tracks "at the bottom". */
  check() {
    if (!this.el.isConnected) return;
    const margin = Math.max(600, this.el.clientHeight * 1.5);
    const n = this.t.length;
    const bottom = this.atEnd() && this.distanceFromBottom() < BOTTOM_SLACK;
    this.stuck = bottom;
    if (bottom) this.newCount = 0;
    if (state.currentRoomId === this.roomId && state.atBottom !== bottom) {
      state.atBottom = bottom;
      emit('atBottom', bottom);
    }
    if (this.el.scrollTop < margin) {
      if (this.start > 0) {
        this.start = Math.max(0, this.start - CHUNK);
        if (this.end - this.start > MAX_ROWS) this.end = this.start + MAX_ROWS;
        this.renderSlide();
        return;
      }
      if (this.t.hasOlder && this.t.loaded && !this.t.loadingOlder) loadOlder(this.roomId);
    }
    if (this.distanceFromBottom() < margin) {
      if (this.end < n) {
        this.end = Math.min(n, this.end + CHUNK);
        if (this.end - this.start > MAX_ROWS) this.start = this.end - MAX_ROWS;
        this.renderSlide();
        return;
      }
      if (this.t.hasNewer && !this.t.loadingNewer) loadNewer(this.roomId);
    }
    this.updateJump();
  }

  renderSlide() {
    // sliding moves start/end directly; render without reconciling them again
    const saved = this.reconcileWindow;
    this.reconcileWindow = () => {};
    try { this.render(); } finally { this.reconcileWindow = saved; }
  }

  updateJump() {
    const away = !this.atEnd() || this.distanceFromBottom() > this.el.clientHeight;
    this.jumpBtn.hidden = !away;
    const label = this.newCount ? `${this.newCount} new message${this.newCount === 1 ? '' : 's'}: jump to latest` : 'Jump to latest';
    this.jumpBtn.lastChild.textContent = label;
  }

  ensureActive() {
    let el = this.activeId ? this.items.querySelector(`article.msg[data-id="${CSS.escape(this.activeId)}"]`) : null;
    if (!el) el = this.items.lastElementChild?.querySelector('article.msg') || null;
    if (el) this.setActive(el);
  }

  /** Roving tabindex: only the active row (and its buttons and links) is in the Tab order. */
  setActive(art) {
    if (this.activeEl === art && art.tabIndex === 0) return;
    if (this.activeEl) toggleRoving(this.activeEl, false);
    for (const other of this.items.querySelectorAll('article.msg[tabindex="0"]')) if (other !== art) toggleRoving(other, false);
    this.activeEl = art;
    this.activeId = art.dataset.id;
    toggleRoving(art, true);
  }

  onKey(e) {
    const art = e.target.closest('article.msg');
    if (!art || e.target !== art) return;
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    e.preventDefault();
    const rows = [...this.items.querySelectorAll('article.msg')];
    const i = rows.indexOf(art);
    const next = rows[i + (e.key === 'ArrowUp' ? -1 : 1)];
    if (next) { next.focus(); next.scrollIntoView({ block: 'nearest' }); }
    else if (e.key === 'ArrowDown') this.on.focusComposer?.();
  }

  focusActive() {
    this.ensureActive();
    this.activeEl?.focus();
  }
}

/** Makes `container`'s children equal `els` touching only what changed, so unchanged rows are neither
 * re-announced by screen readers (role="log") nor lose focus. */
function reconcile(container, els) {
  const want = new Set(els);
  for (const child of [...container.children]) if (!want.has(child)) child.remove();
  let cursor = container.firstElementChild;
  for (const el of els) {
    if (el === cursor) { cursor = cursor.nextElementSibling; continue; }
    container.insertBefore(el, cursor);
  }
}

function toggleRoving(art, active) {
  art.tabIndex = active ? 0 : -1;
  art.classList.toggle('active', false);
  for (const el of art.querySelectorAll('[data-roving]')) el.tabIndex = active ? 0 : -1;
}
