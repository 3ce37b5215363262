#!/usr/bin/env node
// Page fidelity over a set of everyday words (issue 39's gate, a measurement, not a test): starts `prtkl serve` on
// the bundled model, types each word into the real page in chromium, waits for the picture to assemble, and compares
// the canvas with the job's PNG (fidelity.mjs). Writes OUT/fidelity.json, and for each word its PNG, particles.bin
// and the canvas (OUT/page-WORD.png). The concept judge (`prtkl judge`, JUDGE: models/recipe/judge.safetensors) then
// names each PNG and the page's picture put back on the PNG's paper (OUT/seen-WORD.png, fidelity.mjs pageOnPaper): a
// word recognised in its PNG (the judge's concept has the job's prompt as caption) is lost on the page when the
// judge names its page picture otherwise.
//
// env: PRTKL_BIN (build/prtkl), PRTKL_MODEL (models/prtkl-emoji), WEB_DIR (web/dist), OUT (build/page-fidelity),
//      WORDS (comma-separated; default the 12 below), JUDGE (a judge file, '' for none), CONCEPTS (the model's
//      concepts.json: each judge label's caption), CHROMIUM (/usr/bin/chromium), SCREENSHOTS=1: also the
//      whole page for each word (OUT/screen-WORD.png),
//      SETS_FROM=DIR: show DIR/WORD.bin instead of the server's set and compare with DIR/WORD.png (another
//      sampler's sets on the same pictures, e.g. the figures before a change, with that change's WEB_DIR).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { pageFidelity, pageOnPaper } from './fidelity.mjs';
import { freePort, waitForHealth } from './local_server.mjs';
import { decodePNG, encodePNG } from './png.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = resolve(repo, process.env.PRTKL_BIN || 'build/prtkl');
const model = resolve(repo, process.env.PRTKL_MODEL || 'models/prtkl-emoji');
const webDir = resolve(repo, process.env.WEB_DIR || 'web/dist');
const out = resolve(repo, process.env.OUT || 'build/page-fidelity');
const words = (process.env.WORDS || 'love,winter,cat,pizza,sun,dog,flower,music,rain,house,fire,tree').split(',');
const setsFrom = process.env.SETS_FROM ? resolve(process.env.SETS_FROM) : null;
const judge = process.env.JUDGE === undefined ? resolve(repo, 'models/recipe/judge.safetensors') : process.env.JUDGE && resolve(process.env.JUDGE);
const concepts = resolve(repo, process.env.CONCEPTS || join(model, 'concepts.json'));
mkdirSync(out, { recursive: true });

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const tmp = mkdtempSync(join(tmpdir(), 'prtkl-fidelity-'));
const server = spawn(bin, ['serve', '--model', model, '--port', String(port), '--data', tmp, '--web', webDir, '--threads', '1'], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = [];
let browser;
try {
  await waitForHealth(base);
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const page = await (await browser.newContext({ viewport: { width: 1100, height: 900 } })).newPage();
  let current = null; // the word being shown
  if (setsFrom) await page.route('**/particles.bin', (route) => route.fulfill({ status: 200, contentType: 'application/octet-stream', body: readFileSync(join(setsFrom, `${current}.bin`)) }));
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.prtkl && document.querySelector('#stage canvas'));
  for (const word of words) {
    const before = await page.evaluate(() => window.prtkl.job);
    current = word;
    await page.fill('#word', word);
    await page.click('#submit');
    await page.waitForFunction(
      (prev) => window.prtkl.job && window.prtkl.job !== prev && document.querySelector('#status').className === 'ok' && window.prtkl.state === 'assembled',
      before,
      { timeout: 180000, polling: 100 },
    );
    await sleep(400);
    const shot = await page.evaluate(() => {
      const c = document.querySelector('#stage canvas');
      return { width: c.width, height: c.height, data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data), fit: window.prtkl.fit, job: window.prtkl.job };
    });
    const job = await (await fetch(`${base}/api/jobs/${shot.job}`)).json();
    const png = setsFrom ? readFileSync(join(setsFrom, `${word}.png`)) : Buffer.from(await (await fetch(base + job.image_url)).arrayBuffer());
    if (!setsFrom) {
      writeFileSync(join(out, `${word}.png`), png);
      writeFileSync(join(out, `${word}.bin`), Buffer.from(await (await fetch(base + job.particles_url)).arrayBuffer()));
    }
    await page.locator('#stage canvas').screenshot({ path: join(out, `page-${word}.png`) });
    if (process.env.SCREENSHOTS === '1') await page.screenshot({ path: join(out, `screen-${word}.png`) });
    const picture = decodePNG(png);
    const f = pageFidelity(picture, shot, shot.fit);
    const seen = pageOnPaper(picture, shot, shot.fit, f.page_background);
    writeFileSync(join(out, `seen-${word}.png`), encodePNG(seen.width, seen.height, seen.rgb));
    if (setsFrom) writeFileSync(join(out, `${word}.png`), png);
    const row = { word, prompt: job.prompt, seed: setsFrom ? null : job.seed, ssim: +f.ssim.toFixed(3), colour_error: +f.colour_error.toFixed(1) };
    results.push(row);
    console.log(JSON.stringify(row));
  }
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  rmSync(tmp, { recursive: true, force: true });
}
const med = (k) => {
  const v = results.map((r) => r[k]).sort((a, b) => a - b);
  return +((v[(v.length - 1) >> 1] + v[v.length >> 1]) / 2).toFixed(3);
};
const summary = { words: results.length, ssim_median: med('ssim'), ssim_worst: Math.min(...results.map((r) => r.ssim)), colour_error_median: med('colour_error'), colour_error_mean: +(results.reduce((a, r) => a + r.colour_error, 0) / results.length).toFixed(1), results };
if (judge && existsSync(judge)) {
  const files = results.flatMap((r) => [join(out, `${r.word}.png`), join(out, `seen-${r.word}.png`)]);
  const run = spawnSync(bin, ['judge', '--judge', judge, '--json', ...files], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`prtkl judge failed: ${run.stderr}`);
  const named = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const caption = new Map(JSON.parse(readFileSync(concepts, 'utf8')).concepts.map((c) => [c.id, c.caption]));
  results.forEach((r, i) => {
    const [picture, page] = [named[2 * i], named[2 * i + 1]];
    r.judge_png = picture.label;
    r.judge_page = page.label;
    r.recognised_png = caption.get(picture.label) === r.prompt;
    r.lost_on_page = r.recognised_png && page.label !== picture.label;
  });
  summary.judge = judge;
  summary.recognised_png = results.filter((r) => r.recognised_png).length;
  summary.recognised_page = results.filter((r) => r.recognised_png && !r.lost_on_page).length;
  summary.lost_on_page = results.filter((r) => r.lost_on_page).map((r) => r.word);
}
writeFileSync(join(out, 'fidelity.json'), JSON.stringify(summary, null, 2));
console.log(JSON.stringify({ ...summary, results: undefined }));
