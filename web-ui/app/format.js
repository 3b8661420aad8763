// Pure formatting: relative and exact times, day labels, file sizes, short ids, safety numbers.

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const exactFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
const shortDayFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

export function parseTime(s) {
  const t = typeof s === 'number' ? s : Date.parse(s);
  return Number.isFinite(t) ? t : Date.now();
}

export function clockTime(t) { return timeFmt.format(new Date(t)); }
export function exactTime(t) { return exactFmt.format(new Date(t)); }

/** "just now", "4 min ago", "2 h ago", then the clock time (day separators carry the date). */
export function relativeTime(t, now = Date.now()) {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const hrs = Math.floor(m / 60);
  if (hrs < 12 && sameDay(t, now)) return `${hrs} h ago`;
  return clockTime(t);
}

/** "5 minutes ago" style for last-seen lines. */
export function lastSeen(t, now = Date.now()) {
  if (!t) return 'Offline';
  const s = Math.max(0, Math.round((now - parseTime(t)) / 1000));
  if (s < 60) return 'Last seen just now';
  const m = Math.round(s / 60);
  if (m < 60) return `Last seen ${m} min ago`;
  const hrs = Math.round(m / 60);
  if (hrs < 24) return `Last seen ${hrs} h ago`;
  return `Last seen ${shortDayFmt.format(new Date(parseTime(t)))}`;
}

export function dayKey(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function sameDay(a, b) { return dayKey(a) === dayKey(b); }

export function dayLabel(t, now = Date.now()) {
  if (sameDay(t, now)) return 'Today';
  if (sameDay(t, now - 86400000)) return 'Yesterday';
  return dayFmt.format(new Date(t));
}

export function fileSize(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function shortId(id) {
  if (!id) return '';
  return id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id;
}

/** Groups a safety number for reading aloud: digits in fives, anything else in fours. */
export function groupFingerprint(fp) {
  if (!fp) return '';
  const clean = String(fp).replace(/\s+/g, '');
  const size = /^\d+$/.test(clean) ? 5 : 4;
  const parts = [];
  for (let i = 0; i < clean.length; i += size) parts.push(clean.slice(i, i + size));
  return parts.join(' ');
}

/** Stable colour slot (0..7) for a user id. */
export function colorSlot(id) {
  let x = 0;
  for (const ch of String(id || '')) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
  return x % 8;
}

export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const a = parts[0] ? [...parts[0]][0] : '?';
  const b = parts.length > 1 ? [...parts[parts.length - 1]][0] : '';
  return (a + b).toUpperCase();
}
