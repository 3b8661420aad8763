// Launches Debian's Chromium through playwright-core (never a downloaded browser) and collects page
// errors, console errors and CSP violations so every test can assert the page stayed clean.

import { chromium } from 'playwright-core';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function tempDir(prefix = 'chatly-browser-') {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A persistent context on a fresh (or given) user data dir: closing and relaunching keeps its storage. */
export async function launchPersistent(userDataDir, opts = {}) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 800 }, ...opts,
  });
}

export async function launch() {
  const dir = await tempDir('chatly-profile-');
  const ctx = await launchPersistent(dir);
  return { ctx, dir, async close() { await ctx.close().catch(() => {}); await rm(dir, { recursive: true, force: true }); } };
}

/** Records problems on a page: uncaught errors, console errors and CSP violations. */
export function watch(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    // failed requests the UI expects (401 before login, probes of optional endpoints) are not problems
    if (/Failed to load resource|status of 40[14]|status of 501|WebSocket connection/.test(text)) return;
    problems.push(`console: ${text}`);
  });
  return problems;
}

export async function waitFor(fn, { timeout = 15000, interval = 100, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}
