#!/usr/bin/env node
// The page's previews as you type, against the real server: words typed letter by letter (a little slower than the
// page's 120 ms pause, so most letters ask for a preview while the last one still runs: ctest makes the previews
// slow enough that they all do, and at least one cancellation must be seen). Checks order and cancellation, not
// time: each preview asked for is for a prefix of the word, in typing order; a superseded preview
// was cancelled by the server, or had ended before its successor was asked for; the preview shown is the last
// word's; Enter draws the full job over it. Logs last keystroke -> preview drawn (preview-times.json).
//
// env: PRTKL_BIN (default build/prtkl), PRTKL_MODEL (default ../shared/fixtures/tiny-sd15), CHROMIUM,
//      PRTKL_ARTIFACTS (default build/e2e-artifacts), PRTKL_SERVE_ARGS (extra server flags).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, waitForHealth } from './local_server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const bin = resolve(repo, process.env.PRTKL_BIN || 'build/prtkl');
const modelDir = resolve(repo, process.env.PRTKL_MODEL || '../shared/fixtures/tiny-sd15');
const webDir = join(repo, 'web', 'dist');
const artifacts = resolve(repo, process.env.PRTKL_ARTIFACTS || 'build/e2e-artifacts');
const WORDS = ['love', 'winter', 'pizza', 'music', 'rain'];
const KEY_GAP_MS = 125; // just over the page's pause: a preview per letter, each superseding a running one
const REPLACED = 'cancelled: a newer preview replaced it';
mkdirSync(artifacts, { recursive: true });
for (const [what, path] of [['web app', join(webDir, 'index.html')], ['server', bin]]) {
  if (!existsSync(path)) {
    console.log(`FAIL setup - no ${what} at ${path}`);
    process.exit(1);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const failures = [];
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

const tmp = mkdtempSync(join(tmpdir(), 'prtkl-preview-'));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const args = ['serve', '--model', modelDir, '--port', String(port), '--data', join(tmp, 'data'), '--web', webDir];
if (process.env.PRTKL_SERVE_ARGS) args.push(...process.env.PRTKL_SERVE_ARGS.split(/\s+/).filter(Boolean));
const server = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PRTKL_CACHE_DIR: join(tmp, 'cache') } });
const log = createWriteStream(join(artifacts, 'preview-server.log'));
server.stdout.pipe(log);
server.stderr.pipe(log);
let browser = null;

async function job(id) {
  return (await fetch(`${base}/api/jobs/${id}`)).json();
}

