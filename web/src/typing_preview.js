// As the user types: once typing pauses, a preview job for the word (docs/api.md, Previews). The server keeps one
// preview per client and cancels the last when a new one comes, so the page only follows the newest; Enter's full
// job takes over through stop().
import { api } from './api.js';
import { decodeParticles } from './particles.js';

const DEBOUNCE_MS = 120; // a pause this long in typing asks for a preview
const DATA_PREFIX = 'data:application/octet-stream;base64,';
const ID = /^[A-Za-z0-9_-]+$/;

function base64Buffer(text) {
  const bytes = atob(text);
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
  return out.buffer;
}

export class TypingPreview {
  // show(set, word): draws a preview's particles; false when the page will not (a full job is on its way).
  // body(): the request's other fields (the chosen style).
  constructor(show, body) {
    this.show = show;
    this.body = body;
    // Who the server replaces previews for: this tab.
    this.client = `tab-${Math.random().toString(36).slice(2, 14)}`;
    this.timer = null;
    this.latest = null; // the newest preview asked for; an older one's particles are never drawn
    this.es = null;
    this.sending = Promise.resolve(); // one POST at a time: the server must see them in typing order
    this.off = false; // the server has no previews (501 behind Redis)
    this.started = []; // [{id, word}] in order, for the browser test (docs/web.md)
    this.shown = null; // {id, word, ms}: the preview drawn last, ms from the last keystroke to its drawing
  }

  typed(text) {
    clearTimeout(this.timer);
    const word = text.trim();
    if (!word || this.off) return;
    const typedAt = performance.now();
    this.timer = setTimeout(() => this.start(word, typedAt), DEBOUNCE_MS);
  }

  // The full job takes over: nothing asked for before draws any more.
  stop() {
    clearTimeout(this.timer);
    this.latest = null;
    this.close();
  }

  close() {
    if (this.es) this.es.close();
    this.es = null;
  }

  start(word, typedAt) {
    const token = { word, typedAt };
    this.latest = token;
    this.sending = this.sending.then(() => this.send(token));
  }

  async send(token) {
    if (token !== this.latest) return; // a newer word is already waiting to be sent
    let reply;
    try {
      reply = await api('/api/generate', { method: 'POST', body: { word: token.word, preview: true, client: this.client, ...this.body() } });
    } catch (e) {
      if (e.status === 501) this.off = true;
      return; // a word the server refuses shows its error on Enter, not while it is being typed
    }
    const id = reply.data && reply.data.id;
    if (typeof id !== 'string' || !ID.test(id)) return;
    this.started.push({ id, word: token.word });
    if (token === this.latest) this.follow(token, id);
  }

  follow(token, id) {
    this.close(); // the server has cancelled the one this stream was on
    const es = new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`);
    this.es = es;
    const end = () => {
      es.close();
      if (this.es === es) this.es = null;
    };
    es.addEventListener('particles', (ev) => {
      if (token !== this.latest) return;
      let d;
      try {
        d = JSON.parse(ev.data || '{}') || {};
      } catch {
        return;
      }
      if (typeof d.data !== 'string' || !d.data.startsWith(DATA_PREFIX)) return;
      const set = decodeParticles(base64Buffer(d.data.slice(DATA_PREFIX.length)));
      if (this.show(set, token.word)) this.shown = { id, word: token.word, ms: performance.now() - token.typedAt };
    });
    es.addEventListener('done', end);
    es.addEventListener('error', end); // cancelled, failed or a lost connection: a preview is not retried
  }
}
