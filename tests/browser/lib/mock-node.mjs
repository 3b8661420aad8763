// An in-memory stand-in for a chatly node that follows shared/design/api.md (plus the UI additions:
// messages?after=, node.peers frames). It serves web-ui/ with the node's CSP, so the UI can be tested in
// Chromium for features the real node has not landed yet. `missing` lists feature groups that answer a
// bare 404, to check that the UI degrades quietly.

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { acceptUpgrade } from './ws.mjs';

const WEB_UI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../web-ui');
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.txt': 'text/plain; charset=utf-8' };

const hex = (s) => createHash('sha256').update(s).digest('hex');

export async function startMockNode({ missing = [], peers = 0 } = {}) {
  const m = {
    accounts: new Map(), // username -> account
    users: new Map(), // id -> User
    sessions: new Map(), // token -> user id
    rooms: new Map(),
    messages: new Map(), // room id -> [Message]
    files: new Map(),
    sockets: new Set(),
    seq: 0,
    peers,
    missing: new Set(missing),
    peerId: `12D3KooW${randomBytes(16).toString('hex')}`,
  };
  m.rooms.set('public', { id: 'public', kind: 'public', name: 'Public', description: '', members: [], admins: [], unread: 0,
    last_message: null, encrypted: false });
  m.messages.set('public', []);

  const server = http.createServer((req, res) => handle(m, req, res).catch((e) => {
    console.error(e);
    send(res, 500, { error: { code: 'internal', message: String(e) } });
  }));
  server.on('upgrade', (req, socket) => {
    const uid = auth(m, req);
    if (!req.url.startsWith('/api/v1/events') || !uid) { socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n'); return; }
    const conn = acceptUpgrade(req, socket);
    if (!conn) return;
    const entry = { conn, uid };
    m.sockets.add(entry);
    conn.onclose = () => { m.sockets.delete(entry); setPresence(m, uid); };
    setPresence(m, uid);
    conn.send(JSON.stringify({ type: 'node.peers', connected: m.peers }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    m,
    /** Adds an account and a session directly; returns {user, token}. */
    async account(username, displayName = username, password = 'password123') {
      const user = createAccount(m, username, password, displayName);
      const token = randomBytes(16).toString('hex');
      m.sessions.set(token, user.id);
      return { user, token };
    },
    post(userId, roomId, text, extra = {}) { return postMessage(m, userId, roomId, text, extra); },
    broadcast: (frame, filter) => broadcast(m, frame, filter),
    setPeers(n) { m.peers = n; broadcast(m, { type: 'node.peers', connected: n }); },
    dropSockets() { for (const s of [...m.sockets]) s.conn.kill(); },
    close: () => new Promise((r) => { for (const s of m.sockets) s.conn.kill(); server.closeAllConnections?.(); server.close(r); }),
  };
}

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(text);
}
const err = (res, status, code, message, headers) => send(res, status, { error: { code, message } }, headers);

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k) out[k] = v.join('=');
  }
  return out;
}

function auth(m, req) {
  const bearer = (req.headers.authorization || '').replace(/^Bearer /, '');
  const tok = bearer || cookies(req).chatly_session;
  return tok ? m.sessions.get(tok) || null : null;
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks);
}

function createAccount(m, username, password, displayName) {
  const id = hex(`user:${username}`);
  const user = { id, username, display_name: displayName || username, avatar: null, bio: '', node_id: m.peerId,
    online: false, last_seen: new Date().toISOString(), fingerprint: hex(`fp:${username}`).replace(/[a-f]/g, (c) => String(c.charCodeAt(0) % 10)).slice(0, 60) };
  m.accounts.set(username, { password, id });
  m.users.set(id, user);
  m.rooms.get('public').members.push(id);
  return user;
}

function online(m, uid) { return [...m.sockets].some((s) => s.uid === uid); }

function setPresence(m, uid) {
  const u = m.users.get(uid);
  const on = online(m, uid);
  if (!u || u.online === on) return;
  u.online = on;
  u.last_seen = new Date().toISOString();
  broadcast(m, { type: 'presence', user_id: uid, online: on, last_seen: u.last_seen });
}

function broadcast(m, frame, filter = () => true) {
  const text = JSON.stringify(frame);
  for (const s of m.sockets) if (filter(s.uid)) s.conn.send(text);
}

