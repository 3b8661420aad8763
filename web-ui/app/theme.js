// Colour scheme (system, light, dark) and accent theme, stored in localStorage and applied as data
// attributes on <html>; theme-boot.js applies them before the first paint.

export const ACCENTS = ['blue', 'green', 'purple', 'orange', 'rose'];

function get(key, fallback) { try { return localStorage.getItem(key) || fallback; } catch { return fallback; } }
function put(key, v) { try { localStorage.setItem(key, v); } catch { /* ignore */ } }

export function scheme() { return get('chatly.scheme', 'system'); }
export function accent() { return get('chatly.accent', 'blue'); }

/** 'system' | 'light' | 'dark' */
export function setScheme(s) {
  put('chatly.scheme', s);
  if (s === 'light' || s === 'dark') document.documentElement.dataset.scheme = s;
  else delete document.documentElement.dataset.scheme;
}

export function setAccent(a) {
  if (!ACCENTS.includes(a)) return;
  put('chatly.accent', a);
  document.documentElement.dataset.accent = a;
}

/** The scheme in effect now (resolving 'system'). */
export function effectiveScheme() {
  const s = scheme();
  if (s !== 'system') return s;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
