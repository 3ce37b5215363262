// prtkl main page: one word -> a picture that assembles from particles (docs/api.md).
import p5 from 'p5';
import { api, ApiError, el, safeUrl } from './api.js';
import { decodeParticles } from './particles.js';
import { Field } from './field.js';
import { TypingPreview } from './typing_preview.js';

const $ = (id) => document.getElementById(id);
const form = $('form');
const input = $('word');
const statusEl = $('status');
const sceneEl = $('scene');
const downloadBtn = $('download');
const galleryEl = $('gallery');
const stage = $('stage');
const preview = $('preview');
const styleSelect = $('style');

const FRAME_KEEP = 600;
const field = new Field(8000);

// Test and debugging hook (docs/web.md).
const prtkl = {
  state: 'idle',
  particleCount: field.n,
  frameTimes: [],
  workTimes: [],
  targets: () => field.targets(),
  displaced: (px) => field.displaced(px),
  fit: null,
  job: null,
  styles: [], // the style switch's names once loaded (none first); empty when the model has no styles
  field,
  typing: null, // the TypingPreview: its started previews and the one shown
};
window.prtkl = prtkl;

function setState(s) {
  if (prtkl.state !== s) {
    prtkl.state = s;
    stage.dataset.state = s;
  }
}
setState(field.state);

// ---- p5 sketch (instance mode): owns the canvas and the frame loop -------------------------
let ctx = null;
function canvasSize() {
  const w = Math.max(240, Math.min(stage.clientWidth || 720, 820));
  const h = Math.max(240, Math.min(Math.round(w * 0.78), Math.round(window.innerHeight * 0.72)));
  return [Math.round(w), h];
}

new p5((p) => {
  let last = 0;
  p.setup = () => {
    const [w, h] = canvasSize();
    p.pixelDensity(1);
    const c = p.createCanvas(w, h);
    c.parent(stage);
    c.elt.id = 'canvas';
    ctx = p.drawingContext;
    field.resize(w, h);
    p.frameRate(60);
    const canvas = c.elt;
    const pos = (e) => {
      const r = canvas.getBoundingClientRect();
      return [((e.clientX - r.left) * canvas.width) / r.width, ((e.clientY - r.top) * canvas.height) / r.height];
    };
    canvas.addEventListener('pointermove', (e) => {
      const [x, y] = pos(e);
      field.mouse.x = x;
      field.mouse.y = y;
      field.mouse.inside = true;
    });
    canvas.addEventListener('pointerleave', () => {
      field.mouse.inside = false;
    });
    canvas.addEventListener('pointerdown', (e) => {
      const [x, y] = pos(e);
      field.scatter(x, y);
    });
  };
  p.windowResized = () => {
    const [w, h] = canvasSize();
    if (w !== field.W || h !== field.H) {
      p.resizeCanvas(w, h);
      ctx = p.drawingContext;
      field.resize(w, h);
    }
  };
  p.draw = () => {
    const now = performance.now();
    const dt = last ? Math.min(0.1, (now - last) / 1000) : 1 / 60;
    if (last) {
      prtkl.frameTimes.push(now - last);
      if (prtkl.frameTimes.length > FRAME_KEEP) prtkl.frameTimes.splice(0, prtkl.frameTimes.length - FRAME_KEEP);
    }
    last = now;
    field.step(dt);
    field.render(ctx);
    prtkl.workTimes.push(performance.now() - now);
    if (prtkl.workTimes.length > FRAME_KEEP) prtkl.workTimes.splice(0, prtkl.workTimes.length - FRAME_KEEP);
    prtkl.particleCount = field.n;
    prtkl.fit = field.fit;
    setState(field.state);
  };
}, stage);

// ---- status line --------------------------------------------------------------------------
function status(text, kind = '') {
  statusEl.textContent = text;
  statusEl.className = kind;
}

const STAGES = {
  queued: 'queued',
  interpreting: 'interpreting the word',
  generating: 'painting',
  particles: 'sampling particles',
  done: 'done',
  error: 'error',
};

// ---- jobs ---------------------------------------------------------------------------------
let current = null; // { id, word, es, particlesLoaded, settled }: settled once its picture or error is shown
let retryTimer = null;

// The picture drawn is a preview's (lighter, sparser) until a full job's replaces it.
function previewing(word) {
  stage.classList.toggle('previewing', !!word);
  if (word) stage.dataset.preview = word;
  else delete stage.dataset.preview;
}

// A preview draws only while no full job is on its way: a full job's picture always wins.
const typing = new TypingPreview((set, word) => {
  if (current && !current.settled) return false;
  field.show(set);
  prtkl.particleCount = set.n;
  previewing(word);
  status(`“${word}”: a quick sketch; Enter draws it in full`);
  return true;
}, () => chosenStyle());
prtkl.typing = typing;
input.addEventListener('input', () => typing.typed(input.value));