function roomFor(m, room, uid) {
  const msgs = m.messages.get(room.id) || [];
  const read = room.reads?.[uid];
  const idx = read ? msgs.findIndex((x) => x.id === read) : -1;
  const unread = msgs.slice(idx + 1).filter((x) => x.author !== uid).length;
  return { ...room, reads: undefined, unread, last_message: msgs[msgs.length - 1] || null };
}

function postMessage(m, uid, roomId, text, { files = [], reply_to = null, sent_at } = {}) {
  m.seq += 1;
  const msg = { id: `m${String(m.seq).padStart(8, '0')}${randomBytes(4).toString('hex')}`, room_id: roomId, author: uid, text,
    files: files.map((id) => m.files.get(id)?.meta).filter(Boolean), reply_to, sent_at: sent_at || new Date().toISOString(),
    edited_at: null, deleted: false, reactions: {} };
  m.messages.get(roomId).push(msg);
  const room = m.rooms.get(roomId);
  broadcast(m, { type: 'message.created', message: msg }, (u) => room.kind === 'public' || room.members.includes(u));
  return msg;
}

const FEATURE_OF = [
  [/^\/api\/v1\/search/, 'search'], [/^\/api\/v1\/files/, 'files'], [/\/typing$/, 'typing'], [/\/read$/, 'read'],
  [/\/reactions$/, 'reactions'], [/^\/api\/v1\/presence/, 'presence'],
];

