// The node's HTTP API (shared/design/api.md) as plain async functions. Cookie auth (same-origin); errors
// become ApiError with the status, the stable error code, a human message and Retry-After.

const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message || `Request failed (${status})`);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** True when the endpoint does not exist (yet) on this node: the UI then hides the feature quietly. */
export function isMissing(err) {
  if (!(err instanceof ApiError)) return false;
  if (err.status === 501 || err.status === 405) return true;
  return err.status === 404 && (!err.code || /not_found|not_implemented|unsupported|no_route/.test(err.code));
}

let unauthorizedHandler = null;
/** Called once when an authenticated request answers 401 (the session ended). */
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

async function parseError(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = (body && body.error) || {};
  const ra = Number.parseInt(res.headers.get('Retry-After') || '', 10);
  return new ApiError(res.status, e.code || null, e.message || res.statusText, Number.isFinite(ra) ? ra : null);
}

export async function request(method, path, body, opts = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (opts.signal) init.signal = opts.signal;
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Can’t reach the node. Is it still running?');
  }
  if (!res.ok) {
    const err = await parseError(res);
    if (res.status === 401 && !opts.allow401 && unauthorizedHandler) unauthorizedHandler(err);
    throw err;
  }
  if (res.status === 204 || res.status === 202) return null;
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return null; }
}

const enc = encodeURIComponent;
const q = (params) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') s.set(k, v);
  const str = s.toString();
  return str ? `?${str}` : '';
};

// Accounts and sessions
export const createAccount = (username, password, displayName) =>
  request('POST', '/accounts', { username, password, display_name: displayName || undefined }, { allow401: true });
export const login = (username, password, rememberMe) =>
  request('POST', '/sessions', { username, password, remember_me: !!rememberMe }, { allow401: true });
export const logout = () => request('DELETE', '/sessions/current', undefined, { allow401: true });
export const getMe = () => request('GET', '/me', undefined, { allow401: true });
export const updateMe = (patch) => request('PATCH', '/me', patch);

// People
export const getUsers = () => request('GET', '/users');
export const getPresence = () => request('GET', '/presence');

// Rooms
export const getRooms = () => request('GET', '/rooms');
export const getRoom = (id) => request('GET', `/rooms/${enc(id)}`);
export const createGroup = (name, members) => request('POST', '/rooms', { kind: 'group', name, members });
export const openDirect = (userId) => request('POST', '/rooms', { kind: 'direct', user_id: userId });
export const updateRoom = (id, patch) => request('PATCH', `/rooms/${enc(id)}`, patch);
export const addMember = (id, userId) => request('POST', `/rooms/${enc(id)}/members`, { user_id: userId });
export const removeMember = (id, userId) => request('DELETE', `/rooms/${enc(id)}/members/${enc(userId)}`);
export const addAdmin = (id, userId) => request('POST', `/rooms/${enc(id)}/admins`, { user_id: userId });

// Messages
export const getMessages = (roomId, { before, after, limit } = {}) =>
  request('GET', `/rooms/${enc(roomId)}/messages${q({ before, after, limit })}`);
export const sendMessage = (roomId, text, files, replyTo) =>
  request('POST', `/rooms/${enc(roomId)}/messages`, {
    text,
    ...(files && files.length ? { files } : {}),
    ...(replyTo ? { reply_to: replyTo } : {}),
  });
export const editMessage = (roomId, id, text) => request('PATCH', `/rooms/${enc(roomId)}/messages/${enc(id)}`, { text });
export const deleteMessage = (roomId, id) => request('DELETE', `/rooms/${enc(roomId)}/messages/${enc(id)}`);
export const react = (roomId, id, emoji) =>
  request('POST', `/rooms/${enc(roomId)}/messages/${enc(id)}/reactions`, { emoji });
export const markRead = (roomId, messageId) => request('POST', `/rooms/${enc(roomId)}/read`, { message_id: messageId });
export const sendTyping = (roomId) => request('POST', `/rooms/${enc(roomId)}/typing`);
export const search = (text, roomId) => request('GET', `/search${q({ q: text, room_id: roomId })}`);

// Files
export const fileUrl = (id) => `${BASE}/files/${enc(id)}`;
/**
 * Asks whether a route exists without changing anything (unknown ids, invalid bodies). Resolves false
 * for 501/405, a bare 404, or a 404 that says the route itself is unknown; true for any other answer.
 */
export async function probe(method, path, body) {
  try {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) { init.headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    const res = await fetch(BASE + path, init);
    if (res.status === 501 || res.status === 405) return false;
    if (res.status !== 404) return true;
    const data = await res.json().catch(() => null);
    const e = data && data.error;
    if (!e || !e.code) return false;
    return !(/no_route|not_implemented/.test(e.code) || /route|not implemented/i.test(e.message || ''));
  } catch {
    return null;
  }
}

/** Uploads a Blob with progress (XHR: fetch has no upload progress). Resolves {id, name, size, mime}. */
export function uploadFile(blob, name, onProgress, signalHolder = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    signalHolder.abort = () => xhr.abort();
    xhr.open('POST', `${BASE}/files${q({ name })}`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Content-Type', blob.type || 'application/octet-stream');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded, e.total); };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'Upload failed: the node could not be reached'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Upload cancelled'));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* empty */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
      else {
        const e = (body && body.error) || {};
        reject(new ApiError(xhr.status, e.code || null, e.message || `Upload failed (${xhr.status})`));
      }
    };
    xhr.send(blob);
  });
}

/** Downloads a file with progress; resolves a Blob. */
export async function downloadFile(id, onProgress) {
  const res = await fetch(fileUrl(id), { credentials: 'same-origin' });
  if (!res.ok) throw await parseError(res);
  const total = Number(res.headers.get('Content-Length')) || 0;
  if (!res.body || !res.body.getReader) return res.blob();
  const reader = res.body.getReader();
  const chunks = [];
  let done = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    chunks.push(r.value);
    done += r.value.length;
    if (onProgress) onProgress(done, total);
  }
  return new Blob(chunks, { type: res.headers.get('Content-Type') || 'application/octet-stream' });
}

// Node
export const getNode = () => request('GET', '/node');
export const addPeer = (addr) => request('POST', '/node/peers', { addr });
