#!/usr/bin/env node
// A before/after contact sheet of particle pictures (docs/eval/particles-before-after.png): for each word, the
// model's picture, the old and the new particle set drawn as discs of their sizes (`prtkl particles --render`),
// and the page before and after (the canvases page_fidelity.mjs saved), with each column's fidelity figures.
//
// node tests/e2e/particle_sheet.mjs BEFORE_DIR AFTER_DIR OUT.png
//   BEFORE_DIR: page_fidelity.mjs's output with SETS_FROM (old sets and page); its SETS_FROM holds the pictures
//   and old sets; AFTER_DIR: its output on the new code. env: PRTKL_BIN (build/prtkl), OLD_SETS (BEFORE's SETS_FROM).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = resolve(repo, process.env.PRTKL_BIN || 'build/prtkl');
const [before, after, out] = process.argv.slice(2).map((p) => resolve(p));
const oldSets = resolve(process.env.OLD_SETS || before);
const pages = { before: JSON.parse(readFileSync(join(before, 'fidelity.json'))), after: JSON.parse(readFileSync(join(after, 'fidelity.json'))) };
const tmp = mkdtempSync(join(tmpdir(), 'prtkl-sheet-'));
const uri = (file) => `data:image/png;base64,${readFileSync(file).toString('base64')}`;
const setScore = (picture, set, render) => JSON.parse(execFileSync(bin, ['particles', picture, '--set', set, '--score', '--render', render]).toString());

const rows = pages.after.results.map(({ word }) => {
  const oldRender = join(tmp, `${word}-old.png`), newRender = join(tmp, `${word}-new.png`);
  const oldScore = setScore(join(oldSets, `${word}.png`), join(oldSets, `${word}.bin`), oldRender);
  const newScore = setScore(join(after, `${word}.png`), join(after, `${word}.bin`), newRender);
  const pb = pages.before.results.find((r) => r.word === word), pa = pages.after.results.find((r) => r.word === word);
  const figures = (s) => `SSIM ${s.ssim.toFixed(2)} · error ${s.colour_error.toFixed(0)}`;
  return `<tr><th>${word}</th>
    <td><img class="px" src="${uri(join(after, `${word}.png`))}"><br>picture</td>
    <td><img src="${uri(oldRender)}"><br>old set: ${figures(oldScore)}</td>
    <td><img src="${uri(newRender)}"><br>new set: ${figures(newScore)}</td>
    <td><img class="page" src="${uri(join(before, `page-${word}.png`))}"><br>old page: ${pb ? figures(pb) : ''}</td>
    <td><img class="page" src="${uri(join(after, `page-${word}.png`))}"><br>new page: ${figures(pa)}</td></tr>`;
});
const html = `<!doctype html><style>
  body { margin: 0; background: #15161c; color: #cfd3dc; font: 12px system-ui, sans-serif; }
  table { border-spacing: 6px; } th { writing-mode: vertical-rl; transform: rotate(180deg); font-size: 14px; }
  td { text-align: center; vertical-align: top; } img { width: 160px; height: 160px; display: block; margin: auto; }
  img.px { image-rendering: pixelated; } img.page { object-fit: cover; width: 205px; }
  caption { font-size: 14px; padding: 8px; text-align: left; }
</style><table><caption>The same pictures (bundled model, a new seed per word): the old and new particle sets drawn as discs of
their sizes, and the page (headless chromium) before and after issue 39. Figures: blurred-luminance SSIM and mean RGB
error against the picture over the drawing's box (docs/particles.md, "Measuring").</caption>${rows.join('')}</table>`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  await page.setContent(html);
  await page.locator('table').screenshot({ path: out });
} finally {
  await browser.close();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(out);