async function handle(m, req, res) {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  if (!p.startsWith('/api/') && p !== '/healthz') return serveStatic(res, p);
  if (p === '/healthz') { res.writeHead(200); res.end('ok'); return; }
  // a missing feature answers like the real node's fallback for unknown routes
  for (const [re, f] of FEATURE_OF) if (re.test(p) && m.missing.has(f)) return err(res, 404, 'not_found', 'no such API route');
  const method = req.method;
  const raw = await body(req);
  let json = {};
  if (raw.length && (req.headers['content-type'] || '').includes('json')) json = JSON.parse(raw.toString());

  if (p === '/api/v1/accounts' && method === 'POST') {
    if (m.accounts.has(json.username)) return err(res, 409, 'username_taken', 'That username is taken');
    if (!/^[a-z0-9_.-]{3,32}$/.test(json.username || '')) return err(res, 422, 'invalid_username', 'Usernames are 3-32 of a-z0-9_.-');
    if ((json.password || '').length < 8) return err(res, 422, 'password_too_short', 'Passwords need at least 8 characters');
    return send(res, 201, { user: createAccount(m, json.username, json.password, json.display_name) });
  }
  if (p === '/api/v1/sessions' && method === 'POST') {
    const a = m.accounts.get(json.username);
    if (json.username === 'ratelimited') return err(res, 429, 'rate_limited', 'Too many attempts', { 'Retry-After': '42' });
    if (!a || a.password !== json.password) return err(res, 401, 'bad_credentials', 'Wrong username or password');
    const token = randomBytes(16).toString('hex');
    m.sessions.set(token, a.id);
    const cookie = `chatly_session=${token}; Path=/; HttpOnly; SameSite=Strict${json.remember_me ? '; Max-Age=2592000' : ''}`;
    return send(res, 200, { token, user: m.users.get(a.id) }, { 'Set-Cookie': cookie });
  }
  const uid = auth(m, req);
  if (!uid) return err(res, 401, 'unauthorized', 'Log in first');
  const me = m.users.get(uid);

  if (p === '/api/v1/sessions/current' && method === 'DELETE') {
    for (const [t, u] of m.sessions) if (u === uid && cookies(req).chatly_session === t) m.sessions.delete(t);
    res.writeHead(204, { 'Set-Cookie': 'chatly_session=; Path=/; Max-Age=0' }); res.end(); return;
  }
  if (p === '/api/v1/me' && method === 'GET') return send(res, 200, me);
  if (p === '/api/v1/me' && method === 'PATCH') {
    Object.assign(me, Object.fromEntries(Object.entries(json).filter(([k]) => ['display_name', 'bio', 'avatar'].includes(k))));
    broadcast(m, { type: 'user.updated', user: me });
    return send(res, 200, me);
  }
  if (p === '/api/v1/users') return send(res, 200, [...m.users.values()]);
  if (p === '/api/v1/presence') {
    const on = [...m.users.keys()].filter((id) => online(m, id));
    return send(res, 200, { online_count: on.length, online: on });
  }
  if (p === '/api/v1/node') {
    return send(res, 200, { peer_id: m.peerId, version: '0.1.0-mock', http_addr: req.headers.host,
      listen_addrs: ['/ip4/127.0.0.1/tcp/40001'], peers: Array.from({ length: m.peers }, (_, i) => ({
        peer_id: `12D3KooWpeer${i}`, addrs: [`/ip4/127.0.0.1/tcp/4100${i}`], source: i ? 'mdns' : 'static' })) });
  }
  if (p === '/api/v1/node/peers' && method === 'POST') {
    if (!String(json.addr || '').startsWith('/')) return err(res, 400, 'bad_multiaddr', 'invalid multiaddr');
    res.writeHead(202); res.end(); return;
  }
  if (p === '/api/v1/rooms' && method === 'GET') {
    return send(res, 200, [...m.rooms.values()].filter((r) => r.kind === 'public' || r.members.includes(uid)).map((r) => roomFor(m, r, uid)));
  }
  if (p === '/api/v1/rooms' && method === 'POST') {
    if (m.missing.has('groups')) return err(res, 501, 'not_implemented', 'group and direct rooms are not available on this node yet');
    if (json.kind !== 'direct' && json.kind !== 'group') return err(res, 422, 'bad_kind', 'kind is group or direct');
    let room;
    if (json.kind === 'direct') {
      const id = `d-${[uid, json.user_id].sort().join('-').slice(0, 40)}`;
      if (m.rooms.has(id)) return send(res, 200, roomFor(m, m.rooms.get(id), uid));
      room = { id, kind: 'direct', name: '', description: '', members: [uid, json.user_id], admins: [], encrypted: true };
    } else {
      room = { id: `g-${randomBytes(6).toString('hex')}`, kind: 'group', name: json.name, description: '',
        members: [uid, ...(json.members || [])], admins: [uid], encrypted: true };
    }
    m.rooms.set(room.id, room);
    m.messages.set(room.id, []);
    broadcast(m, { type: 'room.updated', room: roomFor(m, room, uid) }, (u) => room.members.includes(u));
    return send(res, 201, roomFor(m, room, uid));
  }
  if (p === '/api/v1/search') {
    const q = (url.searchParams.get('q') || '').toLowerCase();
    const rid = url.searchParams.get('room_id');
    const found = [];
    for (const [id, msgs] of m.messages) {
      if (rid && id !== rid) continue;
      for (const x of msgs) if (!x.deleted && x.text.toLowerCase().includes(q)) found.push(x);
    }
    return send(res, 200, { messages: found.slice(-50).reverse() });
  }
  if (p === '/api/v1/files' && method === 'POST') {
    const id = hex(raw.toString('base64') + Math.random()).slice(0, 32);
    const meta = { id, name: url.searchParams.get('name') || 'file', size: raw.length, mime: req.headers['content-type'] || 'application/octet-stream' };
    m.files.set(id, { meta, bytes: raw });
    return send(res, 201, meta);
  }
  const fm = p.match(/^\/api\/v1\/files\/([^/]+)$/);
  if (fm) {
    const f = m.files.get(fm[1]);
    if (!f) return err(res, 404, 'not_found', 'No such file');
    res.writeHead(200, { 'Content-Type': f.meta.mime, 'Content-Length': f.bytes.length, 'X-Content-Type-Options': 'nosniff' });
    res.end(f.bytes);
    return;
  }
  const rm = p.match(/^\/api\/v1\/rooms\/([^/]+)(\/.*)?$/);
  if (rm) return roomRoute(m, req, res, url, decodeURIComponent(rm[1]), rm[2] || '', uid, json);
  return err(res, 404, 'not_found', 'No such route');
}

