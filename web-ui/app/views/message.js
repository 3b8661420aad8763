// Renders one message row: optional day separator and read marker, avatar and name (first of a group),
// reply quote, text (links and mentions, always as text), files, reactions, delivery state, seen-by
// avatars and the hover/focus action bar.

import { h } from '../dom.js';
import { icon } from '../icons.js';
import { state, displayName, isAdmin } from '../state.js';
import { relativeTime, exactTime, clockTime } from '../format.js';
import { renderText } from '../richtext.js';
import { avatar } from './avatar.js';
import { renderFiles } from './files.js';

function actionBtn(name, label, onClick) {
  return h('button', { class: 'icon-btn small', type: 'button', 'aria-label': label, title: label, tabindex: '-1',
    'data-roving': '', onClick }, icon(name, 'small'));
}

function timeEl(msg, cls = '') {
  return h('time', { class: cls, datetime: new Date(msg._t).toISOString(), title: exactTime(msg._t), dataset: { t: String(msg._t) } },
    relativeTime(msg._t));
}

function quote(msg, ctx) {
  if (!msg.reply_to) return null;
  const target = ctx.lookup(msg.reply_to);
  const label = target ? displayName(target.author) : 'an earlier message';
  const text = target ? (target.deleted ? 'This message was deleted' : target.text || (target.files?.length ? 'A file' : '')) : '';
  return h('button', { class: 'quote', type: 'button', tabindex: '-1', 'data-roving': '',
    'aria-label': `In reply to ${label}${text ? `: ${text.slice(0, 80)}` : ''}. Show it`,
    onClick: () => ctx.on.jumpToId(msg.reply_to) },
  h('strong', null, label), text ? h('span', null, text) : null);
}

function reactionsRow(msg, ctx) {
  const entries = Object.entries(msg.reactions || {}).filter(([, users]) => users && users.length);
  if (!entries.length) return null;
  const me = state.me?.id;
  return h('div', { class: 'reactions' }, entries.map(([emoji, users]) => {
    const mine = users.includes(me);
    const names = users.map((u) => (u === me ? 'you' : displayName(u))).join(', ');
    return h('button', { class: 'reaction', type: 'button', 'aria-pressed': String(mine), tabindex: '-1', 'data-roving': '',
      title: `${names} reacted with ${emoji}`, 'aria-label': `${emoji} ${users.length}, ${mine ? 'remove your reaction' : 'react too'}`,
      onClick: () => ctx.on.react(msg, emoji) }, h('span', { 'aria-hidden': 'true' }, emoji), h('span', { class: 'count' }, String(users.length)));
  }));
}

function status(cls, iconName, title, label, extra) {
  return h('span', { class: `msg-status ${cls}`, title, role: 'img', 'aria-label': label }, icon(iconName, 'tiny'), extra);
}

// Sending (the node has not answered), queued (stored here, no peer has it yet), sent to the network,
// held by N peers (they confirmed it in sync), seen (a member read it).
function deliveryState(msg, ctx) {
  if (!ctx.own || msg.deleted) return null;
  if (msg._state === 'sending') return status('', 'clock', 'Sending…', 'Sending');
  if (msg._state === 'failed') return null;
  if (ctx.seen) return status('seen', 'checks', 'Seen', 'Seen');
  const d = msg.delivery;
  if (d?.state === 'queued') {
    return status('queued', 'clock', 'Queued: saved on your node, it goes out as soon as another node is reachable', 'Queued');
  }
  if (d?.state === 'held') {
    const n = Number(d.peers) || 1;
    const text = `Held by ${n} other node${n === 1 ? '' : 's'}`;
    return status('held', 'check', text, text, h('span', { class: 'held-count', 'aria-hidden': 'true' }, String(n)));
  }
  return status('', 'check', 'Sent to the network', 'Sent');
}

function failedLine(msg, ctx) {
  if (msg._state !== 'failed') return null;
  return h('div', { class: 'msg-failed', role: 'alert' }, icon('alert', 'small'), h('span', null, msg._error || 'Not sent'),
    h('button', { class: 'btn small', type: 'button', 'data-roving': '', tabindex: '-1', onClick: () => ctx.on.retry(msg) }, 'Retry'),
    h('button', { class: 'btn small', type: 'button', 'data-roving': '', tabindex: '-1', onClick: () => ctx.on.discard(msg) }, 'Discard'));
}

