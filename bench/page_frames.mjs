#!/usr/bin/env node
// Frame times of the page's particle field in headless chromium (the browser test's), at 8,000 and 20,000
// particles: for each count, `prtkl serve --particles N` on the bundled model, one word, then 3 s of clicks (scatter
// and reassemble, the heaviest frames: every dot moving and at full size) and 3 s at rest. Issue 39's targets:
// >= 60 fps at 8,000 and >= 30 fps at 20,000. Prints one JSON line per count.
//
// Run from the repository root after `make web e2e-deps`: node bench/page_frames.mjs
// env: PRTKL_BIN (build/prtkl), PRTKL_MODEL (models/prtkl-emoji), COUNTS (8000,20000), WORD (love), CHROMIUM.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForHealth } from '../tests/e2e/local_server.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = createRequire(join(repo, 'tests', 'e2e', 'package.json'))('playwright-core');
const bin = resolve(repo, process.env.PRTKL_BIN || 'build/prtkl');
const model = resolve(repo, process.env.PRTKL_MODEL || 'models/prtkl-emoji');
const counts = (process.env.COUNTS || '8000,20000').split(',').map(Number);
const word = process.env.WORD || 'love';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? Math.round(((s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2) * 100) / 100 : NaN;
};

async function measure(page, box, clicking) {
  await page.evaluate(() => {
    window.prtkl.frameTimes.length = 0;
    window.prtkl.workTimes.length = 0;
  });
  const t0 = Date.now();
  for (let k = 0; Date.now() - t0 < 3000; k++) {
    if (clicking && k % 10 === 0) await page.mouse.click(box.x + box.width * (0.3 + 0.4 * Math.random()), box.y + box.height * (0.3 + 0.4 * Math.random()));
    await sleep(100);
  }
  const { frameTimes, workTimes } = await page.evaluate(() => ({ frameTimes: [...window.prtkl.frameTimes], workTimes: [...window.prtkl.workTimes] }));
  return { frame_ms: median(frameTimes), fps: Math.round(1000 / median(frameTimes)), work_ms: median(workTimes), frames: frameTimes.length };
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  for (const count of counts) {
    const port = await freePort();
    const data = mkdtempSync(join(tmpdir(), 'prtkl-frames-'));
    const server = spawn(bin, ['serve', '--model', model, '--port', String(port), '--data', data, '--web', join(repo, 'web', 'dist'), '--threads', '1', '--particles', String(count)], { stdio: 'ignore' });
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitForHealth(base);
      const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
      await page.goto(`${base}/`);
      await page.waitForFunction(() => window.prtkl && document.querySelector('#stage canvas'));
      await page.fill('#word', word);
      await page.click('#submit');
      await page.waitForFunction(() => window.prtkl.job && window.prtkl.state === 'assembled', null, { timeout: 180000 });
      const box = await page.locator('#stage canvas').boundingBox();
      const particles = await page.evaluate(() => window.prtkl.particleCount);
      const moving = await measure(page, box, true);
      await page.mouse.move(box.x - 20, box.y - 20);
      await page.waitForFunction(() => window.prtkl.state === 'assembled', null, { timeout: 20000 });
      const resting = await measure(page, box, false);
      console.log(JSON.stringify({ particles, scatter_and_reassemble: moving, assembled: resting }));
      await page.close();
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
      rmSync(data, { recursive: true, force: true });
    }
  }
} finally {
  await browser.close();
}
