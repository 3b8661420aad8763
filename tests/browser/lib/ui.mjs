// Page-level steps shared by the tests: sign up / log in through the welcome screen, send a message,
// read the message list, run axe.

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export async function signUp(page, { username, password = 'correct horse 1', displayName = username, remember = false }) {
  await page.getByRole('tab', { name: 'Sign up' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Display name').fill(displayName);
  await page.getByLabel('Password').fill(password);
  if (remember) await page.getByLabel('Remember me on this browser').check();
  await page.getByRole('button', { name: 'Create account' }).click();
}

export async function logIn(page, { username, password = 'correct horse 1', remember = false }) {
  await page.getByRole('tab', { name: 'Log in' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  if (remember) await page.getByLabel('Remember me on this browser').check();
  await page.getByRole('button', { name: 'Log in' }).click();
}

/**
 * The status of one's own message once the node has it and another node took it: "Sent", then
 * "Held by N other nodes" as soon as their sync heads confirm it (a quarter second later), or
 * "Seen". Waiting for "Sent" alone can miss it.
 */
export const DELIVERED = '.msg-status[aria-label="Sent"], .msg-status.held, .msg-status.seen';

export async function waitForRoom(page, name = 'Public') {
  await page.locator('#room-title', { hasText: name }).waitFor({ timeout: 15000 });
  await page.locator('#composer-input').waitFor();
}

export async function sendMessage(page, text) {
  const box = page.locator('#composer-input');
  await box.fill(text);
  await box.press('Enter');
}

/** Texts of the rendered messages, oldest first. */
export async function messageTexts(page) {
  return page.locator('#timeline article.msg .msg-text').evaluateAll((els) => els.map((e) => {
    const c = e.cloneNode(true);
    for (const x of c.querySelectorAll('.edited, .msg-status')) x.remove();
    return c.textContent;
  }));
}

/** Runs axe-core (injected with page.evaluate, which CSP does not block) and returns its violations. */
export async function axe(page, { include } = {}) {
  const src = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(src);
  return page.evaluate(async (inc) => {
    const r = await window.axe.run(inc || document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')} :: ${n.failureSummary}`) }));
  }, include);
}

export function serious(violations) {
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
