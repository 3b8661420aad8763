// Foundation test of the web UI against two real chatly nodes (A and B, B dialling A), in Chromium:
// sign up on A and land in the public room, post and see it, see B's message arrive live with the right
// author, text stays text (no XSS), catch-up after a WebSocket outage, "remember me" across browser
// restarts, screenshots (light/dark, desktop/phone) and an axe accessibility check.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNode, client, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launchPersistent, tempDir, watch, waitFor } from './lib/browser.mjs';
import { signUp, logIn, waitForRoom, sendMessage, messageTexts, axe, serious, DELIVERED } from './lib/ui.mjs';

const SHOTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const PASSWORD = 'correct horse 1';
const XSS = '<img src=x onerror=window.__pwned=1>';

/** The author name shown for the message whose text is `text` (walks up to the first row of its group). */
async function authorOf(page, text) {
  return page.evaluate((t) => {
    const arts = [...document.querySelectorAll('#timeline article.msg')];
    let i = arts.findIndex((a) => a.querySelector('.msg-text')?.textContent.startsWith(t));
    if (i < 0) return null;
    while (i > 0 && arts[i].classList.contains('grouped')) i -= 1;
    return arts[i].querySelector('.author')?.textContent ?? null;
  }, text);
}

describe('foundation: two real nodes', { skip: !binaryExists() && `no chatly binary at ${CHATLY_BIN}` }, () => {
  let A;
  let B;
  let profileDir;
  let ctx;
  let page;
  let problems;

  before(async () => {
    A = await startNode({ name: 'a' });
    B = await startNode({ name: 'b', peers: [A.addrs[0]] });
    profileDir = await tempDir('chatly-profile-');
    ctx = await launchPersistent(profileDir);
    page = ctx.pages()[0] || await ctx.newPage();
    problems = watch(page);
  });

  after(async () => {
    await ctx?.close().catch(() => {});
    await Promise.all([A?.stop(), B?.stop()]);
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  it('shows the welcome screen and clear errors', async () => {
    await page.goto(A.url);
    await page.getByRole('tab', { name: 'Log in' }).waitFor();
    await logIn(page, { username: 'nobody', password: 'wrong password' });
    await page.locator('#form-error', { hasText: 'Wrong username or password' }).waitFor();
    const v = serious(await axe(page));
    assert.deepEqual(v, [], `axe on the welcome screen: ${JSON.stringify(v, null, 1)}`);
  });

  it('signs up on node A and lands in the public room', async () => {
    await signUp(page, { username: 'alice', password: PASSWORD, displayName: 'Alice A' });
    await waitForRoom(page);
    assert.match(page.url(), /#\/room\/public$/);
    await page.locator('#user-menu-btn', { hasText: 'Alice A' }).waitFor();
  });

  it('refuses a taken username with 409 username_taken', async () => {
    const e = await client(A.url).call('POST', '/accounts', { username: 'alice', password: 'another pass 1' }).catch((x) => x);
    assert.equal(e.status, 409);
    assert.equal(e.body?.error?.code, 'username_taken');
  });

  it('posts a message and sees it sent', async () => {
    await sendMessage(page, 'Hello from Alice');
    await page.locator('#timeline article.msg', { hasText: 'Hello from Alice' }).waitFor();
    await page.locator('#timeline article.msg', { hasText: 'Hello from Alice' }).locator(DELIVERED)
      .waitFor({ timeout: 15000 });
    assert.equal(await page.locator('#composer-input').inputValue(), '');
  });

  it('shows a message posted on node B live, with the right author', async () => {
    const bob = client(B.url);
    await bob.signUp('bob', PASSWORD, 'Bob on B');
    const text = `Hi from Bob on node B ${Date.now()}`;
    await bob.post('public', text);
    await page.locator('#timeline article.msg', { hasText: text }).waitFor({ timeout: 45000 });
    // the author's profile may reach node A just after the message: the name must follow within seconds
    await waitFor(async () => (await authorOf(page, text)) === 'Bob on B', { timeout: 10000, what: 'author name "Bob on B"' });
    assert.equal(await page.locator('#timeline article.msg', { hasText: text }).count(), 1);
  });

  it('renders HTML in messages as literal text', async () => {
    const bob = client(B.url);
    await bob.signUp('bob2', PASSWORD, 'Bob Two');
    await bob.post('public', XSS);
    await sendMessage(page, `${XSS} (from Alice)`);
    await waitFor(async () => (await messageTexts(page)).filter((t) => t.startsWith(XSS)).length === 2,
      { timeout: 45000, what: 'both XSS messages as text' });
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator('#timeline img[src="x"]').count(), 0);
  });

  it('shows the node page: peer id, addresses, the connected peer and how it was found', async () => {
    await page.locator('#conn-state').click();
    const nodePage = page.locator('#node-page');
    await nodePage.waitFor();
    if (A.peerId) await nodePage.getByText(A.peerId, { exact: true }).first().waitFor();
    await nodePage.locator('.addr-list code', { hasText: A.addrs[0].split('/p2p/')[0] }).first().waitFor();
    await nodePage.locator('.peers-table tbody tr').first().waitFor({ timeout: 15000 });
    const source = await nodePage.locator('.peers-table .source-tag').first().textContent();
    assert.ok(source && source !== 'Unknown', `how the peer was found: ${source}`);
    await nodePage.getByLabel('Peer address (multiaddr)').fill('/not-a-multiaddr');
    await nodePage.getByRole('button', { name: 'Add', exact: true }).click();
    await nodePage.locator('.add-peer-msg.error').waitFor();
    await page.locator('.nav-item[data-room-id="public"]').click();
    await waitForRoom(page);
  });

  it('catches up what it missed while the WebSocket was down, without duplicates', async () => {
    await page.evaluate(() => window.__chatly.socket.suspend());
    await page.locator('#conn-state', { hasText: 'Reconnecting' }).waitFor();
    const bob = client(B.url);
    await bob.signUp('bob3', PASSWORD, 'Bob Three');
    const texts = [`missed one ${Date.now()}`, `missed two ${Date.now()}`];
    for (const t of texts) await bob.post('public', t);
    // wait until node A has them, then come back
    await waitFor(async () => page.evaluate(async (want) => {
      const r = await (await fetch('/api/v1/rooms/public/messages?limit=50', { credentials: 'same-origin' })).json();
      return want.every((w) => r.messages.some((m) => m.text === w));
    }, texts), { timeout: 45000, what: 'node A to receive B\'s messages' });
    await page.evaluate(() => window.__chatly.socket.resume());
    for (const t of texts) await page.locator('#timeline article.msg', { hasText: t }).waitFor({ timeout: 15000 });
    await page.locator('#conn-state', { hasNotText: 'Reconnecting' }).waitFor();
    const all = await messageTexts(page);
    assert.equal(new Set(all).size, all.length, `duplicates in the view: ${JSON.stringify(all)}`);
  });

  it('writes screenshots of the main screens (light, dark; desktop, phone; the node page)', async () => {
    await mkdir(SHOTS, { recursive: true });
    await page.mouse.move(1, 1);
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.waitForTimeout(200);
      await page.screenshot({ path: path.join(SHOTS, `main-desktop-${scheme}.png`) });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(300);
      await page.screenshot({ path: path.join(SHOTS, `main-phone-${scheme}.png`) });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.locator('#conn-state').click();
    await page.locator('#node-page').waitFor();
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.waitForTimeout(200);
      await page.screenshot({ path: path.join(SHOTS, `node-desktop-${scheme}.png`) });
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.locator('.nav-item[data-room-id="public"]').click();
    await waitForRoom(page);
  });

  it('has no serious accessibility violations on the main screens (desktop, phone, node page, search)', async () => {
    const check = async (what) => {
      for (const scheme of ['light', 'dark']) {
        await page.emulateMedia({ colorScheme: scheme });
        const v = serious(await axe(page));
        assert.deepEqual(v, [], `axe on ${what} (${scheme}): ${JSON.stringify(v, null, 1)}`);
      }
      await page.emulateMedia({ colorScheme: 'light' });
    };
    await check('the main screen');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    await check('the main screen at phone width');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.locator('#conn-state').click();
    await page.locator('#node-page').waitFor();
    await check('the node page');
    await page.locator('.nav-item[data-room-id="public"]').click();
    await waitForRoom(page);
    await page.getByRole('button', { name: 'Search messages' }).click();
    await page.getByRole('dialog', { name: 'Search' }).waitFor();
    await check('the search dialog');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog', { name: 'Search' }).waitFor({ state: 'hidden' });
  });

  it('forgets the session on browser restart without "remember me"', async () => {
    assert.deepEqual(problems, []);
    await ctx.close();
    ctx = await launchPersistent(profileDir);
    page = ctx.pages()[0] || await ctx.newPage();
    problems = watch(page);
    const cookies = await ctx.cookies(A.url);
    assert.equal(cookies.find((c) => c.name === 'chatly_session'), undefined, 'session cookie survived a restart');
    await page.goto(A.url);
    await page.getByRole('tab', { name: 'Log in' }).waitFor();
  });

  it('keeps the session across a browser restart with "remember me"', async () => {
    await logIn(page, { username: 'alice', password: PASSWORD, remember: true });
    await waitForRoom(page);
    await ctx.close();
    ctx = await launchPersistent(profileDir);
    page = ctx.pages()[0] || await ctx.newPage();
    problems = watch(page);
    const cookie = (await ctx.cookies(A.url)).find((c) => c.name === 'chatly_session');
    assert.ok(cookie, 'no session cookie after restart');
    assert.ok(cookie.expires > Date.now() / 1000, 'the remembered cookie should be persistent');
    assert.equal(cookie.httpOnly, true);
    await page.goto(A.url);
    await waitForRoom(page);
    await page.locator('#timeline article.msg', { hasText: 'Hello from Alice' }).waitFor();
    assert.deepEqual(problems, []);
  });
});
