// Sweep: checkpoints (rows) x prompt/seed (columns); click an image to zoom, Esc closes.
import { api, el, safeUrl } from './api.js';

const table = document.getElementById('sweep');
const message = document.getElementById('message');
const overlay = document.getElementById('overlay');
const zoom = document.getElementById('zoom');
const zoomLabel = document.getElementById('zoom-label');

function open(url, label) {
  zoom.src = url;
  zoom.alt = label;
  zoomLabel.textContent = label;
  overlay.hidden = false;
}
function close() {
  overlay.hidden = true;
  zoom.removeAttribute('src');
}
overlay.addEventListener('click', close);
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !overlay.hidden) close();
});

async function load() {
  let data;
  try {
    ({ data } = await api('/api/sweep'));
  } catch (e) {
    message.textContent = e.message;
    message.className = 'error';
    return;
  }
  const checkpoints = Array.isArray(data.checkpoints) ? data.checkpoints.map(String) : [];
  const prompts = Array.isArray(data.prompts) ? data.prompts.map(String) : [];
  const seeds = Array.isArray(data.seeds) ? data.seeds : [];
  const cells = Array.isArray(data.cells) ? data.cells : [];
  const key = (c, p, s) => `${c}\u0000${p}\u0000${s}`;
  const byKey = new Map(cells.map((c) => [key(String(c.checkpoint), Number(c.prompt), String(c.seed)), c]));
  const cols = [];
  prompts.forEach((p, pi) => seeds.forEach((s) => cols.push({ pi, prompt: p, seed: s })));

  const head = el('tr', {}, el('th', { text: '' }), ...cols.map((c) => el('th', { title: c.prompt, text: `${c.prompt} · seed ${c.seed}` })));
  const rows = checkpoints.map((ck) =>
    el(
      'tr',
      {},
      el('th', { class: 'row', text: ck }),
      ...cols.map((c) => {
        const cell = byKey.get(key(ck, c.pi, String(c.seed)));
        const url = cell && safeUrl(cell.url);
        const label = `${ck} · ${c.prompt} · seed ${c.seed}`;
        return el('td', {}, url ? el('img', { src: url, alt: label, title: label, loading: 'lazy', onclick: () => open(url, label) }) : el('span', { class: 'muted', text: '–' }));
      }),
    ),
  );
  table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
  message.textContent = `${checkpoints.length} checkpoints × ${prompts.length} prompts × ${seeds.length} seeds`;
}

load();
