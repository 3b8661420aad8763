// Turns message text into DOM nodes: plain text nodes, clickable http(s) links (rel=noopener noreferrer),
// highlighted @mentions and search terms. Never parses HTML: everything else stays literal text.

import { h } from './dom.js';

const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}'"]+$/;

function safeHref(raw) {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** Splits text into [{kind: 'text'|'link', value}] pieces. */
export function tokenizeLinks(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(LINK)) {
    let url = m[0];
    const trail = url.match(TRAILING);
    // keep a closing parenthesis when the link itself opened one
    if (trail && !(trail[0].startsWith(')') && url.includes('('))) url = url.slice(0, -trail[0].length);
    if (m.index > last) out.push({ kind: 'text', value: text.slice(last, m.index) });
    out.push({ kind: 'link', value: url });
    last = m.index + url.length;
  }
  if (last < text.length) out.push({ kind: 'text', value: text.slice(last) });
  return out;
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

/** Appends `text` to `parent` with mentions (names) and search terms (marks) highlighted. */
function appendMarked(parent, text, opts) {
  const mentions = opts.mentions || [];
  const terms = opts.terms || [];
  const pats = [];
  if (mentions.length) pats.push(`(@(?:${mentions.map(escapeRe).join('|')}))(?![\\w.-])`);
  if (terms.length) pats.push(`(${terms.map(escapeRe).join('|')})`);
  if (!pats.length) { parent.append(text); return; }
  const re = new RegExp(pats.join('|'), 'giu');
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    if (mentions.length && m[1]) parent.append(h('span', { class: 'mention-tag' }, m[0]));
    else parent.append(h('mark', null, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) parent.append(text.slice(last));
}

/**
 * Renders message text into `parent`. opts.mentions: names that count as mentioning someone (without @);
 * opts.terms: search words to highlight.
 */
export function renderText(parent, text, opts = {}) {
  for (const part of tokenizeLinks(String(text ?? ''))) {
    const href = part.kind === 'link' ? safeHref(part.value) : null;
    if (href) {
      const a = h('a', { href, target: '_blank', rel: 'noopener noreferrer', 'data-roving': '' });
      appendMarked(a, part.value, { terms: opts.terms || [] });
      parent.append(a);
    } else {
      appendMarked(parent, part.value, opts);
    }
  }
  return parent;
}

/** True when `text` mentions one of `names` as @name. */
export function mentions(text, names) {
  if (!text || !names.length) return false;
  const re = new RegExp(`@(?:${names.map(escapeRe).join('|')})(?![\\w.-])`, 'iu');
  return re.test(text);
}