function seenBy(ctx) {
  if (!ctx.readers || !ctx.readers.length) return null;
  const shown = ctx.readers.slice(0, 5);
  const names = ctx.readers.map(displayName).join(', ');
  return h('div', { class: 'seen-by', title: `Seen by ${names}`, role: 'note', 'aria-label': `Seen by ${names}` },
    shown.map((id) => avatar(id, 'xs')),
    ctx.readers.length > shown.length ? h('span', { class: 'more' }, `+${ctx.readers.length - shown.length}`) : null);
}

function actions(msg, ctx) {
  if (msg._local || msg.deleted) return null;
  const f = state.features;
  const room = state.rooms.get(msg.room_id);
  const canDelete = f.delete === true && (ctx.own || isAdmin(room));
  return h('div', { class: 'msg-actions', role: 'toolbar', 'aria-label': 'Message actions' },
    f.reactions === true ? actionBtn('smile', 'Add reaction', (e) => ctx.on.pickReaction(msg, e.currentTarget)) : null,
    actionBtn('reply', 'Reply', () => ctx.on.reply(msg)),
    ctx.own && f.edit === true ? actionBtn('edit', 'Edit', () => ctx.on.edit(msg)) : null,
    canDelete ? actionBtn('trash', 'Delete', () => ctx.on.remove(msg)) : null);
}

/**
 * ctx: {grouped, day (label or null), marker (bool), own, seen, readers: [user ids], mention, terms,
 *       lookup(id) -> message, on: {react, pickReaction, reply, edit, remove, retry, discard, person, jumpToId, image}}
 */
export function renderRow(msg, ctx) {
  const name = displayName(msg.author);
  const cls = ['msg', ctx.grouped && 'grouped', ctx.own && 'own', ctx.mention && 'mention', msg._state === 'sending' && 'pending',
    msg._state === 'failed' && 'failed', msg.deleted && 'deleted'];
  const gutter = ctx.grouped
    ? h('div', { class: 'msg-gutter' }, h('span', { class: 'gutter-time', title: exactTime(msg._t), 'aria-hidden': 'true' }, clockTime(msg._t)))
    // the avatar repeats the name button beside it: a mouse target only, not a second control for AT
    : h('div', { class: 'msg-gutter' }, h('span', { class: 'avatar-btn', title: name, onClick: () => ctx.on.person(msg.author) },
      avatar(msg.author)));
  const head = ctx.grouped
    ? h('span', { class: 'visually-hidden' }, `${name}, `, timeEl(msg))
    : h('div', { class: 'msg-head' },
      h('button', { class: 'author', type: 'button', tabindex: '-1', 'data-roving': '', onClick: () => ctx.on.person(msg.author) }, name),
      timeEl(msg));
  const text = h('div', { class: 'msg-text' });
  if (msg.deleted) text.textContent = 'This message was deleted';
  else if (msg.text) renderText(text, msg.text, { mentions: ctx.mentionNames, terms: ctx.terms });
  if (msg.edited_at && !msg.deleted) text.append(h('span', { class: 'edited', title: `Edited ${exactTime(Date.parse(msg.edited_at))}` }, '(edited)'));
  const status = deliveryState(msg, ctx);
  if (status) text.append(status);
  const article = h('article', { class: cls, tabindex: '-1', dataset: { id: msg.id }, 'aria-roledescription': 'message' },
    gutter,
    h('div', { class: 'msg-main' }, head, quote(msg, ctx), text,
      msg.deleted ? null : renderFiles(msg, ctx),
      msg.deleted ? null : reactionsRow(msg, ctx),
      failedLine(msg, ctx), seenBy(ctx)),
    actions(msg, ctx));
  const row = h('div', { class: 'row', dataset: { id: msg.id } },
    ctx.day ? h('div', { class: 'day-sep', role: 'separator', 'aria-label': ctx.day }, ctx.day) : null,
    ctx.marker ? h('div', { class: 'read-marker', role: 'separator', 'aria-label': 'New messages', id: 'read-marker' }, 'New') : null,
    article);
  return row;
}

/** Refreshes the relative times of rendered rows (called every 30 s). */
export function refreshTimes(root) {
  for (const t of root.querySelectorAll('time[data-t]')) {
    const v = relativeTime(Number(t.dataset.t));
    if (t.textContent !== v) t.textContent = v;
  }
}
