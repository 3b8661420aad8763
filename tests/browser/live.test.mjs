// The live side of chatting against real chatly nodes, in Chromium: alice (browser, node A) and bob
// (node B, scripted over HTTP) in an encrypted group. Bob's typing shows as a typing line, his read
// receipt turns alice's message to "Seen", his reaction appears on it; alice edits with the Up arrow,
// reacts, replies and deletes, and bob's node sees each change. Then search (a result in a room
// alice never opened, far back in its history, opens there) and a keyboard-only round.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startNode, client, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launchPersistent, tempDir, watch, waitFor } from './lib/browser.mjs';
import { signUp, waitForRoom, sendMessage } from './lib/ui.mjs';

const PASSWORD = 'correct horse 1';

describe('typing, receipts, reactions, edit, reply, delete: real nodes', { skip: !binaryExists() && `no chatly binary at ${CHATLY_BIN}` }, () => {
  let A;
  let B;
  let profileDir;
  let ctx;
  let page;
  let problems;
  let bob;
  let bobUser;
  let room;

  const bobsView = async () => (await bob.call('GET', `/rooms/${room.id}/messages`)).messages;

  before(async () => {
    A = await startNode({ name: 'a' });
    B = await startNode({ name: 'b', peers: [A.addrs[0]] });
    bob = client(B.url);
    bobUser = await bob.signUp('bob', PASSWORD, 'Bob');
    profileDir = await tempDir('chatly-profile-');
    ctx = await launchPersistent(profileDir);
    page = ctx.pages()[0] || await ctx.newPage();
    problems = watch(page);
    await page.goto(A.url);
    await signUp(page, { username: 'alice', password: PASSWORD, displayName: 'Alice' });
    await waitForRoom(page, 'Public');
    const aliceId = await waitFor(async () => (await bob.call('GET', '/users')).find((u) => u.username === 'alice')?.id,
      { what: "alice at bob's node", timeout: 20000 });
    room = await bob.call('POST', '/rooms', { kind: 'group', name: 'Crew', members: [aliceId] });
    await bob.post(room.id, 'ahoy alice');
    await page.getByRole('navigation', { name: 'Rooms and people' }).getByText('Crew').click();
    await waitForRoom(page, 'Crew');
    await page.locator('#timeline article.msg', { hasText: 'ahoy alice' }).waitFor({ timeout: 20000 });
  });

  after(async () => {
    await ctx?.close().catch(() => {});
    await Promise.all([A?.stop(), B?.stop()]);
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  it('shows the other member typing, then reading and reacting', async () => {
    await bob.call('POST', `/rooms/${room.id}/typing`, {});
    await page.locator('#typing-line', { hasText: 'Bob is typing' }).waitFor({ timeout: 20000 });
    await sendMessage(page, 'ahoy bob');
    const mine = page.locator('#timeline article.msg', { hasText: 'ahoy bob' });
    const sent = await waitFor(async () => (await bobsView()).find((m) => m.text === 'ahoy bob'),
      { what: "alice's message at bob's node", timeout: 20000 });
    await bob.call('POST', `/rooms/${room.id}/read`, { message_id: sent.id });
    await mine.locator('.msg-status[aria-label="Seen"]').waitFor({ timeout: 20000 });
    await bob.call('POST', `/rooms/${room.id}/messages/${sent.id}/reactions`, { emoji: '🎉' });
    await mine.locator('.reaction', { hasText: '🎉' }).waitFor({ timeout: 20000 });
  });

  it('edits with the Up arrow, replies, reacts and deletes, and the other node follows', async () => {
    const box = page.locator('#composer-input');
    await box.click();
    await box.press('ArrowUp');
    await page.getByText('Editing message').waitFor();
    await box.fill('ahoy bob, edited');
    await box.press('Enter');
    await page.locator('#timeline article.msg', { hasText: 'ahoy bob, edited' }).locator('.edited').waitFor();
    await waitFor(async () => (await bobsView()).some((m) => m.text === 'ahoy bob, edited' && m.edited_at),
      { what: "the edit at bob's node", timeout: 20000 });

    const theirs = page.locator('#timeline article.msg', { hasText: 'ahoy alice' }).first();
    await theirs.hover();
    await theirs.getByRole('button', { name: 'Reply' }).click();
    await sendMessage(page, 'a reply to bob');
    const reply = page.locator('#timeline article.msg', { hasText: 'a reply to bob' });
    await reply.locator('.quote', { hasText: 'ahoy alice' }).waitFor();
    const original = (await bobsView()).find((m) => m.text === 'ahoy alice');
    await waitFor(async () => (await bobsView()).some((m) => m.text === 'a reply to bob' && m.reply_to === original.id),
      { what: "the reply at bob's node", timeout: 20000 });

    await theirs.hover();
    await theirs.getByRole('button', { name: 'Add reaction' }).click();
    await page.getByRole('button', { name: 'React with 🎉' }).click();
    await theirs.locator('.reaction[aria-pressed="true"]', { hasText: '🎉' }).waitFor();
    await waitFor(async () => {
      const m = (await bobsView()).find((x) => x.id === original.id);
      return m && Object.keys(m.reactions).length === 1;
    }, { what: "alice's reaction at bob's node", timeout: 20000 });

    await reply.hover();
    await reply.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.locator('#timeline article.msg.deleted', { hasText: 'This message was deleted' }).waitFor();
    await waitFor(async () => (await bobsView()).some((m) => m.deleted && m.reply_to === original.id),
      { what: "the deletion at bob's node", timeout: 20000 });
    assert.ok(bobUser.id);
  });

  it('finds a message in a room never opened and shows it in context', async () => {
    const archive = await bob.call('POST', '/rooms', { kind: 'group', name: 'Archive', members: [(await bob.call('GET', '/users')).find((u) => u.username === 'alice').id] });
    await bob.post(archive.id, 'the needle is under the floorboard');
    for (let i = 0; i < 70; i += 1) await bob.post(archive.id, `hay ${i}`);
    await page.getByRole('navigation', { name: 'Rooms and people' }).getByText('Archive').waitFor({ timeout: 20000 });
    await page.getByRole('navigation', { name: 'Rooms and people' }).getByText('Public').click();
    await waitForRoom(page, 'Public');
    await page.getByRole('button', { name: 'Search messages' }).click();
    const dlg = page.getByRole('dialog', { name: 'Search' });
    await dlg.getByLabel('Where to search').selectOption('');
    const result = dlg.locator('.search-result', { hasText: 'needle' });
    await waitFor(async () => {
      await dlg.getByLabel('Search messages').fill('');
      await dlg.getByLabel('Search messages').fill('floorb need');
      return (await result.count()) > 0 || null;
    }, { what: 'the search result', timeout: 30000, interval: 1000 });
    await result.first().click();
    await waitForRoom(page, 'Archive');
    const needle = page.locator('#timeline article.msg', { hasText: 'the needle is under the floorboard' });
    await needle.waitFor({ timeout: 15000 });
    await page.waitForTimeout(700);
    const onScreen = await needle.evaluate((el) => {
      const tl = document.getElementById('timeline').getBoundingClientRect();
      const r = el.getBoundingClientRect();
      return r.bottom > tl.top && r.top < tl.bottom;
    });
    assert.ok(onScreen, 'the result is on screen, not scrolled away to the latest');
  });

  it('works from the keyboard alone: switch rooms, send, help, Esc', async () => {
    await page.locator('#composer-input').focus();
    await page.keyboard.press('Control+k');
    const qs = page.getByRole('dialog', { name: 'Go to' });
    await qs.waitFor();
    await page.keyboard.type('crew');
    await page.keyboard.press('Enter');
    await waitForRoom(page, 'Crew');
    await page.keyboard.type('typed without a mouse');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await bobsView()).some((m) => m.text === 'typed without a mouse'),
      { what: "the keyboard message at bob's node", timeout: 20000 });
    await page.keyboard.press('Control+/');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor({ state: 'hidden' });
    await page.keyboard.press('Tab');
    assert.ok(await page.evaluate(() => document.activeElement && document.activeElement !== document.body), 'Tab moves focus');
    assert.deepEqual(problems, []);
  });
});
