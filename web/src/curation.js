// Curation: keep or reject generated candidates, then export the kept ones as a training folder.
import { api, el, safeUrl } from './api.js';

const grid = document.getElementById('grid');
const message = document.getElementById('message');
const exportBtn = document.getElementById('export');
const exportStatus = document.getElementById('export-status');
const counts = document.getElementById('counts');

let cards = []; // { cand, node }
let focus = 0;

function mark(card) {
  const d = card.cand.decision;
  card.node.classList.toggle('keep', d === 'keep');
  card.node.classList.toggle('reject', d === 'reject');
  card.node.dataset.decision = d || '';
}

function updateCounts() {
  const kept = cards.filter((c) => c.cand.decision === 'keep').length;
  const rejected = cards.filter((c) => c.cand.decision === 'reject').length;
  counts.textContent = `${cards.length} candidates · ${kept} kept · ${rejected} rejected`;
}

function setFocus(i, scroll = true) {
  if (!cards.length) return;
  focus = Math.max(0, Math.min(cards.length - 1, i));
  cards.forEach((c, j) => c.node.classList.toggle('focused', j === focus));
  if (scroll) cards[focus].node.scrollIntoView({ block: 'nearest' });
}

async function decide(i, decision) {
  const card = cards[i];
  if (!card) return;
  const before = card.cand.decision ?? null;
  card.cand.decision = decision; // optimistic
  mark(card);
  updateCounts();
  try {
    const { data } = await api(`/api/curation/${encodeURIComponent(card.cand.id)}`, { method: 'POST', body: { decision } });
    card.cand.decision = data && 'decision' in data ? data.decision : decision;
  } catch (e) {
    card.cand.decision = before;
    message.textContent = `could not save ${card.cand.id}: ${e.message}`;
    message.className = 'error';
  }
  mark(card);
  updateCounts();
}

function toggle(i, decision) {
  const c = cards[i];
  if (c) decide(i, c.cand.decision === decision ? null : decision);
}

function columns() {
  if (cards.length < 2) return 1;
  const top = cards[0].node.offsetTop;
  let n = 0;
  while (n < cards.length && cards[n].node.offsetTop === top) n++;
  return Math.max(1, n);
}

document.addEventListener('keydown', (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
  const k = e.key;
  if (k === 'k') toggle(focus, 'keep');
  else if (k === 'r' || k === 'x') toggle(focus, 'reject');
  else if (k === 'u') decide(focus, null);
  else if (k === 'ArrowRight' || k === 'l') setFocus(focus + 1);
  else if (k === 'ArrowLeft' || k === 'j') setFocus(focus - 1);
  else if (k === 'ArrowDown') setFocus(focus + columns());
  else if (k === 'ArrowUp') setFocus(focus - columns());
  else return;
  e.preventDefault();
});

async function load() {
  let data;
  try {
    ({ data } = await api('/api/curation'));
  } catch (e) {
    message.textContent = e.message;
    message.className = 'error';
    exportBtn.disabled = true;
    return;
  }
  const list = Array.isArray(data && data.candidates) ? data.candidates : [];
  message.textContent = list.length ? `training folder: ${data.train_dir ?? '?'}` : 'no candidates';
  message.className = 'muted';
  cards = list.map((cand, i) => {
    const node = el(
      'article',
      { class: 'card', tabindex: '-1', dataset: { id: String(cand.id) } },
      safeUrl(cand.image_url) ? el('img', { src: cand.image_url, alt: String(cand.caption ?? ''), loading: 'lazy', onclick: () => { setFocus(i, false); toggle(i, 'keep'); } }) : null,
      el('p', { class: 'caption', text: String(cand.caption ?? '') }),
      el(
        'div',
        { class: 'actions' },
        el('button', { type: 'button', class: 'keep-btn', text: 'keep', onclick: () => { setFocus(i, false); toggle(i, 'keep'); } }),
        el('button', { type: 'button', class: 'reject-btn', text: 'reject', onclick: () => { setFocus(i, false); toggle(i, 'reject'); } }),
      ),
    );
    return { cand, node };
  });
  cards.forEach(mark);
  grid.replaceChildren(...cards.map((c) => c.node));
  setFocus(0, false);
  updateCounts();
}

exportBtn.addEventListener('click', async () => {
  exportBtn.disabled = true;
  exportStatus.textContent = 'exporting…';
  exportStatus.className = '';
  try {
    const { data } = await api('/api/curation/export', { method: 'POST', body: {} });
    exportStatus.textContent = `${data.written} written to ${data.folder}`;
  } catch (e) {
    exportStatus.textContent = `export failed: ${e.message}`;
    exportStatus.className = 'error';
  }
  exportBtn.disabled = false;
});

load();
