// A measurement, not a check of speed: how the web UI copes with a room of 10,000 messages in
// Chromium. Time to first render (reload to the newest message on screen) and frame times while
// scrolling up through the whole history (windowed list, pages loaded on the way). The figures go to
// target/browser-perf.json and the test output; docs/performance.md records a run. Bob posts the
// messages to a real node through the HTTP API before the clock starts, so the timings are the UI's and
// the node's answers to its history requests, not the seeding.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNode, client, postMany, binaryExists, CHATLY_BIN } from './lib/nodes.mjs';
import { launch, watch, waitFor } from './lib/browser.mjs';
import { signUp, waitForRoom } from './lib/ui.mjs';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../target/browser-perf.json');
const COUNT = 10000;

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

describe('web UI performance with 10,000 messages', { skip: !binaryExists() && `no chatly binary at ${CHATLY_BIN}` }, () => {
  let node;
  let browser;
  let page;
  let problems;
  let oldestId;

  before(async () => {
    node = await startNode({ name: 'perf' });
    const bob = client(node.url);
    await bob.signUp('bob', 'correct horse 1', 'Bob Builder');
    await postMany(COUNT, async (i) => {
      const msg = await bob.post('public',
        `message ${i}: ${i % 5 === 0 ? 'a longer line of text that wraps on a narrow window, with a link https://example.org/' : 'short'}`);
      if (i === 0) oldestId = msg.id;
    });
    browser = await launch();
    page = browser.ctx.pages()[0] || await browser.ctx.newPage();
    problems = watch(page);
    await page.goto(node.url);
    await signUp(page, { username: 'alice', displayName: 'Alice' });
    await waitForRoom(page);
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
  });

  it('measures first render and scrolling frame times', async () => {
    const reloadStart = Date.now();
    await page.reload();
    await page.locator('#timeline article.msg', { hasText: `message ${COUNT - 1}:` }).waitFor();
    const firstRenderMs = Date.now() - reloadStart;

    // Scroll up 400 px a frame until the oldest message is on screen, timing every frame.
    const scroll = await page.evaluate(async ({ count, oldest }) => {
      const tl = document.getElementById('timeline');
      const frames = [];
      let last = performance.now();
      const began = last;
      let reached = false;
      while (performance.now() - began < 120000) {
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        frames.push(now - last);
        last = now;
        tl.scrollTop -= 400;
        if (tl.querySelector(`article[data-id="${oldest}"]`)) { reached = true; break; }
      }
      const rows = tl.querySelectorAll('.row').length;
      return { frames, reached, seconds: (performance.now() - began) / 1000, rows, loaded: window.__chatly.state.timelines.get('public').length, count };
    }, { count: COUNT, oldest: oldestId });
    assert.ok(scroll.reached, 'scrolled back to the first message');
    const sorted = [...scroll.frames].sort((a, b) => a - b);
    const result = {
      messages: COUNT,
      first_render_ms: firstRenderMs,
      scroll_seconds: Number(scroll.seconds.toFixed(2)),
      frames: sorted.length,
      frame_ms_p50: Number(percentile(sorted, 0.5).toFixed(1)),
      frame_ms_p95: Number(percentile(sorted, 0.95).toFixed(1)),
      frame_ms_p99: Number(percentile(sorted, 0.99).toFixed(1)),
      frame_ms_max: Number(sorted[sorted.length - 1].toFixed(1)),
      frames_over_50ms: sorted.filter((f) => f > 50).length,
      dom_rows_at_top: scroll.rows,
      messages_loaded: scroll.loaded,
    };
    await mkdir(path.dirname(OUT), { recursive: true });
    await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`browser perf: ${JSON.stringify(result)}`);
    assert.ok(result.frames > 10 && Number.isFinite(result.frame_ms_p95));
    assert.ok(result.dom_rows_at_top <= 200, `the DOM stays bounded (${result.dom_rows_at_top} rows)`);
    assert.deepEqual(problems, []);
  });
});
