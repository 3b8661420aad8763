// Groups and direct chats in the web UI against real chatly nodes, in Chromium: alice (browser, node A)
// creates an encrypted group with bob (node B, scripted over HTTP), they talk both ways, alice renames it,
// adds carol and removes bob in the settings, leaves; then opens bob's card (safety number) and starts a
// direct chat whose id bob gets too.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startNode, client, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launchPersistent, tempDir, watch, waitFor } from './lib/browser.mjs';
import { signUp, waitForRoom, sendMessage, messageTexts } from './lib/ui.mjs';

const PASSWORD = 'correct horse 1';

describe('groups and direct chats: real nodes', { skip: !binaryExists() && `no chatly binary at ${CHATLY_BIN}` }, () => {
  let A;
  let B;
  let profileDir;
  let ctx;
  let page;
  let problems;
  let bob;
  let carol;
  let bobUser;
  let carolUser;

  before(async () => {
    A = await startNode({ name: 'a' });
    B = await startNode({ name: 'b', peers: [A.addrs[0]] });
    bob = client(B.url);
    carol = client(B.url);
    bobUser = await bob.signUp('bob', PASSWORD, 'Bob');
    carolUser = await carol.signUp('carol', PASSWORD, 'Carol');
    profileDir = await tempDir('chatly-profile-');
    ctx = await launchPersistent(profileDir);
    page = ctx.pages()[0] || await ctx.newPage();
    problems = watch(page);
    await page.goto(A.url);
    await signUp(page, { username: 'alice', password: PASSWORD, displayName: 'Alice' });
    await waitForRoom(page, 'Public');
    await page.getByRole('navigation', { name: 'Rooms and people' }).getByText('Carol').waitFor({ timeout: 20000 });
  });

  after(async () => {
    await ctx?.close().catch(() => {});
    await Promise.all([A?.stop(), B?.stop()]);
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  async function bobsRoom(name) {
    return waitFor(async () => (await bob.call('GET', '/rooms')).find((r) => r.name === name), { what: `bob to see ${name}`, timeout: 20000 });
  }

  it('creates an encrypted group, talks both ways, renames, adds, removes and leaves', async () => {
    await page.getByRole('button', { name: 'Create a group' }).click();
    await page.getByLabel('Group name').fill('Weekend');
    await page.getByRole('dialog').locator('label', { hasText: 'Bob' }).locator('input[type=checkbox]').check();
    await page.getByRole('button', { name: 'Create group' }).click();
    await waitForRoom(page, 'Weekend');
    await page.locator('main [aria-label="End-to-end encrypted"]').waitFor();

    await sendMessage(page, 'hello weekend');
    const room = await bobsRoom('Weekend');
    assert.equal(room.encrypted, true);
    await waitFor(async () => (await bob.call('GET', `/rooms/${room.id}/messages`)).messages.some((m) => m.text === 'hello weekend'),
      { what: 'bob to read alice', timeout: 20000 });
    await bob.post(room.id, 'bob was here');
    await waitFor(async () => (await messageTexts(page)).includes('bob was here'), { what: "bob's message on alice's screen", timeout: 20000 });

    await page.getByRole('button', { name: 'Room details and settings' }).click();
    await page.locator('#rs-name').fill('Long weekend');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#room-title', { hasText: 'Long weekend' }).waitFor({ timeout: 15000 });
    await bobsRoom('Long weekend');

    await page.locator('#rs-add').selectOption(carolUser.id);
    await page.getByRole('group', { name: 'Add a member' }).getByRole('button', { name: 'Add' }).click();
    await waitFor(async () => (await carol.call('GET', `/rooms/${room.id}`)).members.includes(carolUser.id),
      { what: 'carol to be a member', timeout: 20000 });
    await page.getByRole('button', { name: 'Remove Bob' }).click();
    await waitFor(async () => {
      try { await bob.call('GET', `/rooms/${room.id}`); return false; } catch (e) { return e.status === 404; }
    }, { what: "bob's node to drop him from the room", timeout: 20000 });

    await page.getByRole('button', { name: 'Leave group' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Leave', exact: true }).click();
    await waitForRoom(page, 'Public');
    await waitFor(async () => !(await page.getByRole('list', { name: 'Rooms' }).innerText()).includes('Long weekend'),
      { what: 'the group to leave the room list' });
    await waitFor(async () => (await carol.call('GET', `/rooms/${room.id}`)).admins.includes(carolUser.id),
      { what: 'carol, the remaining member, to become admin', timeout: 20000 });
  });

  it("starts a direct chat from a person's card, with the safety number shown", async () => {
    await page.getByRole('list', { name: 'People' }).getByText('Bob').click();
    const safety = page.getByRole('dialog').getByLabel('Safety number');
    await safety.waitFor();
    assert.equal((await safety.innerText()).replace(/\D/g, '').length, 60);
    await page.getByRole('dialog').getByRole('button', { name: 'Message' }).click();
    await waitForRoom(page, 'Bob');
    await sendMessage(page, 'hi bob, just us');
    const alice = await (await page.request.get(`${A.url}/api/v1/me`)).json();
    const direct = await bob.call('POST', '/rooms', { kind: 'direct', user_id: alice.id });
    assert.equal(direct.kind, 'direct');
    await waitFor(async () => (await bob.call('GET', `/rooms/${direct.id}/messages`)).messages.some((m) => m.text === 'hi bob, just us'),
      { what: 'bob to read the direct message', timeout: 20000 });
    const rooms = await (await page.request.get(`${A.url}/api/v1/rooms`)).json();
    assert.ok(rooms.some((r) => r.id === direct.id), 'the same direct room id on both sides');
    assert.deepEqual(problems, []);
  });
});
