#!/usr/bin/env node
// A throwaway stand-in for `prtkl serve` that follows docs/api.md, for developing the web app
// without the C++ server. Same command line:
//   node mock-server.mjs serve --model X --port 8080 --data DIR --web web/dist [--curation DIR] [--sweep DIR]
// Pictures are synthesized (a dark shape on white), particle sets are sampled from them.
import http from 'node:http';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, extname, join, normalize, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { encodePNG } from './png.mjs';

const args = process.argv.slice(2).filter((a) => a !== 'serve');
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const port = Number(opt('--port', '8080'));
const dataDir = resolve(opt('--data', '/tmp/prtkl-mock'));
const webRoot = resolve(opt('--web', 'web/dist'));
const curationDir = opt('--curation', '') && resolve(opt('--curation'));
const trainDir = curationDir && resolve(opt('--train-dir', join(curationDir, 'train')));
const sweepDir = opt('--sweep', '') && resolve(opt('--sweep'));
const particleCount = Number(opt('--particles', '8000'));
const stepMs = Number(process.env.MOCK_STEP_MS || 60);
const model = basename(opt('--model', 'mock-model'));
mkdirSync(join(dataDir, 'jobs'), { recursive: true });

const jobs = new Map(); // id -> { job, events: [], listeners: Set }
const queue = [];
let busyUntilRetry = 0;

// ---- picture + particles ----------------------------------------------------------------------
function hash(s) {
  let h = 2166136261;
  for (const c of Buffer.from(s)) h = Math.imul(h ^ c, 16777619) >>> 0;
  return h;
}
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => ((s = Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9 >>> 0), (s >>> 0) / 4294967296);
}
function picture(word, seed, W = 128, H = 128) {
  const r = rng(hash(word) ^ seed);
  const rgb = new Uint8Array(W * H * 3).fill(255);
  const cr = 40 + r() * 160, cg = 20 + r() * 120, cb = 60 + r() * 160;
  // a heart-ish blob plus a bar, position depending on the word
  const cx = W * (0.4 + r() * 0.2), cy = H * (0.42 + r() * 0.1), R = W * (0.22 + r() * 0.08);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const u = (x - cx) / R, v = -(y - cy) / R;
      const heart = Math.pow(u * u + v * v - 1, 3) - u * u * v * v * v <= 0;
      const bar = y > H * 0.82 && y < H * 0.88 && x > W * 0.2 && x < W * 0.8;
      if (heart || bar) {
        const shade = 0.6 + 0.4 * (y / H);
        rgb.set([cr * shade, cg * shade, cb * shade], 3 * (y * W + x));
      }
    }
  }
  return { W, H, rgb };
}
function particlesBin({ W, H, rgb }, n, seed) {
  const r = rng(seed + 7);
  const cand = [];
  for (let i = 0; i < W * H; i++) if (rgb[3 * i] < 250 || rgb[3 * i + 1] < 250 || rgb[3 * i + 2] < 250) cand.push(i);
  const buf = Buffer.alloc(32 + 8 * n);
  buf.write('PRTK', 0, 'ascii');
  buf.writeUInt16LE(1, 4);
  buf.writeUInt16LE(32, 6);
  buf.writeUInt32LE(n, 8);
  buf.writeUInt32LE(W, 12);
  buf.writeUInt32LE(H, 16);
  buf[20] = buf[21] = buf[22] = 255;
  buf.writeBigUInt64LE(BigInt(seed), 24);
  for (let i = 0; i < n; i++) {
    const p = cand[Math.floor(r() * cand.length)];
    const x = (p % W) + r(), y = Math.floor(p / W) + r();
    buf.writeUInt16LE(Math.min(65535, Math.floor((x / W) * 65536)), 32 + 4 * i);
    buf.writeUInt16LE(Math.min(65535, Math.floor((y / H) * 65536)), 32 + 4 * i + 2);
    buf[32 + 4 * n + 3 * i] = rgb[3 * p];
    buf[32 + 4 * n + 3 * i + 1] = rgb[3 * p + 1];
    buf[32 + 4 * n + 3 * i + 2] = rgb[3 * p + 2];
    buf[32 + 7 * n + i] = 8 + Math.floor(r() * 8);
  }
  return buf;
}