function roomRoute(m, req, res, url, roomId, rest, uid, json) {
  const room = m.rooms.get(roomId);
  if (!room || (room.kind !== 'public' && !room.members.includes(uid))) return err(res, 404, 'not_found', 'No such room');
  const msgs = m.messages.get(roomId);
  const method = req.method;
  const members = (u) => room.kind === 'public' || room.members.includes(u);
  const updated = () => { broadcast(m, { type: 'room.updated', room: roomFor(m, room, uid) }, members); return send(res, 200, roomFor(m, room, uid)); };
  if (!rest && method === 'GET') return send(res, 200, roomFor(m, room, uid));
  if (!rest && method === 'PATCH') {
    if (!room.admins.includes(uid)) return err(res, 403, 'not_admin', 'Admins only');
    if (json.name != null) room.name = json.name;
    if (json.description != null) room.description = json.description;
    return updated();
  }
  if (rest === '/members' && method === 'POST') { if (!room.members.includes(json.user_id)) room.members.push(json.user_id); return updated(); }
  const mem = rest.match(/^\/members\/([^/]+)$/);
  if (mem && method === 'DELETE') {
    room.members = room.members.filter((x) => x !== mem[1]);
    if (mem[1] === uid) {
      broadcast(m, { type: 'room.removed', room_id: roomId }, (u) => u === uid);
      res.writeHead(204); res.end(); return;
    }
    return updated();
  }
  if (rest === '/admins' && method === 'POST') { room.admins.push(json.user_id); return updated(); }
  if (rest === '/messages' && method === 'GET') {
    const limit = Math.min(200, Number(url.searchParams.get('limit')) || 50);
    const before = url.searchParams.get('before');
    const after = url.searchParams.get('after');
    let list;
    let hasMore;
    if (after) {
      const i = msgs.findIndex((x) => x.id === after);
      list = msgs.slice(i + 1, i + 1 + limit);
      hasMore = i + 1 + limit < msgs.length;
    } else {
      const end = before ? msgs.findIndex((x) => x.id === before) : msgs.length;
      list = msgs.slice(Math.max(0, end - limit), end);
      hasMore = end - limit > 0;
    }
    return send(res, 200, { messages: list, has_more: hasMore });
  }
  if (rest === '/messages' && method === 'POST') {
    if (typeof json.text !== 'string') return err(res, 422, 'bad_text', 'text is required');
    if (Buffer.byteLength(json.text) > 16384) return err(res, 413, 'too_large', 'Message text over 16 KiB');
    return send(res, 201, postMessage(m, uid, roomId, json.text, json));
  }
  const mm = rest.match(/^\/messages\/([^/]+)(\/reactions)?$/);
  if (mm) {
    const msg = msgs.find((x) => x.id === mm[1]);
    if ((mm[2] && m.missing.has('reactions')) || (!mm[2] && m.missing.has(method === 'PATCH' ? 'edit' : 'delete'))) {
      return err(res, 404, 'not_found', 'no such API route');
    }
    if (!msg) return err(res, 404, 'not_found', 'No such message');
    if (mm[2] && method === 'POST') {
      const list = new Set(msg.reactions[json.emoji] || []);
      if (list.has(uid)) list.delete(uid); else list.add(uid);
      if (list.size) msg.reactions[json.emoji] = [...list]; else delete msg.reactions[json.emoji];
    } else if (method === 'PATCH') {
      if (msg.author !== uid) return err(res, 403, 'not_author', 'Only the author can edit');
      msg.text = json.text;
      msg.edited_at = new Date().toISOString();
    } else if (method === 'DELETE') {
      msg.deleted = true; msg.text = ''; msg.files = [];
      broadcast(m, { type: 'message.deleted', room_id: roomId, message_id: msg.id }, members);
      res.writeHead(204); res.end(); return;
    }
    broadcast(m, { type: 'message.updated', message: msg }, members);
    return send(res, 200, msg);
  }
  if (rest === '/read' && method === 'POST') {
    room.reads = { ...(room.reads || {}), [uid]: json.message_id };
    broadcast(m, { type: 'receipt', room_id: roomId, user_id: uid, message_id: json.message_id }, members);
    res.writeHead(204); res.end(); return;
  }
  if (rest === '/typing' && method === 'POST') {
    broadcast(m, { type: 'typing', room_id: roomId, user_id: uid }, (u) => members(u) && u !== uid);
    res.writeHead(204); res.end(); return;
  }
  return err(res, 404, 'not_found', 'No such route');
}

async function serveStatic(res, p) {
  const rel = p === '/' ? 'index.html' : p.replace(/^\/+/, '');
  const file = path.resolve(WEB_UI, rel);
  if (!file.startsWith(WEB_UI)) { res.writeHead(403); res.end(); return; }
  try {
    const data = await readFile(file);
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' });
    res.end(data);
  } catch {
    res.writeHead(404); res.end('not found');
  }
}
