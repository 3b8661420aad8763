// The web UI on a node without the optional endpoints (search, files, typing, receipts, reactions,
// presence, groups, edit, delete): it hides what is missing and shows no errors. A real node serves
// the page; the browser replaces those routes' answers with the ones an older node gives.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, client, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launch, watch } from './lib/browser.mjs';
import { signUp, waitForRoom } from './lib/ui.mjs';

const PASSWORD = 'correct horse 1';
const skip = !binaryExists() && `no chatly binary at ${CHATLY_BIN}`;

// What an older node answers for a route it does not have (what the UI's feature probes look for).
const NO_ROUTE = { status: 404, contentType: 'application/json', body: JSON.stringify({ error: { code: 'not_found', message: 'no such API route' } }) };

/** Makes the page see a node without search, files, typing, receipts, reactions, presence, groups, edit or delete. */
async function withoutOptionalEndpoints(page) {
  await page.route('**/api/v1/**', (route) => {
    const req = route.request();
    const p = new URL(req.url()).pathname.replace(/^\/api\/v1/, '');
    const method = req.method();
    if (/^\/(search|files|presence)(\/|$)/.test(p) || /\/(typing|read|reactions)$/.test(p)) return route.fulfill(NO_ROUTE);
    if (/^\/rooms\/[^/]+\/messages\/[^/]+$/.test(p) && (method === 'PATCH' || method === 'DELETE')) return route.fulfill(NO_ROUTE);
    if (p === '/rooms' && method === 'POST') {
      return route.fulfill({ status: 501, contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'not_implemented', message: 'group and direct rooms are not available on this node' } }) });
    }
    return route.continue();
  });
}

describe('web UI on a node without the optional endpoints', { skip }, () => {
  it('hides what is missing and shows no errors', async () => {
    const node = await startNode({ name: 'older' });
    const browser = await launch();
    try {
      const page = browser.ctx.pages()[0] || await browser.ctx.newPage();
      const problems = watch(page);
      await withoutOptionalEndpoints(page);
      const bob = client(node.url);
      await bob.signUp('bob', PASSWORD, 'Bob');
      await page.goto(node.url);
      await signUp(page, { username: 'dave', password: PASSWORD, displayName: 'Dave' });
      await waitForRoom(page);
      await page.locator('#composer-input').type('typing here');
      await page.locator('#composer-input').press('Enter');
      // accepted and saved; with no other node to send it to, it waits in the node's outbox
      await page.locator('#timeline article.msg', { hasText: 'typing here' }).locator('.msg-status[aria-label="Queued"]').waitFor();
      await bob.post('public', 'hello Dave');
      await page.locator('#timeline article.msg', { hasText: 'hello Dave' }).waitFor();
      await page.waitForTimeout(500);
      assert.equal(await page.getByRole('button', { name: 'Search messages' }).isVisible(), false);
      assert.equal(await page.getByRole('button', { name: 'Attach files' }).isVisible(), false);
      assert.equal(await page.getByRole('button', { name: 'Create a group' }).isVisible(), false);
      const row = page.locator('#timeline article.msg', { hasText: 'typing here' });
      await row.hover();
      assert.equal(await row.getByRole('button', { name: 'Reply' }).isVisible(), true);
      for (const name of ['Add reaction', 'Edit', 'Delete']) assert.equal(await row.getByRole('button', { name }).count(), 0, name);
      await page.locator('#composer-input').press('ArrowUp');
      assert.equal(await page.getByText('Editing message').count(), 0);
      assert.equal(await page.locator('.toast').count(), 0);
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await node.stop();
    }
  });
});
