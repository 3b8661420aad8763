// A message's delivery state in the web UI against real chatly nodes, in Chromium: alice posts on node A
// while it is alone (the message shows as queued: saved, not yet on any other node), then node B starts
// and dials A; the same message turns into "held by 1 other node" without a reload, and B has it.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startNode, client, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launchPersistent, tempDir, watch, waitFor } from './lib/browser.mjs';
import { signUp, waitForRoom, sendMessage } from './lib/ui.mjs';

describe('delivery state: real nodes', { skip: !binaryExists() && `no chatly binary at ${CHATLY_BIN}` }, () => {
  let A;
  let B;
  let profileDir;
  let ctx;
  let page;
  let problems;

  before(async () => {
    A = await startNode({ name: 'a' });
    profileDir = await tempDir('chatly-profile-');
    ctx = await launchPersistent(profileDir);
    page = ctx.pages()[0] || await ctx.newPage();
    problems = watch(page);
    await page.goto(A.url);
    await signUp(page, { username: 'alice', displayName: 'Alice' });
    await waitForRoom(page, 'Public');
  });

  after(async () => {
    await ctx?.close().catch(() => {});
    await Promise.all([A?.stop(), B?.stop()]);
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  it('shows queued while alone, then held by the node that appears', async () => {
    await sendMessage(page, 'anyone out there?');
    const row = page.locator('#timeline article.msg', { hasText: 'anyone out there?' });
    await row.locator('.msg-status[aria-label="Queued"]').waitFor({ timeout: 15000 });

    B = await startNode({ name: 'b', peers: [A.addrs[0]] });
    await row.locator('.msg-status[aria-label="Held by 1 other node"]').waitFor({ timeout: 30000 });
    const bob = client(B.url);
    await bob.signUp('bob', 'correct horse 1', 'Bob');
    await waitFor(async () => (await bob.call('GET', '/rooms/public/messages')).messages.some((m) => m.text === 'anyone out there?'),
      { what: 'B to hold the message', timeout: 20000 });
    assert.deepEqual(problems, []);
  });
});
