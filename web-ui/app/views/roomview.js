// One open room: header (name, lock, description, search, settings), the windowed message list with its
// "jump to latest" button, the typing line, drag-and-drop of files, and the composer. Marks the room read
// while the reader sits at the bottom of a visible tab.

import { h, replaceChildren } from '../dom.js';
import { icon } from '../icons.js';
import { state, on, roomName, displayName, directPeer, isOnline } from '../state.js';
import { ensureLoaded, timeline } from '../sync.js';
import * as actions from '../actions.js';
import { MessageList } from './messagelist.js';
import { Composer } from './composer.js';
import { openPicker } from './reactpicker.js';
import { confirmDialog } from './dialog.js';
import { openImage } from './files.js';
import { lastSeen } from '../format.js';

export class RoomView {
  constructor(roomId, { onMenu, onPerson, onSearch, onRoomSettings }) {
    this.roomId = roomId;
    const t = timeline(roomId);
    t.readMarkerId = null;
    const room = state.rooms.get(roomId);
    if (room && room.unread && t.loaded) {
      const i = t.length - room.unread;
      if (i >= 0 && i < t.length) t.readMarkerId = t.messages[i].id;
    }
    this.unreadAtOpen = room?.unread || 0;

    this.list = new MessageList(roomId, {
      reply: (m) => this.composer.setReply(m),
      edit: (m) => this.composer.startEdit(m),
      remove: (m) => this.confirmRemove(m),
      react: (m, emoji) => actions.toggleReaction(roomId, m.id, emoji),
      pickReaction: (m, anchor) => openPicker(anchor, (emoji) => actions.toggleReaction(roomId, m.id, emoji)),
      retry: (m) => actions.retry(roomId, m.id),
      discard: (m) => actions.discard(roomId, m.id),
      person: (id) => onPerson(id),
      jumpToId: (id) => this.list.scrollToMessage(id),
      image: (f) => openImage(f),
      focusComposer: () => this.composer.focus(),
    });
    this.composer = new Composer(roomId, { onEditLast: () => this.editLast() });

    this.title = h('h1', { id: 'room-title' });
    this.desc = h('p', { class: 'desc' });
    this.searchBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Search messages', title: 'Search messages',
      onClick: () => onSearch(roomId) }, icon('search'));
    this.settingsBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Room details and settings',
      title: 'Room details', onClick: () => onRoomSettings(roomId) }, icon('users'));
    this.typingLine = h('div', { class: 'typing-line', 'aria-live': 'polite', id: 'typing-line' });
    this.dropHint = h('div', { class: 'drop-hint', hidden: true }, 'Drop files to attach them');
    const wrap = h('div', { class: 'timeline-wrap' }, this.list.el, this.list.jumpBtn, this.dropHint);

    this.el = h('main', { class: 'main', 'aria-labelledby': 'room-title' },
      h('header', { class: 'room-head' },
        this.menuBtn = h('button', { class: 'icon-btn menu-btn', type: 'button', 'aria-label': 'Open rooms and people', 'aria-controls': 'sidebar',
          id: 'menu-btn', onClick: onMenu }, icon('menu')),
        h('div', { class: 'title' }, this.title, this.desc),
        this.searchBtn, this.settingsBtn),
      wrap, this.typingLine, this.composer.el);

    this.setupDrop(wrap);
    this.offs = [
      on('rooms', () => { this.renderHead(); if (state.rooms.get(roomId)?.unread) this.readSoon(); }),
      on(`timeline:${roomId}`, () => this.readSoon()),
      on('users', () => this.renderHead()),
      on('presence', () => this.renderHead()),
      on('features', () => this.renderHead()),
      on(`typing:${roomId}`, () => this.renderTyping()),
      on('atBottom', (b) => { if (b) this.maybeRead(); }),
    ];
    this.onVisible = () => { if (!document.hidden) this.maybeRead(); };
    document.addEventListener('visibilitychange', this.onVisible);
    window.addEventListener('focus', this.onVisible);
    this.typingTimer = setInterval(() => this.renderTyping(), 1000);
    this.renderHead();
    this.renderTyping();

    const first = !t.loaded;
    this.list.showLatest();
    // ready to write at once (not on phones, where focusing would pop up the keyboard over the room)
    requestAnimationFrame(() => {
      const idle = !document.activeElement || document.activeElement === document.body || document.activeElement.closest?.('.sidebar');
      if (idle && !matchMedia('(max-width: 699px)').matches && !document.querySelector('dialog[open]') && this.el.isConnected) {
        this.composer.focus();
      }
    });
    ensureLoaded(roomId).then(() => {
      if (first && room && room.unread) {
        const i = t.length - room.unread;
        if (i >= 0 && i < t.length) t.readMarkerId = t.messages[i].id;
      }
      if (state.pendingJump && state.pendingJump.roomId === roomId) {
        const { id } = state.pendingJump;
        state.pendingJump = null;
        this.list.scrollToMessage(id);
        return;
      }
      if (this.list.jumped) return; // a search result was shown while this room loaded
      this.list.showLatest();
      if (t.readMarkerId) this.list.scrollToMarker();
      this.maybeRead();
    });
  }

  destroy() {
    this.offs.forEach((f) => f());
    this.list.destroy();
    this.composer.destroy();
    clearInterval(this.typingTimer);
    clearTimeout(this.readTimer);
    document.removeEventListener('visibilitychange', this.onVisible);
    window.removeEventListener('focus', this.onVisible);
    state.atBottom = false;
  }

  renderHead() {
    const room = state.rooms.get(this.roomId);
    if (!room) return;
    replaceChildren(this.title,
      room.kind === 'public' ? icon('globe', 'small') : room.kind === 'group' ? icon('hash', 'small') : null,
      roomName(room),
      room.encrypted ? h('span', { class: 'lock', title: 'End-to-end encrypted', role: 'img', 'aria-label': 'End-to-end encrypted' }, icon('lock', 'small')) : null);
    let desc = room.description || '';
    if (room.kind === 'direct') {
      const peer = directPeer(room);
      desc = peer ? (isOnline(peer) ? 'Online' : lastSeen(state.users.get(peer)?.last_seen)) : '';
    } else if (!desc) {
      const n = (room.members || []).length;
      desc = room.kind === 'public' ? 'Everyone on the connected nodes' : `${n} member${n === 1 ? '' : 's'}`;
    }
    this.desc.textContent = desc;
    this.desc.hidden = !desc;
    this.searchBtn.hidden = state.features.search !== true;
    // on a phone the room list is hidden: say on its button that other rooms have news
    let elsewhere = 0;
    for (const r of state.rooms.values()) if (r.id !== this.roomId) elsewhere += r.unread || 0;
    this.menuBtn.classList.toggle('has-unread', elsewhere > 0);
    this.menuBtn.setAttribute('aria-label', elsewhere ? `Open rooms and people (${elsewhere} unread elsewhere)` : 'Open rooms and people');
    this.settingsBtn.hidden = room.kind === 'public';
  }

  renderTyping() {
    const map = state.typing.get(this.roomId);
    const now = Date.now();
    const names = [];
    if (map) for (const [id, exp] of map) { if (exp > now) names.push(displayName(id)); else map.delete(id); }
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing`;
    else if (names.length > 2) text = 'Several people are typing';
    if (this.typingText === text) return;
    this.typingText = text;
    replaceChildren(this.typingLine, text ? [text, h('span', { class: 'dots', 'aria-hidden': 'true' },
      h('span', null, '.'), h('span', null, '.'), h('span', null, '.'))] : []);
  }

  /** New messages landed while I watch: send the read receipt shortly (batched). */
  readSoon() {
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => this.maybeRead(), 300);
  }

  maybeRead() {
    if (document.hidden || state.currentRoomId !== this.roomId || state.view !== 'room') return;
    if (!state.atBottom && timeline(this.roomId).length) return;
    actions.markRead(this.roomId);
  }

  editLast() {
    const t = timeline(this.roomId);
    for (let i = t.length - 1; i >= 0; i -= 1) {
      const m = t.messages[i];
      if (m.author === state.me?.id && !m._local && !m.deleted) {
        if (state.features.edit !== true) return false;
        this.composer.startEdit(m);
        return true;
      }
    }
    return false;
  }

  async confirmRemove(m) {
    const ok = await confirmDialog({ title: 'Delete message?', text: 'It will be removed for everyone in this room.',
      confirm: 'Delete', danger: true });
    if (ok) actions.remove(this.roomId, m.id);
  }

  setupDrop(wrap) {
    let depth = 0;
    const hasFiles = (e) => [...(e.dataTransfer?.types || [])].includes('Files');
    wrap.addEventListener('dragenter', (e) => {
      if (!hasFiles(e) || state.features.files === false) return;
      e.preventDefault();
      depth += 1;
      this.dropHint.hidden = false;
    });
    wrap.addEventListener('dragover', (e) => { if (hasFiles(e) && state.features.files !== false) e.preventDefault(); });
    wrap.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) this.dropHint.hidden = true; });
    wrap.addEventListener('drop', (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      this.dropHint.hidden = true;
      this.composer.addFiles([...e.dataTransfer.files]);
    });
  }

  focusComposer() { this.composer.focus(); }

  cancelReply() {
    if (this.composer.replyTo || this.composer.editing) { this.composer.cancel(); return true; }
    return false;
  }

  jumpTo(id) { this.list.scrollToMessage(id); }
}
