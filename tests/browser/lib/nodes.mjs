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

// CHATLY_TEST_MOCK=1 runs the suite against lib/mock-node.mjs instead (all "nodes" share one mock), to
// check the tests themselves while the real binary is not built.
const MOCK = process.env.CHATLY_TEST_MOCK === '1';
let sharedMock = null;

export function binaryExists() { return MOCK || existsSync(CHATLY_BIN); }

async function startMock(name) {
  const { startMockNode } = await import('./mock-node.mjs');
  if (!sharedMock) sharedMock = { node: await startMockNode({ peers: 1 }), users: 0 };
  sharedMock.users += 1;
  const { url } = sharedMock.node;
  return { name, url, addrs: ['/ip4/127.0.0.1/tcp/40001/p2p/12D3KooWmock'], peerId: '12D3KooWmock', logs: () => '',
    stop: async () => { sharedMock.users -= 1; if (!sharedMock.users) { await sharedMock.node.close(); sharedMock = null; } } };
}

/** Starts one node; resolves {url, addrs, peerId, proc, logs(), stop()}. */
export async function startNode({ peers = [], name = 'node' } = {}) {
  if (MOCK) return startMock(name);
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