function settle(token) {
  token.settled = true;
}

function setScene(text) {
  sceneEl.textContent = text || '';
}

function setDownload(url, word) {
  const u = safeUrl(url);
  downloadBtn.disabled = !u;
  downloadBtn.dataset.url = u || '';
  downloadBtn.dataset.word = word || 'prtkl';
}

downloadBtn.addEventListener('click', () => {
  const u = downloadBtn.dataset.url;
  if (!u) return;
  const a = document.createElement('a');
  a.href = u;
  a.download = `prtkl-${(downloadBtn.dataset.word || 'image').replace(/[^\p{L}\p{N}_-]+/gu, '_').slice(0, 40) || 'image'}.png`;
  document.body.append(a);
  a.click();
  a.remove();
});

async function loadParticles(url, token) {
  let set;
  try {
    const u = safeUrl(url);
    if (!u) throw new Error('no particle file');
    const res = await fetch(u);
    if (!res.ok) throw new Error(`particles: HTTP ${res.status}`);
    set = decodeParticles(await res.arrayBuffer());
  } finally {
    settle(token); // shown or failed: previews may draw again
  }
  if (token !== current) return; // a newer job took over
  field.show(set);
  previewing(null);
  prtkl.particleCount = set.n;
}

function closeStream() {
  if (current && current.es) {
    current.es.close();
    current.es = null;
  }
}

async function generate(word) {
  clearTimeout(retryTimer);
  closeStream();
  typing.stop();
  const token = { word, id: null, es: null, particlesLoaded: false, settled: false };
  current = token;
  setScene('');
  setDownload(null);
  preview.hidden = true;
  previewing(null);
  field.release();
  status(`“${word}”: sending…`);
  let reply;
  try {
    // The tab's client id: the server ends this tab's preview, which would otherwise run after the full job.
    reply = await api('/api/generate', { method: 'POST', body: { word, client: typing.client, ...chosenStyle() } });
  } catch (e) {
    if (token !== current) return;
    if (e instanceof ApiError && e.status === 429) {
      let left = e.retryAfter && e.retryAfter > 0 ? e.retryAfter : 5;
      const tick = () => {
        if (token !== current) return;
        if (left <= 0) return generate(word);
        status(`busy, retrying in ${left}s`, 'warn');
        left -= 1;
        retryTimer = setTimeout(tick, 1000);
      };
      tick();
      return;
    }
    settle(token);
    field.restore();
    status(e.status === 400 ? e.message : `could not start: ${e.message}`, 'error');
    return;
  }
  const id = reply.data && reply.data.id;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_-]+$/.test(id)) {
    settle(token);
    status('the server sent no job id', 'error');
    return;
  }
  token.id = id;
  prtkl.job = id;
  follow(token);
}

function follow(token) {
  const es = new EventSource(`/api/jobs/${encodeURIComponent(token.id)}/events`);
  token.es = es;
  const data = (ev) => {
    try {
      return JSON.parse(ev.data || '{}') || {};
    } catch {
      return {};
    }
  };
  const mine = () => token === current;
  const label = `“${token.word}”`;
  es.addEventListener('queued', (ev) => {
    if (!mine()) return;
    const d = data(ev);
    status(`${label}: queued${Number.isFinite(d.position) ? ` (${d.position} ahead)` : ''}`);
  });
  es.addEventListener('interpreting', () => mine() && status(`${label}: ${STAGES.interpreting}`));
  // not in docs/api.md's table, but the server sends {"stage": "generating"|"particles"} between steps
  es.addEventListener('stage', (ev) => {
    if (!mine()) return;
    const d = data(ev);
    if (d.stage === 'generating') status(`${label}: ${STAGES.generating}`);
    else if (d.stage === 'particles') status(`${label}: ${STAGES.particles}`);
  });
  es.addEventListener('prompt', (ev) => {
    if (!mine()) return;
    const d = data(ev);
    setScene(typeof d.scene === 'string' ? d.scene : '');
    sceneEl.title = typeof d.prompt === 'string' ? d.prompt : '';
  });
  es.addEventListener('step', (ev) => {
    if (!mine()) return;
    const d = data(ev);
    const k = Number.isFinite(d.step) ? d.step : '?';
    const n = Number.isFinite(d.steps) ? d.steps : '?';
    status(`${label}: ${STAGES.generating}, step ${k}/${n}`);
    if (typeof d.preview === 'string' && d.preview.startsWith('data:image/')) {
      preview.src = d.preview;
      preview.hidden = false;
    }
  });
  es.addEventListener('particles', (ev) => {
    if (!mine()) return;
    const d = data(ev);
    status(`${label}: ${STAGES.particles}`);
    if (!token.particlesLoaded && d.url) {
      token.particlesLoaded = true;
      loadParticles(d.url, token).catch((e) => mine() && status(`${label}: ${e.message}`, 'error'));
    }
  });
  es.addEventListener('done', (ev) => {
    if (!mine()) return;
    const job = data(ev);
    es.close();
    token.es = null;
    preview.hidden = true;
    const secs = job.timings && Number.isFinite(job.timings.total_ms) ? ` in ${(job.timings.total_ms / 1000).toFixed(1)} s` : '';
    status(`${label}: done${secs}`, 'ok');
    if (typeof job.scene === 'string') setScene(job.scene);
    setDownload(job.image_url, token.word);
    if (!token.particlesLoaded && job.particles_url) {
      token.particlesLoaded = true;
      loadParticles(job.particles_url, token).catch((e) => mine() && status(`${label}: ${e.message}`, 'error'));
    }
    refreshGallery();
  });
  // Named 'error' events carry data; a bare connection error does not.
  es.addEventListener('error', (ev) => {
    if (!mine()) return;
    if (ev && typeof ev.data === 'string' && ev.data) {
      const d = data(ev);
      es.close();
      token.es = null;
      settle(token);
      preview.hidden = true;
      field.restore();
      status(`${label}: ${d.message || 'failed'}`, 'error');
      return;
    }
    if (es.readyState === EventSource.CLOSED) {
      // the browser gave up: ask for the job once
      api(`/api/jobs/${encodeURIComponent(token.id)}`)
        .then(({ data: job }) => {
          if (!mine()) return;
          if (job.state === 'error') {
            settle(token);
            status(`${label}: ${job.error || 'failed'}`, 'error');
          }
          else if (job.state !== 'done') follow(token);
        })
        .catch((e) => {
          if (!mine()) return;
          settle(token);
          status(`${label}: lost the connection (${e.message})`, 'error');
        });
    }
  });
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const word = input.value.trim();
  if (!word) {
    status('type a word first', 'warn');
    input.focus();
    return;
  }
  generate(word);
});

