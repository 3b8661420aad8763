// Files inside messages: inline image previews (click for full size) and file cards with size and a
// download button showing progress; also the full-size image viewer.

import { h } from '../dom.js';
import { icon } from '../icons.js';
import { fileSize } from '../format.js';
import { fileUrl, downloadFile } from '../api.js';
import { state, on } from '../state.js';
import { toast } from '../toast.js';

const IMAGE = /^image\/(png|jpe?g|gif|webp|avif|bmp|svg\+xml)$/i;

export function isImage(f) { return IMAGE.test(f.mime || ''); }

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name || 'file' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function fileCard(f) {
  const progress = h('progress', { max: '1', value: '0', hidden: true, 'aria-label': `Downloading ${f.name}` });
  const sizeEl = h('span', null, fileSize(f.size));
  const btn = h('button', { class: 'icon-btn', type: 'button', 'aria-label': `Download ${f.name}`, title: 'Download',
    tabindex: '-1', 'data-roving': '' }, icon('download'));
  const show = (done, total) => {
    const t = total || f.size || 0;
    progress.hidden = false;
    if (t) { progress.max = t; progress.value = done; sizeEl.textContent = `${fileSize(done)} of ${fileSize(t)}`; }
  };
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    show(0, f.size);
    try {
      const blob = await downloadFile(f.id, show);
      saveBlob(blob, f.name);
    } catch (e) {
      toast(e.status === 404 ? `“${f.name}” isn’t available from any reachable node right now` : `Download failed: ${e.message}`);
    } finally {
      btn.disabled = false;
      progress.hidden = true;
      sizeEl.textContent = fileSize(f.size);
    }
  });
  // the node reports progress while it fetches the file from peers
  const off = on(`file:${f.id}`, () => {
    if (!card.isConnected) { off(); return; }
    const p = state.fileProgress.get(f.id);
    if (p) show(p.done, p.total);
    if (p && p.total && p.done >= p.total) progress.hidden = true;
  });
  const card = h('div', { class: 'file-card' }, h('span', { class: 'file-icon' }, icon('file')),
    h('span', { class: 'meta' }, h('span', { title: f.name }, f.name), sizeEl, progress), btn);
  return card;
}

function imagePreview(f, ctx) {
  const img = h('img', { src: fileUrl(f.id), alt: f.name || 'Image', loading: 'lazy', decoding: 'async' });
  const btn = h('button', { class: 'file-image', type: 'button', tabindex: '-1', 'data-roving': '',
    'aria-label': `Open image ${f.name || ''} full size` }, img);
  btn.addEventListener('click', () => ctx.on.image(f));
  img.addEventListener('error', () => { btn.replaceWith(fileCard(f)); }, { once: true });
  return btn;
}

export function renderFiles(msg, ctx) {
  const files = msg.files || [];
  if (!files.length) return null;
  return h('div', { class: 'files' }, files.map((f) => (isImage(f) && !msg._local ? imagePreview(f, ctx) : fileCard(f))));
}

/** Full-size image viewer (Esc or click outside closes). */
export function openImage(f) {
  const opener = document.activeElement;
  const close = h('button', { class: 'icon-btn', type: 'button', 'aria-label': 'Close' }, icon('close'));
  const dl = h('a', { class: 'icon-btn', href: fileUrl(f.id), download: f.name || 'image', 'aria-label': `Download ${f.name}` }, icon('download'));
  const dlg = h('dialog', { class: 'viewer', 'aria-label': f.name || 'Image' },
    h('div', { class: 'viewer-bar' }, dl, close), h('img', { src: fileUrl(f.id), alt: f.name || 'Image' }));
  close.addEventListener('click', () => dlg.close());
  dlg.addEventListener('click', (e) => { if (e.target === dlg) dlg.close(); });
  dlg.addEventListener('close', () => { dlg.remove(); opener?.focus?.(); });
  document.body.append(dlg);
  dlg.showModal();
  close.focus();
}