// ---- jobs ---------------------------------------------------------------------------------
function emit(entry, name, data) {
  entry.events.push({ name, data });
  for (const l of entry.listeners) l(name, data);
}
function jobJson(j) {
  return { ...j };
}
function startNext() {
  if (queue.some((e) => e.job.state === 'running')) return;
  const entry = queue.find((e) => e.job.state === 'queued');
  if (!entry) return;
  const j = entry.job;
  j.state = 'running';
  j.stage = 'interpreting';
  const t0 = Date.now();
  emit(entry, 'interpreting', {});
  setTimeout(() => {
    if (j.word.toLowerCase() === 'fail') {
      j.state = j.stage = 'error';
      j.error = 'the mock fails on purpose';
      emit(entry, 'error', { message: j.error });
      queue.splice(queue.indexOf(entry), 1);
      return startNext();
    }
    j.scene = `a quiet picture of ${j.word}`;
    j.prompt = `${j.scene}, simple shapes, white background`;
    j.stage = 'generating';
    emit(entry, 'prompt', { scene: j.scene, prompt: j.prompt });
    let step = 0;
    const pic = picture(j.word, j.seed);
    const tick = () => {
      step++;
      j.step = step;
      const ev = { step, steps: j.steps };
      if (step % 5 === 0) ev.preview = `data:image/png;base64,${encodePNG(pic.W, pic.H, pic.rgb).toString('base64')}`;
      emit(entry, 'step', ev);
      if (step < j.steps) return setTimeout(tick, stepMs);
      const dir = join(dataDir, 'jobs', j.id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'image.png'), encodePNG(pic.W, pic.H, pic.rgb));
      writeFileSync(join(dir, 'particles.bin'), particlesBin(pic, particleCount, j.seed));
      j.stage = 'particles';
      j.image_url = `/files/jobs/${j.id}/image.png`;
      j.particles_url = `/files/jobs/${j.id}/particles.bin`;
      j.particle_count = particleCount;
      emit(entry, 'particles', { count: particleCount, url: j.particles_url });
      setTimeout(() => {
        j.state = j.stage = 'done';
        const total = Date.now() - t0;
        j.timings = { queued_ms: 0, interpret_ms: 3, generate_ms: total - 10, particles_ms: 7, total_ms: total };
        emit(entry, 'done', jobJson(j));
        queue.splice(queue.indexOf(entry), 1);
        startNext();
      }, 30);
    };
    setTimeout(tick, stepMs);
  }, 80);
}

// ---- http ---------------------------------------------------------------------------------
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.json': 'application/json', '.bin': 'application/octet-stream', '.txt': 'text/plain' };
function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
function serveFile(res, root, rel) {
  if (rel.includes('..') || rel.includes('\0')) return send(res, 400, { error: 'bad path' });
  const file = normalize(join(root, rel));
  if (!file.startsWith(root + sep) && file !== root) return send(res, 404, { error: 'not found' });
  if (!existsSync(file) || !statSync(file).isFile()) return send(res, 404, { error: 'not found' });
  res.writeHead(200, { 'Content-Type': MIME[extname(file)] || 'application/octet-stream' });
  createReadStream(file).pipe(res);
}
function readBody(req) {
  return new Promise((ok) => {
    let s = '';
    req.on('data', (c) => (s += c));
    req.on('end', () => ok(s));
  });
}