// ---- style switch -------------------------------------------------------------------------
// The served model's styles (GET /api/styles); the choice is remembered. A model without styles hides the switch
// and requests name none, so the server's default applies.
const STYLE_KEY = 'prtkl_style';

function chosenStyle() {
  return styleSelect.hidden || !styleSelect.value ? {} : { style: styleSelect.value };
}

async function loadStyles() {
  let data;
  try {
    ({ data } = await api('/api/styles'));
  } catch {
    return;
  }
  const styles = (Array.isArray(data && data.styles) ? data.styles : []).filter((s) => s && typeof s.name === 'string');
  if (!styles.length) return;
  const names = ['none', ...styles.map((s) => s.name)];
  styleSelect.replaceChildren(
    ...names.map((name) => {
      const described = styles.find((s) => s.name === name);
      return el('option', { value: name, text: name, title: described ? described.description || null : null });
    }),
  );
  let remembered = null;
  try {
    remembered = localStorage.getItem(STYLE_KEY);
  } catch {
    // private mode: the server's default
  }
  styleSelect.value = names.includes(remembered) ? remembered : names.includes(data.default) ? data.default : 'none';
  styleSelect.hidden = false;
  prtkl.styles = names;
}

styleSelect.addEventListener('change', () => {
  try {
    localStorage.setItem(STYLE_KEY, styleSelect.value);
  } catch {
    // not remembered, still used
  }
});

// ---- gallery ------------------------------------------------------------------------------
function replay(job) {
  clearTimeout(retryTimer);
  closeStream();
  typing.stop();
  const token = { word: job.word, id: job.id, es: null, particlesLoaded: true, settled: false };
  current = token;
  prtkl.job = job.id;
  input.value = typeof job.word === 'string' ? job.word : '';
  setScene(typeof job.scene === 'string' ? job.scene : '');
  setDownload(job.image_url, job.word);
  status(`“${job.word}”`, 'ok');
  field.release();
  loadParticles(job.particles_url, token).catch((e) => token === current && status(e.message, 'error'));
}

async function refreshGallery() {
  let data;
  try {
    ({ data } = await api('/api/gallery?page=0&per_page=24'));
  } catch {
    return;
  }
  // only pictures with a particle set can be replayed (jobs from /v1/images have none)
  const items = (Array.isArray(data && data.items) ? data.items : []).filter((j) => j && safeUrl(j.particles_url));
  galleryEl.replaceChildren(
    ...items.map((job) => {
      const img = safeUrl(job.image_url) ? el('img', { src: job.image_url, alt: '', loading: 'lazy' }) : null;
      return el(
        'button',
        { class: 'item', type: 'button', title: job.scene || job.word || '', onclick: () => replay(job), dataset: { id: job.id } },
        img,
        el('span', { class: 'word', text: String(job.word ?? '') }),
      );
    }),
  );
  $('gallery-empty').hidden = items.length > 0;
}

loadStyles();
refreshGallery();
input.focus();
