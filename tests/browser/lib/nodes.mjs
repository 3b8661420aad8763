// Starts real chatly nodes as child processes (binary from CHATLY_BIN, default ../../target/debug/chatly),
// each with its own temp data dir, a free HTTP port and a loopback listen address; parses the printed
// "Chatly UI:" and "Listening on:" lines, waits for /healthz, and kills them at the end.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, waitFor } from './browser.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CHATLY_BIN = process.env.CHATLY_BIN
  ? path.resolve(process.env.CHATLY_BIN)
  : path.resolve(HERE, '../../../target/debug/chatly');

export function binaryExists() { return existsSync(CHATLY_BIN); }

/** Starts one node; resolves {url, addrs, peerId, proc, logs(), stop()}. */
export async function startNode({ peers = [], name = 'node' } = {}) {
  const dataDir = await tempDir(`chatly-${name}-`);
  const args = ['run', '--data-dir', dataDir, '--http', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'];
  for (const p of peers) args.push('--peer', p);
  const proc = spawn(CHATLY_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' } });
  const node = { name, dataDir, proc, url: null, addrs: [], peerId: null, out: '' };
  let buf = '';
  const onLine = (line) => {
    const ui = line.match(/Chatly UI:\s*(http:\/\/\S+)/);
    if (ui) node.url = ui[1].replace(/\/$/, '');
    const listen = line.match(/Listening on:\s*(\S+)/);
    if (listen) node.addrs.push(listen[1]);
    const pid = line.match(/Peer id:\s*(\S+)/);
    if (pid) node.peerId = pid[1];
  };
  proc.stdout.on('data', (d) => {
    node.out += d;
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) { onLine(buf.slice(0, i)); buf = buf.slice(i + 1); }
  });
  proc.stderr.on('data', (d) => { node.out += d; if (node.out.length > 200000) node.out = node.out.slice(-100000); });
  let exited = null;
  proc.on('exit', (code, sig) => { exited = `exited with ${code ?? sig}`; });

  node.logs = () => node.out;
  node.stop = async () => {
    if (exited === null) {
      proc.kill('SIGTERM');
      const done = new Promise((r) => proc.once('exit', r));
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await done;
      clearTimeout(t);
    }
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitFor(() => { if (exited) throw new Error(`${name} ${exited}:\n${node.out}`); return node.url && node.addrs.length; },
      { timeout: 30000, what: `${name} to print its UI URL and listen address` });
    await waitFor(async () => (await fetch(`${node.url}/healthz`)).ok, { timeout: 15000, what: `${name} /healthz` });
  } catch (e) {
    await node.stop();
    throw new Error(`${e.message}\n--- ${name} output ---\n${node.out}`);
  }
  return node;
}

/** A node's HTTP API as a Bearer client (no browser), for scripting a second person. */
export function client(baseUrl) {
  let token = null;
  const call = async (method, p, body) => {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`${baseUrl}/api/v1${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) {
      const e = new Error(`${method} ${p} -> ${res.status} ${text}`);
      e.status = res.status;
      e.body = json;
      throw e;
    }
    return json;
  };
  return {
    call,
    async signUp(username, password, displayName) {
      await call('POST', '/accounts', { username, password, display_name: displayName });
      const s = await call('POST', '/sessions', { username, password });
      token = s.token;
      return s.user;
    },
    post: (roomId, text) => call('POST', `/rooms/${encodeURIComponent(roomId)}/messages`, { text }),
    /** The session token, for raw requests (file upload and download). */
    get token() { return token; },
  };
}

/**
 * Calls `post(i)` for i in 0..count: the first alone and the last five one after another, so the oldest
 * and the newest message are known; the rest with `inFlight` requests at a time, to seed a long history
 * through the real API in seconds.
 */
export async function postMany(count, post, { inFlight = 32 } = {}) {
  if (count <= 0) return;
  await post(0);
  const tail = Math.max(1, count - 5);
  let next = 1;
  const worker = async () => { while (next < tail) { const i = next; next += 1; await post(i); } };
  await Promise.all(Array.from({ length: inFlight }, worker));
  for (let i = tail; i < count; i += 1) await post(i);
}
