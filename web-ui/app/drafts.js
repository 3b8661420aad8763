// Unsent text per room: kept while switching rooms and across reloads (localStorage, per account).

import { state } from './state.js';

const drafts = new Map();
let loadedFor = null;
let saveTimer = null;

function key() { return `chatly.drafts.${state.me?.id || 'anon'}`; }

function load() {
  if (loadedFor === key()) return;
  loadedFor = key();
  drafts.clear();
  try {
    const obj = JSON.parse(localStorage.getItem(key()) || '{}');
    for (const [k, v] of Object.entries(obj)) if (typeof v === 'string') drafts.set(k, v);
  } catch { /* ignore */ }
}

function save() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => {
    try { localStorage.setItem(key(), JSON.stringify(Object.fromEntries(drafts))); } catch { /* ignore */ }
  }, 300);
}

export function getDraft(roomId) { load(); return drafts.get(roomId) || ''; }

export function setDraft(roomId, text) {
  load();
  if (text) drafts.set(roomId, text); else drafts.delete(roomId);
  save();
}
