// The composer: a growing textarea (Enter sends, Shift+Enter is a newline), per-room drafts, reply and
// edit banners (Esc cancels), Up arrow edits my last message, attachments by button, paste or drop with
// upload progress, and typing notices.

import { h, replaceChildren } from '../dom.js';
import { icon } from '../icons.js';
import { state, on, roomName, displayName, setFeature } from '../state.js';
import { getDraft, setDraft } from '../drafts.js';
import * as actions from '../actions.js';
import * as api from '../api.js';
import { fileSize } from '../format.js';
import { toast } from '../toast.js';

const MAX_TEXT_BYTES = 16 * 1024;

export class Composer {
  constructor(roomId, { onEditLast }) {
    this.roomId = roomId;
    this.onEditLast = onEditLast;
    this.replyTo = null;
    this.editing = null;
    this.uploads = [];
    const room = state.rooms.get(roomId);
    const label = `Message ${room?.kind === 'direct' ? roomName(room) : `#${roomName(room)}`}`;
    this.ta = h('textarea', { id: 'composer-input', rows: '1', placeholder: label, 'aria-label': label,
      'aria-keyshortcuts': 'Enter', autocomplete: 'off', spellcheck: 'true' });
    this.banner = h('div', { class: 'composer-banner', hidden: true });
    this.tray = h('div', { class: 'attachments', hidden: true, 'aria-label': 'Attachments' });
    this.note = h('p', { class: 'composer-note', 'aria-live': 'polite' });
    this.fileInput = h('input', { type: 'file', multiple: true, hidden: true, 'aria-hidden': 'true', tabindex: '-1' });
    this.attachBtn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Attach files', title: 'Attach files' }, icon('attach'));
    this.sendBtn = h('button', { class: 'icon-btn send-btn', type: 'submit', 'aria-label': 'Send', title: 'Send (Enter)' }, icon('send'));
    this.form = h('form', { class: 'composer', 'aria-label': 'Write a message' },
      h('div', { class: 'composer-box' }, this.banner, this.tray,
        h('div', { class: 'composer-row' }, this.attachBtn, this.ta, this.sendBtn)),
      this.fileInput, this.note);
    this.el = this.form;

    this.ta.value = getDraft(roomId);
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.ta.addEventListener('keydown', (e) => this.onKey(e));
    this.ta.addEventListener('input', () => this.onInput());
    this.ta.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files || [])];
      if (files.length && state.features.files !== false) { e.preventDefault(); this.addFiles(files); }
    });
    this.attachBtn.addEventListener('click', () => this.fileInput.click());
    this.fileInput.addEventListener('change', () => { this.addFiles([...this.fileInput.files]); this.fileInput.value = ''; });
    this.offs = [on('features', () => this.renderFeatures())];
    this.renderFeatures();
    requestAnimationFrame(() => this.grow());
  }

  destroy() { this.offs.forEach((f) => f()); }

  renderFeatures() { this.attachBtn.hidden = state.features.files === false; }

  focus() { this.ta.focus(); }

  grow() {
    this.ta.style.height = 'auto';
    this.ta.style.height = `${Math.min(this.ta.scrollHeight + 2, Math.round(window.innerHeight * 0.4))}px`;
  }

  onInput() {
    this.grow();
    if (!this.editing) setDraft(this.roomId, this.ta.value);
    if (this.ta.value.trim()) actions.typing(this.roomId);
    this.note.textContent = '';
  }

  onKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && !e.altKey) {
      e.preventDefault();
      this.submit();
    } else if (e.key === 'Escape' && (this.replyTo || this.editing)) {
      e.preventDefault();
      e.stopPropagation();
      this.cancel();
    } else if (e.key === 'ArrowUp' && !this.ta.value && !this.editing && !e.shiftKey) {
      if (this.onEditLast()) e.preventDefault();
    }
  }

  setReply(msg) {
    this.editing = null;
    this.replyTo = msg;
    this.renderBanner();
    this.focus();
  }

  startEdit(msg) {
    if (!this.editing) this.savedDraft = this.ta.value;
    this.replyTo = null;
    this.editing = msg;
    this.ta.value = msg.text || '';
    this.renderBanner();
    this.grow();
    this.focus();
    this.ta.setSelectionRange(this.ta.value.length, this.ta.value.length);
  }

  cancel() {
    if (this.editing) {
      this.ta.value = this.savedDraft || '';
      this.savedDraft = '';
      this.grow();
    }
    this.editing = null;
    this.replyTo = null;
    this.renderBanner();
    this.focus();
  }

  renderBanner() {
    const target = this.editing || this.replyTo;
    this.banner.hidden = !target;
    if (!target) { replaceChildren(this.banner); return; }
    const what = this.editing
      ? h('span', { class: 'what' }, icon('edit', 'tiny'), ' ', h('strong', null, 'Editing message'), ' · Esc to cancel')
      : h('span', { class: 'what' }, icon('reply', 'tiny'), ' Replying to ', h('strong', null, displayName(target.author)),
        `: ${(target.text || '').slice(0, 120)}`);
    replaceChildren(this.banner, what,
      h('button', { class: 'icon-btn small', type: 'button', 'aria-label': this.editing ? 'Cancel editing' : 'Cancel reply',
        onClick: () => this.cancel() }, icon('close', 'small')));
  }

  addFiles(files) {
    if (state.features.files === false) { toast('File sharing isn’t available on this node yet'); return; }
    for (const file of files) {
      const up = { file, name: file.name || 'pasted-image.png', done: 0, total: file.size, meta: null, error: null, holder: {} };
      up.promise = api.uploadFile(file, up.name, (d, t) => { up.done = d; up.total = t; this.renderTray(); }, up.holder)
        .then((meta) => { up.meta = meta; })
        .catch((e) => {
          if (api.isMissing(e)) {
            setFeature('files', false);
            toast('File sharing isn’t available on this node yet');
            this.uploads = this.uploads.filter((u) => u !== up);
          } else if (e.code !== 'aborted') {
            up.error = e.status === 413 ? 'Too large for this node' : e.message;
          }
        })
        .finally(() => this.renderTray());
      this.uploads.push(up);
    }
    this.renderTray();
    this.focus();
  }

  renderTray() {
    this.tray.hidden = !this.uploads.length;
    replaceChildren(this.tray, this.uploads.map((up) => {
      const remove = h('button', { class: 'icon-btn small', type: 'button', 'aria-label': `Remove ${up.name}`,
        onClick: () => { up.holder.abort?.(); this.uploads = this.uploads.filter((u) => u !== up); this.renderTray(); } },
      icon('close', 'small'));
      return h('div', { class: ['attachment', up.error && 'failed'] }, icon('file', 'small'),
        h('span', { class: 'name', title: up.name }, `${up.name} · ${fileSize(up.total)}`), remove,
        up.error ? h('span', { class: 'err' }, up.error)
          : h('progress', { max: String(up.total || 1), value: String(up.meta ? up.total || 1 : up.done),
            'aria-label': `Uploading ${up.name}` }));
    }));
  }

  async submit() {
    const text = this.ta.value.trim();
    if (this.editing) {
      const msg = this.editing;
      if (!text) return;
      this.editing = null;
      this.ta.value = this.savedDraft || '';
      this.savedDraft = '';
      this.renderBanner();
      this.grow();
      await actions.edit(this.roomId, msg.id, text);
      return;
    }
    const uploads = this.uploads;
    if (!text && !uploads.length) return;
    if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES) {
      this.note.textContent = `That message is too long (${fileSize(new TextEncoder().encode(text).length)}; the limit is 16 KB). Split it or send it as a file.`;
      return;
    }
    if (uploads.some((u) => u.error)) { this.note.textContent = 'Remove the failed attachments first.'; return; }
    const replyTo = this.replyTo?.id || null;
    this.ta.value = '';
    setDraft(this.roomId, '');
    this.replyTo = null;
    this.uploads = [];
    this.renderBanner();
    this.renderTray();
    this.grow();
    if (uploads.length && uploads.some((u) => !u.meta)) {
      this.note.textContent = 'Sending when the uploads finish…';
      await Promise.all(uploads.map((u) => u.promise));
      this.note.textContent = '';
    }
    const files = uploads.filter((u) => u.meta).map((u) => u.meta);
    if (!text && !files.length) return;
    await actions.send(this.roomId, text, { files, replyTo });
  }
}
