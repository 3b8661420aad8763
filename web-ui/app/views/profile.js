// Edit my profile: display name, short bio, and an avatar (upload, cropped to a square with a preview).

import { h } from '../dom.js';
import { state, emit, upsertUser, setFeature } from '../state.js';
import { openDialog } from './dialog.js';
import { avatar } from './avatar.js';
import * as api from '../api.js';
import { toast } from '../toast.js';

const AVATAR_PX = 256;

/** Crops an image file to a centred square and scales it; resolves a PNG Blob. */
async function cropSquare(file) {
  const bmp = await createImageBitmap(file);
  const side = Math.min(bmp.width, bmp.height);
  const canvas = document.createElement('canvas');
  canvas.width = AVATAR_PX;
  canvas.height = AVATAR_PX;
  canvas.getContext('2d').drawImage(bmp, (bmp.width - side) / 2, (bmp.height - side) / 2, side, side, 0, 0, AVATAR_PX, AVATAR_PX);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

export function openProfile() {
  const me = state.me;
  const name = h('input', { type: 'text', id: 'profile-name', value: me.display_name || '', maxlength: '64', autocomplete: 'name' });
  const bio = h('textarea', { id: 'profile-bio', rows: '3', maxlength: '280' });
  bio.value = me.bio || '';
  const err = h('div', { class: 'form-error', role: 'alert' });
  const preview = h('canvas', { class: 'crop-preview', width: '96', height: '96', hidden: true, 'aria-label': 'New avatar preview', role: 'img' });
  const current = avatar(me.id, 'l');
  const fileInput = h('input', { type: 'file', accept: 'image/*', id: 'profile-avatar', class: 'visually-hidden' });
  const pick = h('label', { class: 'btn', for: 'profile-avatar' }, 'Choose picture…');
  const removeBtn = h('button', { class: 'btn', type: 'button', hidden: !me.avatar }, 'Remove');
  let newAvatar; // undefined = unchanged, null = remove, Blob = upload

  fileInput.addEventListener('change', async () => {
    const f = fileInput.files[0];
    if (!f) return;
    try {
      newAvatar = await cropSquare(f);
      const bmp = await createImageBitmap(newAvatar);
      preview.getContext('2d').drawImage(bmp, 0, 0, 96, 96);
      preview.hidden = false;
      current.hidden = true;
    } catch {
      err.textContent = 'That file isn’t a picture this browser can read.';
    }
  });
  removeBtn.addEventListener('click', () => { newAvatar = null; preview.hidden = true; current.hidden = false; current.textContent = '–'; });

  const save = h('button', { class: 'btn primary', type: 'submit', form: 'profile-form' }, 'Save');
  const cancel = h('button', { class: 'btn', type: 'button' }, 'Cancel');
  const avatarRow = h('div', { class: 'avatar-edit' }, current, preview, h('div', null, pick, ' ', removeBtn, fileInput));
  if (state.features.files === false) avatarRow.hidden = true;
  const form = h('form', { id: 'profile-form' }, err, avatarRow,
    h('div', { class: 'field' }, h('label', { for: 'profile-name' }, 'Display name'), name),
    h('div', { class: 'field' }, h('label', { for: 'profile-bio' }, 'About you'), bio,
      h('span', { class: 'hint' }, 'A short line others see on your card.')));
  const d = openDialog({ title: 'Your profile', body: form, footer: [cancel, save], initialFocus: name });
  cancel.addEventListener('click', () => d.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    save.disabled = true;
    try {
      const patch = { display_name: name.value.trim(), bio: bio.value.trim() };
      if (newAvatar === null) patch.avatar = null;
      else if (newAvatar) {
        try {
          const meta = await api.uploadFile(newAvatar, 'avatar.png');
          patch.avatar = meta.id;
        } catch (ex) {
          if (api.isMissing(ex)) { setFeature('files', false); toast('Pictures aren’t available on this node yet'); } else throw ex;
        }
      }
      const updated = await api.updateMe(patch);
      upsertUser(updated || { ...me, ...patch });
      emit('me');
      emit('users');
      d.close();
    } catch (ex) {
      err.textContent = api.isMissing(ex) ? 'Editing profiles isn’t available on this node yet.'
        : ex.status === 422 ? `That can’t be saved: ${ex.message}` : `Couldn’t save: ${ex.message}`;
    } finally {
      save.disabled = false;
    }
  });
}
