// Files and profiles in the web UI against real chatly nodes, in Chromium: bob (node B, scripted over
// HTTP) puts alice (browser, node A) in an encrypted group; alice drops an image on the room, it uploads
// with progress, bob downloads exactly those bytes from his own node (fetched from A, sealed) and, in
// his own browser on node B, sees it previewed; bob sends a picture back and alice sees it inline; alice sets an avatar and a bio in her profile
// and bob's node gets both.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { startNode, client, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launchPersistent, tempDir, watch, waitFor } from './lib/browser.mjs';
import { signUp, logIn, waitForRoom } from './lib/ui.mjs';

const PASSWORD = 'correct horse 1';

/** A PNG of w×h pixels made in the page, as bytes. */
async function png(page, w, h, colour) {
  return page.evaluate(async ([w, h, colour]) => {
    const c = document.createElement('canvas');
    c.width = w; c.height = h;
    const g = c.getContext('2d');
    g.fillStyle = colour; g.fillRect(0, 0, w, h);
    const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
    return [...new Uint8Array(await blob.arrayBuffer())];
  }, [w, h, colour]);
}

describe('files and avatars: real nodes', { skip: !binaryExists() && `no chatly binary at ${CHATLY_BIN}` }, () => {
  let A;
  let B;
  let profileDir;
  let ctx;
  let page;
  let problems;
  let bob;
  let bobUser;
  let aliceId;
  let room;

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
    aliceId = await waitFor(async () => (await bob.call('GET', '/users')).find((u) => u.username === 'alice')?.id,
      { what: 'alice at bob\'s node', timeout: 20000 });
    room = await bob.call('POST', '/rooms', { kind: 'group', name: 'Pictures', members: [aliceId] });
    await page.getByRole('navigation', { name: 'Rooms and people' }).getByText('Pictures').click();
    await waitForRoom(page, 'Pictures');
  });

  after(async () => {
    await ctx?.close().catch(() => {});
    await Promise.all([A?.stop(), B?.stop()]);
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  it('uploads a dropped image and the other member downloads the same bytes', async () => {
    const bytes = await png(page, 64, 48, '#3a7');
    await page.evaluate((bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'green.png', { type: 'image/png' }));
      const target = document.querySelector('.timeline-wrap');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    }, bytes);
    await page.locator('.attachment', { hasText: 'green.png' }).waitFor();
    await page.locator('#composer-input').press('Enter');
    const mine = page.locator('#timeline .file-image img[alt="green.png"]');
    await mine.waitFor({ timeout: 20000 });
    const sent = await waitFor(async () => {
      const { messages } = await bob.call('GET', `/rooms/${room.id}/messages`);
      return messages.find((m) => m.files?.some((f) => f.name === 'green.png'));
    }, { what: 'the message at bob\'s node', timeout: 20000 });
    const file = sent.files[0];
    assert.equal(file.mime, 'image/png');
    const res = await fetch(`${B.url}/api/v1/files/${file.id}`, { headers: { Authorization: `Bearer ${bob.token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], bytes);

    // Bob in his own browser, on his own node, sees the picture previewed inline.
    const bobDir = await tempDir('chatly-profile-');
    const bobCtx = await launchPersistent(bobDir);
    try {
      const bobPage = bobCtx.pages()[0] || await bobCtx.newPage();
      const bobProblems = watch(bobPage);
      await bobPage.goto(B.url);
      await logIn(bobPage, { username: 'bob', password: PASSWORD });
      await waitForRoom(bobPage, 'Public');
      await bobPage.getByRole('navigation', { name: 'Rooms and people' }).getByText('Pictures').click();
      await waitForRoom(bobPage, 'Pictures');
      const preview = bobPage.locator('#timeline .file-image img[alt="green.png"]');
      await preview.waitFor({ timeout: 20000 });
      await waitFor(() => preview.evaluate((i) => i.complete && i.naturalWidth === 64), { what: 'the preview at bob\'s', timeout: 20000 });
      assert.deepEqual(bobProblems, []);
    } finally {
      await bobCtx.close().catch(() => {});
      await rm(bobDir, { recursive: true, force: true });
    }
  });

  it('shows a picture from the other node inline', async () => {
    const bytes = await png(page, 30, 20, '#a37');
    const up = await fetch(`${B.url}/api/v1/files?name=pink.png`, {
      method: 'POST', headers: { Authorization: `Bearer ${bob.token}`, 'Content-Type': 'image/png' }, body: new Uint8Array(bytes),
    });
    assert.equal(up.status, 201);
    const { id } = await up.json();
    await bob.call('POST', `/rooms/${room.id}/messages`, { text: 'one for you', files: [id] });
    const img = page.locator('#timeline .file-image img[alt="pink.png"]');
    await img.waitFor({ timeout: 20000 });
    await waitFor(() => img.evaluate((i) => i.complete && i.naturalWidth === 30), { what: 'the picture to load from node B', timeout: 20000 });
  });

  it('sets an avatar and a bio that reach the other node', async () => {
    await page.locator('#user-menu-btn').click();
    await page.getByRole('button', { name: 'Edit profile…' }).click();
    const dialog = page.getByRole('dialog').filter({ has: page.locator('#profile-name') });
    await dialog.waitFor();
    const bytes = await png(page, 48, 48, '#37a');
    await dialog.locator('input[type=file]').setInputFiles({ name: 'me.png', mimeType: 'image/png', buffer: Buffer.from(bytes) });
    await dialog.getByLabel('About you').fill('drops pictures');
    await dialog.getByRole('button', { name: 'Save' }).click();
    const alice = await waitFor(async () => {
      const u = (await bob.call('GET', '/users')).find((x) => x.id === aliceId);
      return u && u.avatar && u.bio === 'drops pictures' ? u : null;
    }, { what: 'the avatar and bio at bob\'s node', timeout: 20000 });
    const res = await fetch(`${B.url}/api/v1/files/${alice.avatar}`, { headers: { Authorization: `Bearer ${bob.token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/png');
    assert.deepEqual(problems, []);
  });
});
