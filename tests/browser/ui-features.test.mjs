// The web UI's features in Chromium against real chatly nodes: error messages (a taken name, a short
// password, a wrong one, the failed-login limit), the no-peers notice and the peer count, a 10,000-message
// history (windowing and scroll anchoring), composer keys and drafts, groups, reactions, reply, edit,
// delete, mentions and links, typing and receipts, person card and direct chat, switcher and help, search,
// a pasted image, a refused send and its retry, unread counts, notifications, roving focus, profile and
// theme and the phone drawer (older-node.test.mjs: a node without the optional endpoints). Bob and
// Carol are accounts on node A, driven through the HTTP API.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, client, postMany, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launch, watch, waitFor } from './lib/browser.mjs';
import { signUp, logIn, waitForRoom, sendMessage, messageTexts, axe, serious, DELIVERED } from './lib/ui.mjs';

const PASSWORD = 'correct horse 1';
const HISTORY = 10000;
const skip = !binaryExists() && `no chatly binary at ${CHATLY_BIN}`;

describe('web UI features: real nodes', { skip }, () => {
  let A;
  const others = [];
  let browser;
  let page;
  let problems;
  let bob;
  let carol;

  before(async () => {
    A = await startNode({ name: 'a' });
    browser = await launch();
    page = browser.ctx.pages()[0] || await browser.ctx.newPage();
    problems = watch(page);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([A, ...others].map((n) => n?.stop()));
  });

  it('maps sign-up and login errors to sentences', async () => {
    // on a node of its own: the failed-login limit counts this machine's address, which every client here shares
    const E = await startNode({ name: 'errors' });
    try {
      await client(E.url).signUp('bob', PASSWORD, 'Bob');
      await page.goto(E.url);
      await page.getByRole('tab', { name: 'Sign up' }).click();
      await page.getByLabel('Username').fill('bob');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByText('That username is taken').waitFor();
      await page.getByLabel('Username').fill('newbie');
      await page.getByLabel('Password').fill('short');
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByText('Use at least 8 characters for the password').waitFor();
      await logIn(page, { username: 'bob', password: 'not his password' });
      await page.locator('#form-error', { hasText: 'Wrong username or password' }).waitFor();
      // four more failures from this address reach the node's limit of five a minute
      for (let k = 0; k < 4; k += 1) {
        const e = await client(E.url).call('POST', '/sessions', { username: 'mallory', password: 'guess number 1' }).catch((x) => x);
        assert.equal(e.status, 401);
      }
      await logIn(page, { username: 'bob', password: PASSWORD });
      await page.locator('#form-error', { hasText: /Too many attempts; try again in \d+ s/ }).waitFor();
      assert.equal(await page.getByRole('button', { name: 'Log in' }).isDisabled(), true);
    } finally {
      await E.stop();
    }
  });

  it('signs up, logs in automatically and shows the no-peers notice', async () => {
    await page.goto(A.url);
    await signUp(page, { username: 'alice', password: PASSWORD, displayName: 'Alice' });
    await waitForRoom(page);
    await page.locator('#peer-notice', { hasText: 'No other nodes found yet' }).waitFor();
    await page.locator('#online-count', { hasText: '1 online' }).waitFor();
    for (const name of ['b', 'c']) others.push(await startNode({ name, peers: [A.addrs[0]] }));
    await page.locator('#conn-state', { hasText: '2 peers connected' }).waitFor({ timeout: 30000 });
    assert.equal(await page.locator('#peer-notice').isHidden(), true);
  });

  it(`keeps ${HISTORY.toLocaleString('en')} messages smooth: a bounded DOM, history on scroll up without jumping`, async () => {
    bob = client(A.url);
    await bob.signUp('bob', PASSWORD, 'Bob Builder');
    carol = client(A.url);
    await carol.signUp('carol', PASSWORD, 'Carol Singer');
    await postMany(HISTORY, (i) => (i % 3 ? bob : carol).post('public', `history ${i}${i % 7 === 0 ? '\nwith a second line' : ''}`));
    await page.reload();
    await waitForRoom(page);
    await page.locator('#timeline article.msg', { hasText: `history ${HISTORY - 1}` }).waitFor();
    const timeline = page.locator('#timeline');
    for (let step = 0; step < 12; step += 1) {
      const before = await page.evaluate(() => {
        const tl = document.getElementById('timeline');
        const top = tl.getBoundingClientRect().top;
        const row = [...tl.querySelectorAll('.row article')].find((r) => r.getBoundingClientRect().bottom > top + 1);
        return { id: row.dataset.id, y: row.getBoundingClientRect().top - top };
      });
      // scroll up by up to 1500 px (less when near the top of what is rendered)
      const moved = await timeline.evaluate((el) => { const t = el.scrollTop; el.scrollTop -= 1500; return t - el.scrollTop; });
      await page.waitForTimeout(120);
      const rows = await page.locator('#timeline .row').count();
      assert.ok(rows <= 200, `too many rows in the DOM: ${rows}`);
      // the row that was at the top moved by exactly the scrolled distance (no jump)
      const after = await page.evaluate((id) => {
        const tl = document.getElementById('timeline');
        const row = tl.querySelector(`.row article[data-id="${id}"]`);
        return row ? row.getBoundingClientRect().top - tl.getBoundingClientRect().top : null;
      }, before.id);
      assert.notEqual(after, null, 'the row at the top left the DOM while on screen');
      assert.ok(Math.abs(after - before.y - moved) < 3, `step ${step}: the view jumped (${before.y} -> ${after}, expected +${moved})`);
    }
    // a new message while reading old ones: the view stays, the button counts it
    const pos = () => page.evaluate(() => {
      const tl = document.getElementById('timeline');
      const a = tl.querySelectorAll('.row article')[20];
      return { id: a.dataset.id, y: a.getBoundingClientRect().top };
    });
    const p0 = await pos();
    await bob.post('public', 'news from the present');
    await page.locator('#jump-latest', { hasText: '1 new message' }).waitFor();
    await page.waitForTimeout(200);
    const p1 = await page.evaluate((id) => document.querySelector(`#timeline .row article[data-id="${id}"]`).getBoundingClientRect().top, p0.id);
    assert.ok(Math.abs(p1 - p0.y) < 1, `the view moved when a message arrived (${p0.y} -> ${p1})`);
    const loaded = await page.evaluate(() => window.__chatly.state.timelines.get('public').length);
    assert.ok(loaded > 200, `older pages should have loaded (${loaded})`);
    await page.locator('#jump-latest').click();
    await page.locator('#timeline article.msg', { hasText: 'news from the present' }).waitFor();
    assert.ok(await page.locator('#timeline .row').count() <= 200);
  });

  it('sends with Enter, adds a newline with Shift+Enter, edits with Up and shows "(edited)"', async () => {
    const box = page.locator('#composer-input');
    await box.click();
    await box.type('alpha line');
    await box.press('Shift+Enter');
    await box.type('omega line');
    await box.press('Enter');
    await page.locator('#timeline article.msg', { hasText: 'omega line' }).waitFor();
    assert.deepEqual((await messageTexts(page)).slice(-1), ['alpha line\nomega line']);
    await box.press('ArrowUp');
    await page.getByText('Editing message').waitFor();
    await box.fill('alpha line, edited');
    await box.press('Enter');
    await page.locator('#timeline article.msg', { hasText: 'alpha line, edited' }).locator('.edited').waitFor();
  });

  it('replies (Esc cancels), reacts and deletes', async () => {
    const target = page.locator('#timeline article.msg', { hasText: `history ${HISTORY - 1}` });
    await target.hover();
    await target.getByRole('button', { name: 'Reply' }).click();
    await page.getByText('Replying to').waitFor();
    await page.locator('#composer-input').press('Escape');
    await page.getByText('Replying to').waitFor({ state: 'hidden' });
    await target.hover();
    await target.getByRole('button', { name: 'Reply' }).click();
    await sendMessage(page, 'a reply');
    const reply = page.locator('#timeline article.msg', { hasText: 'a reply' });
    await reply.locator('.quote', { hasText: `history ${HISTORY - 1}` }).waitFor();
    await reply.hover();
    await reply.getByRole('button', { name: 'Add reaction' }).click();
    await page.getByRole('button', { name: 'React with 🎉' }).click();
    await reply.locator('.reaction[aria-pressed="true"]', { hasText: '🎉' }).waitFor();
    await reply.hover();
    await reply.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.locator('#timeline article.msg.deleted', { hasText: 'This message was deleted' }).waitFor();
  });

  it('shows live messages, mentions, typing and "seen" receipts', async () => {
    await sendMessage(page, 'are you there?');
    const mine = page.locator('#timeline article.msg', { hasText: 'are you there?' });
    await mine.locator(DELIVERED).waitFor();
    await bob.call('POST', '/rooms/public/typing');
    await page.locator('#typing-line', { hasText: 'Bob Builder is typing' }).waitFor();
    await bob.call('POST', '/rooms/public/read', { message_id: await mine.getAttribute('data-id') });
    await mine.locator('.msg-status[aria-label="Seen"]').waitFor();
    await bob.post('public', 'yes, hello @alice! see https://example.org/a?b=1.');
    const msg = page.locator('#timeline article.msg.mention', { hasText: 'yes, hello' });
    await msg.waitFor();
    await msg.locator('.mention-tag', { hasText: '@alice' }).waitFor();
    const link = msg.locator('a');
    assert.equal(await link.getAttribute('href'), 'https://example.org/a?b=1');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await link.getAttribute('target'), '_blank');
  });

  it('creates a group with a member, marks it encrypted, keeps drafts per room, renames and leaves it', async () => {
    await page.getByRole('button', { name: 'Create a group' }).click();
    const dlg = page.getByRole('dialog', { name: 'Create a group' });
    await dlg.getByLabel('Group name').fill('Builders');
    await dlg.getByText('Bob Builder').click();
    await dlg.getByRole('button', { name: 'Create group' }).click();
    await waitForRoom(page, 'Builders');
    await page.locator('#room-title [aria-label="End-to-end encrypted"]').waitFor();
    await page.locator('#composer-input').fill('draft for builders');
    await page.locator('.nav-item', { hasText: 'Public' }).click();
    await waitForRoom(page, 'Public');
    assert.equal(await page.locator('#composer-input').inputValue(), '');
    await page.locator('.nav-item', { hasText: 'Builders' }).click();
    await waitForRoom(page, 'Builders');
    assert.equal(await page.locator('#composer-input').inputValue(), 'draft for builders');
    await page.getByRole('button', { name: 'Room details and settings' }).click();
    const settings = page.getByRole('dialog');
    await settings.getByLabel('Name').fill('Master Builders');
    await settings.getByRole('button', { name: 'Save' }).click();
    await page.locator('#room-title', { hasText: 'Master Builders' }).waitFor();
    await settings.getByRole('button', { name: 'Leave group' }).click();
    await page.getByRole('dialog', { name: /Leave/ }).getByRole('button', { name: 'Leave' }).click();
    await waitForRoom(page, 'Public');
    assert.equal(await page.locator('.nav-item', { hasText: 'Master Builders' }).count(), 0);
  });

  it('opens a person card with the safety number and starts a direct chat', async () => {
    await page.locator('.people-item', { hasText: 'Carol Singer' }).click();
    const card = page.getByRole('dialog');
    await card.getByText('@carol').waitFor();
    await card.getByText('Safety number').waitFor();
    await card.getByRole('button', { name: 'Message' }).click();
    await waitForRoom(page, 'Carol Singer');
    await sendMessage(page, 'hi Carol');
    await page.locator('#timeline article.msg', { hasText: 'hi Carol' }).waitFor();
  });

  it('has a quick switcher (Ctrl+K), shortcut help (Ctrl+/) and Esc closes them', async () => {
    await page.keyboard.press('Control+k');
    const qs = page.getByRole('dialog', { name: 'Go to' });
    await qs.waitFor();
    await page.keyboard.type('pub');
    await page.keyboard.press('Enter');
    await waitForRoom(page, 'Public');
    await page.keyboard.press('Control+/');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).waitFor({ state: 'hidden' });
  });

  it('searches messages and jumps to a result', async () => {
    await page.getByRole('button', { name: 'Search messages' }).click();
    const dlg = page.getByRole('dialog', { name: 'Search' });
    await dlg.getByLabel('Search messages').fill('history 1234');
    await dlg.locator('.search-result mark', { hasText: 'history' }).first().waitFor();
    await dlg.locator('.search-result').first().click();
    await page.locator('#timeline article.msg.flash', { hasText: 'history 1234' }).waitFor();
  });

  it('uploads a pasted image with progress and previews it inline', async () => {
    await page.locator('#composer-input').focus();
    await page.evaluate(async () => {
      const c = document.createElement('canvas');
      c.width = 40; c.height = 30;
      c.getContext('2d').fillRect(0, 0, 40, 30);
      const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'square.png', { type: 'image/png' }));
      document.getElementById('composer-input').dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await page.locator('.attachment', { hasText: 'square.png' }).waitFor();
    await page.locator('#composer-input').press('Enter');
    const img = page.locator('#timeline .file-image img[alt="square.png"]');
    await img.waitFor();
    await waitFor(() => img.evaluate((i) => i.complete && i.naturalWidth === 40), { what: 'the image to load' });
  });

  it('says why a send failed and retries it', async () => {
    let refuse = true;
    await page.route('**/api/v1/rooms/public/messages', (route) => {
      if (route.request().method() === 'POST' && refuse) {
        return route.fulfill({ status: 413, contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'too_large', message: 'Message text over 16 KiB' } }) });
      }
      return route.continue();
    });
    await sendMessage(page, 'this one bounces');
    const msg = page.locator('#timeline article.msg', { hasText: 'this one bounces' });
    await msg.locator('.msg-failed', { hasText: 'Not sent: the message is too long' }).waitFor();
    refuse = false;
    await msg.getByRole('button', { name: 'Retry' }).click();
    await page.locator('#timeline article.msg', { hasText: 'this one bounces' }).locator(DELIVERED).waitFor();
    assert.equal(await page.locator('#timeline article.msg', { hasText: 'this one bounces' }).count(), 1);
    await page.unroute('**/api/v1/rooms/public/messages');
  });

  it('counts unread messages in other rooms and shows a "New" marker on return', async () => {
    await page.locator('.nav-item[data-room-id]', { hasText: 'Carol Singer' }).click();
    await waitForRoom(page, 'Carol Singer');
    await page.waitForTimeout(400); // let pending read receipts of the public room settle
    await bob.post('public', 'unread one');
    await bob.post('public', 'unread two');
    await page.locator('.nav-item', { hasText: 'Public' }).locator('.badge', { hasText: '2' }).waitFor();
    await page.locator('.nav-item', { hasText: 'Public' }).click();
    await waitForRoom(page, 'Public');
    const marker = page.locator('#read-marker');
    await marker.waitFor();
    const next = await marker.evaluate((m) => m.parentElement.querySelector('article .msg-text').textContent);
    assert.equal(next, 'unread one');
    await page.locator('.nav-item', { hasText: 'Public' }).locator('.badge').waitFor({ state: 'detached' });
  });

  it('notifies about a mention in another room once notifications are on', async () => {
    await page.evaluate(() => {
      window.__notes = [];
      window.Notification = class {
        static permission = 'default';
        static requestPermission() { window.Notification.permission = 'granted'; return Promise.resolve('granted'); }
        constructor(title, opts) { window.__notes.push({ title, body: opts.body }); }
        close() {}
      };
    });
    await page.locator('#user-menu-btn').click();
    await page.getByRole('switch', { name: 'Desktop notifications' }).check();
    await page.keyboard.press('Escape');
    await page.locator('.nav-item[data-room-id]', { hasText: 'Carol Singer' }).click();
    await waitForRoom(page, 'Carol Singer');
    await bob.post('public', 'ping @alice, lunch?');
    await waitFor(() => page.evaluate(() => window.__notes.length > 0), { what: 'a notification' });
    const [note] = await page.evaluate(() => window.__notes);
    assert.equal(note.title, 'Bob Builder in Public');
    assert.equal(note.body, 'ping @alice, lunch?');
    await page.locator('.nav-item', { hasText: 'Public' }).click();
    await waitForRoom(page, 'Public');
  });

  it('moves through messages with the keyboard (roving focus) and into their actions', async () => {
    await page.locator('#composer-input').focus();
    await page.keyboard.press('Shift+Tab'); // attach
    // backwards, Tab lands on the last control of the active row, then the row itself
    for (let i = 0; i < 6; i += 1) {
      await page.keyboard.press('Shift+Tab');
      if (await page.evaluate(() => document.activeElement.matches('article.msg'))) break;
    }
    const active = await page.evaluate(() => document.activeElement.matches('article.msg') && document.activeElement.dataset.id);
    assert.ok(active, 'Shift+Tab from the composer should reach the message list');
    await page.keyboard.press('ArrowUp');
    const up = await page.evaluate(() => document.activeElement.dataset.id);
    assert.notEqual(up, active);
    await page.keyboard.press('Tab');
    const inside = await page.evaluate(() => document.activeElement.closest('article.msg')?.dataset.id);
    assert.equal(inside, up, 'Tab from a row goes into that row\'s controls');
    await page.keyboard.press('Escape');
  });

  it('edits my profile, switches theme and accent, and logs out', async () => {
    await page.locator('#user-menu-btn').click();
    await page.getByRole('button', { name: 'Dark' }).click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.scheme), 'dark');
    await page.getByRole('button', { name: 'Green accent' }).click();
    assert.equal(await page.evaluate(() => localStorage.getItem('chatly.accent')), 'green');
    await page.getByRole('button', { name: 'System' }).click();
    await page.getByRole('button', { name: 'Edit profile…' }).click();
    const dlg = page.getByRole('dialog', { name: 'Your profile' });
    await dlg.getByLabel('Display name').fill('Alice in Chains');
    await dlg.getByLabel('About you').fill('Curiouser and curiouser');
    await dlg.getByRole('button', { name: 'Save' }).click();
    await page.locator('#user-menu-btn', { hasText: 'Alice in Chains' }).waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/v1/me', { credentials: 'same-origin' })).json());
    assert.equal(me.bio, 'Curiouser and curiouser');
  });

  it('has no serious accessibility violations in its dialogs (light and dark)', async () => {
    const dialogs = [
      ['user menu', () => page.locator('#user-menu-btn').click()],
      ['person card', () => page.locator('.people-item', { hasText: 'Carol Singer' }).click()],
      ['create group', () => page.getByRole('button', { name: 'Create a group' }).click()],
      ['quick switcher', () => page.keyboard.press('Control+k')],
      ['shortcuts', () => page.keyboard.press('Control+/')],
    ];
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [name, open] of dialogs) {
        await open();
        await page.locator('dialog[open]').waitFor();
        const v = serious(await axe(page));
        assert.deepEqual(v, [], `axe, ${name} (${scheme}): ${JSON.stringify(v, null, 1)}`);
        await page.keyboard.press('Escape');
        await page.locator('dialog[open]').waitFor({ state: 'detached' });
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('works as a drawer on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const sidebar = page.locator('#sidebar');
    await page.waitForTimeout(250);
    assert.equal(await sidebar.isVisible(), false);
    await page.getByRole('button', { name: 'Open rooms and people' }).click();
    await page.waitForTimeout(250);
    assert.equal(await sidebar.isVisible(), true);
    await page.keyboard.press('Escape');
    await page.waitForTimeout(250);
    assert.equal(await sidebar.isVisible(), false);
    await page.setViewportSize({ width: 1280, height: 800 });
    assert.deepEqual(problems, []);
  });

  it('logs out to the welcome screen', async () => {
    await page.locator('#user-menu-btn').click();
    await page.getByRole('dialog').getByRole('button', { name: 'Log out', exact: true }).click();
    await page.getByRole('tab', { name: 'Log in' }).waitFor();
    await page.reload();
    await page.getByRole('tab', { name: 'Log in' }).waitFor();
  });
});