let curation = null;
function loadCuration() {
  if (!curationDir) return null;
  const lines = readFileSync(join(curationDir, 'candidates.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  const decisions = existsSync(join(curationDir, 'decisions.json')) ? JSON.parse(readFileSync(join(curationDir, 'decisions.json'), 'utf8')) : {};
  return lines.map((l) => {
    const j = JSON.parse(l);
    const id = basename(j.file_name, extname(j.file_name));
    return { id, file_name: j.file_name, caption: j.text || '', decision: decisions[id] || null };
  });
}
curation = loadCuration();
const candJson = (c) => ({ id: c.id, image_url: `/files/curation/${c.file_name}`, caption: c.caption, decision: c.decision });

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = decodeURIComponent(url.pathname);
  try {
    if (req.method === 'POST' && p === '/api/generate') {
      let body;
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        return send(res, 400, { error: 'the request body is not valid JSON' });
      }
      const word = body.word;
      if (typeof word !== 'string' || !word.trim()) return send(res, 400, { error: 'field "word" must be a non-empty string' });
      if ([...word].length > 64) return send(res, 400, { error: 'the word is longer than 64 characters' });
      if (word === 'busy' && Date.now() > busyUntilRetry) {
        busyUntilRetry = Date.now() + 10000;
        return send(res, 429, { error: 'the queue is full, retry in 2 s' }, { 'Retry-After': '2' });
      }
      const seed = Number.isInteger(body.seed) ? body.seed : Math.floor(Math.random() * 2 ** 31);
      for (const e of jobs.values()) {
        if (e.job.word === word && e.job.seed === seed && e.job.state === 'done') return send(res, 200, { id: e.job.id, state: 'done', cached: true });
      }
      const id = `j_${randomBytes(8).toString('hex')}`;
      const job = { id, state: 'queued', stage: 'queued', word, seed, model, scene: null, prompt: null, step: 0, steps: 20, image_url: null, particles_url: null, particles_json_url: null, particle_count: null, created_at: new Date().toISOString(), timings: null, error: null };
      const entry = { job, events: [], listeners: new Set() };
      jobs.set(id, entry);
      queue.push(entry);
      emit(entry, 'queued', { position: queue.filter((e) => e.job.state === 'queued').length - 1 });
      startNext();
      return send(res, 202, { id, state: 'queued', cached: false });
    }
    let m;
    if (req.method === 'GET' && (m = p.match(/^\/api\/jobs\/([^/]+)\/events$/))) {
      const entry = jobs.get(m[1]);
      if (!entry) return send(res, 404, { error: 'unknown job id' });
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const write = (name, data) => {
        res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
        if (name === 'done' || name === 'error') {
          entry.listeners.delete(write);
          res.end();
        }
      };
      // replay the current state
      const j = entry.job;
      if (j.state === 'done') return write('done', jobJson(j));
      if (j.state === 'error') return write('error', { message: j.error });
      for (const e of entry.events) write(e.name, e.data);
      entry.listeners.add(write);
      req.on('close', () => entry.listeners.delete(write));
      return;
    }
    if (req.method === 'GET' && (m = p.match(/^\/api\/jobs\/([^/]+)$/))) {
      const entry = jobs.get(m[1]);
      return entry ? send(res, 200, jobJson(entry.job)) : send(res, 404, { error: 'unknown job id' });
    }
    if (req.method === 'GET' && p === '/api/gallery') {
      const page = Number(url.searchParams.get('page') || 0), per = Number(url.searchParams.get('per_page') || 24);
      const done = [...jobs.values()].map((e) => e.job).filter((j) => j.state === 'done').reverse();
      return send(res, 200, { items: done.slice(page * per, page * per + per), page, per_page: per, total: done.length });
    }
    if (req.method === 'GET' && p === '/api/health') {
      return send(res, 200, { status: 'ok', model, queue: { length: queue.length, capacity: 16 }, worker: queue.length ? 'busy' : 'idle' });
    }
    if (p.startsWith('/api/curation')) {
      if (!curation) return send(res, 404, { error: 'curation is off: start prtkl serve with --curation DIR' });
      if (req.method === 'GET' && p === '/api/curation') return send(res, 200, { candidates: curation.map(candJson), train_dir: basename(trainDir) });
      if (req.method === 'POST' && p === '/api/curation/export') {
        mkdirSync(trainDir, { recursive: true });
        let written = 0, meta = '';
        for (const c of curation) {
          const img = join(trainDir, basename(c.file_name));
          const txt = img.replace(/\.[^.]*$/, '.txt');
          if (c.decision !== 'keep') {
            rmSync(img, { force: true });
            rmSync(txt, { force: true });
            continue;
          }
          copyFileSync(join(curationDir, c.file_name), img);
          writeFileSync(txt, `${c.caption}\n`);
          meta += `${JSON.stringify({ file_name: basename(img), text: c.caption })}\n`;
          written++;
        }
        writeFileSync(join(trainDir, 'metadata.jsonl'), meta);
        return send(res, 200, { written, folder: basename(trainDir) });
      }
      if (req.method === 'POST' && (m = p.match(/^\/api\/curation\/([^/]+)$/))) {
        const c = curation.find((x) => x.id === m[1]);
        if (!c) return send(res, 404, { error: `unknown candidate '${m[1]}'` });
        let body;
        try {
          body = JSON.parse(await readBody(req));
        } catch {
          return send(res, 400, { error: 'bad json' });
        }
        if (![null, 'keep', 'reject'].includes(body.decision ?? null)) return send(res, 400, { error: 'bad decision' });
        c.decision = body.decision ?? null;
        const d = {};
        for (const x of curation) if (x.decision) d[x.id] = x.decision;
        writeFileSync(join(curationDir, 'decisions.json'), JSON.stringify(d, null, 2));
        return send(res, 200, candJson(c));
      }
    }
    if (req.method === 'GET' && p === '/api/sweep') {
      if (!sweepDir) return send(res, 404, { error: 'no sweep: start prtkl serve with --sweep DIR' });
      const s = JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8'));
      for (const c of s.cells) c.url = `/files/sweep/${c.file}`;
      return send(res, 200, s);
    }
    if (req.method === 'GET' && (m = p.match(/^\/files\/(jobs|curation|sweep)(\/.*)$/))) {
      const root = { jobs: join(dataDir, 'jobs'), curation: curationDir, sweep: sweepDir }[m[1]];
      if (!root) return send(res, 404, { error: 'not found' });
      return serveFile(res, root, m[2]);
    }
    if (req.method === 'GET') return serveFile(res, webRoot, p === '/' ? '/index.html' : p);
    send(res, 404, { error: 'not found' });
  } catch (e) {
    send(res, 500, { error: String(e && e.message) });
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/`);
});
const stop = () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 500);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