async function main() {
  await waitForHealth(base, 300);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  const page = await (await browser.newContext({ viewport: { width: 1000, height: 800 } })).newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e && e.message)));
  // When the page sends each preview and hears back (browser clock, as the server's, ms since the epoch).
  const sent = new Map(); // preview id -> {sentAt, repliedAt}
  const sending = new Map(); // request -> sentAt
  page.on('request', (r) => {
    if (r.url().endsWith('/api/generate') && JSON.parse(r.postData() || '{}').preview) sending.set(r, Date.now());
  });
  page.on('response', async (r) => {
    const sentAt = sending.get(r.request());
    if (sentAt === undefined) return;
    const repliedAt = Date.now();
    const id = (await r.json().catch(() => ({}))).id;
    if (id) sent.set(id, { sentAt, repliedAt });
  });
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.prtkl && window.prtkl.typing && document.querySelector('#stage canvas'));

  const times = [];
  for (const word of WORDS) {
    await page.fill('#word', '');
    const before = await page.evaluate(() => window.prtkl.typing.started.length);
    for (const letter of word) {
      await page.keyboard.type(letter);
      await sleep(KEY_GAP_MS);
    }
    await page.waitForFunction((w) => window.prtkl.typing.shown && window.prtkl.typing.shown.word === w, word, { timeout: 60000, polling: 10 });
    await sleep(300); // anything still on its way would show now
    const { started, shown, stageWord } = await page.evaluate(() => ({
      started: window.prtkl.typing.started,
      shown: window.prtkl.typing.shown,
      stageWord: document.querySelector('#stage').dataset.preview,
    }));
    const mine = started.slice(before);
    times.push({ word, ms: Math.round(shown.ms), previews: mine.length });
    check(mine.length > 0 && mine.every((p, i) => word.startsWith(p.word) && (i === 0 || p.word.length > mine[i - 1].word.length)),
      `"${word}": previews asked for prefixes in typing order (${mine.map((p) => p.word).join(', ')})`);
    check(shown.id === mine[mine.length - 1].id && stageWord === word, `"${word}": the preview shown is the last word's (${shown.word}, stage ${stageWord})`);
    let cancelled = 0;
    for (let i = 0; i + 1 < mine.length; i++) {
      const j = await job(mine[i].id);
      const next = sent.get(mine[i + 1].id);
      const own = sent.get(mine[i].id);
      if (j.state === 'error' && j.error === REPLACED) cancelled++;
      else check(j.state === 'done' && own && next && own.sentAt + j.timings.total_ms <= next.repliedAt + 5,
        `"${word}": superseded preview "${mine[i].word}" was cancelled or had ended first (${j.state}, ${j.error || `${j.timings.total_ms} ms`})`);
    }
    const last = await job(mine[mine.length - 1].id);
    Object.assign(times[times.length - 1], { cancelled, server: last.timings });
    check(last.state === 'done' && last.kind === 'preview', `"${word}": the last preview is done (${last.state})`);
  }
  await page.waitForFunction(() => window.prtkl.state === 'assembled', null, { timeout: 15000 });
  await page.locator('#stage').screenshot({ path: join(artifacts, 'preview.png') });
  const cancelled = times.reduce((a, t) => a + t.cancelled, 0);
  check(cancelled > 0, `${cancelled} superseded previews cancelled on the server`);

  // Enter: the full job, drawn over the preview and never replaced by a late one.
  const word = WORDS[WORDS.length - 1];
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.prtkl.job && document.querySelector('#status').className === 'ok' && window.prtkl.state === 'assembled', null, { timeout: 120000, polling: 50 });
  await sleep(500);
  const full = await page.evaluate(() => ({ id: window.prtkl.job, n: window.prtkl.particleCount, previewing: document.querySelector('#stage').classList.contains('previewing') }));
  const fullJob = await job(full.id);
  await page.locator('#stage').screenshot({ path: join(artifacts, 'preview-then-full.png') });
  check(fullJob.kind === 'word' && fullJob.word === word && fullJob.state === 'done', `Enter gave the full job for "${word}" (${fullJob.kind}, ${fullJob.state})`);
  check(full.n === fullJob.particle_count && !full.previewing, `the full picture is shown (${full.n} particles, preview style ${full.previewing})`);
  const gallery = await (await fetch(`${base}/api/gallery`)).json();
  check(gallery.total === 1, `only the full job is in the gallery (${gallery.total})`);
  check(pageErrors.length === 0, `no page errors ${pageErrors.join(' | ')}`);

  const ms = times.map((t) => t.ms).sort((a, b) => a - b);
  const summary = { model: modelDir, median_ms: ms[Math.floor(ms.length / 2)], words: times, note: 'last keystroke -> preview particles drawn, the page\'s 120 ms pause included; headless chromium' };
  writeFileSync(join(artifacts, 'preview-times.json'), JSON.stringify(summary, null, 2));
  console.log(`     last keystroke -> preview: median ${summary.median_ms} ms (${times.map((t) => `${t.word} ${t.ms}`).join(', ')})`);
  console.log(`     the last previews in the server (interpret + generate + particles = total - queued): ${times.map((t) => `${t.word} ${t.server.interpret_ms}+${t.server.generate_ms}+${t.server.particles_ms}=${t.server.total_ms - t.server.queued_ms}`).join(', ')} ms`);
}

try {
  await main();
} catch (e) {
  check(false, `setup: ${(e && e.stack) || e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  server.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}
console.log(failures.length ? `FAILED: ${failures.length} checks` : 'PASSED');
process.exit(failures.length ? 1 : 0);
