// Small helpers around fetch for the prtkl API (docs/api.md).

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

// A server started with an access token (docs/api.md, "Security") answers 401 without it. The page asks once and
// keeps the token in localStorage (this origin's only) for its own requests; the requests it cannot add a header
// to (images, EventSource) carry a cookie that the server sets (POST /api/session): HttpOnly, so no script reads
// it, not even one of a page on another port of this host, which shares the cookie jar.
const TOKEN_KEY = 'prtkl_token';
let asking = null;
let session = null;

function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

// Asks the server for the cookie, once per page load and again for a new token.
function startSession(token) {
  session = fetch('/api/session', {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: '{}',
  }).catch(() => null);
  return session;
}

function keepToken(token) {
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // private mode: the cookie still carries it for this session
  }
  return startSession(token);
}

// One question at a time, however many requests got a 401 meanwhile.
function askToken() {
  if (!asking) {
    asking = Promise.resolve(window.prompt('This prtkl server needs its access token:') || '').then((t) => {
      asking = null;
      const token = t.trim();
      return token ? keepToken(token).then(() => token) : token;
    });
  }
  return asking;
}

async function send(path, init) {
  const token = storedToken();
  if (token && !session) startSession(token);
  if (session) await session; // the cookie is there before an EventSource or image needs it
  const headers = { ...init.headers };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return { res: await fetch(path, { ...init, headers }), token };
  } catch (e) {
    throw new ApiError(0, `network error: ${e.message}`);
  }
}

export async function api(path, { method = 'GET', body } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let { res, token } = await send(path, init);
  // A 401 for a token that has changed since (the answer to a question another request asked) is tried again
  // with the new one; otherwise ask.
  if (res.status === 401 && (storedToken() !== token || (await askToken()))) ({ res } = await send(path, init));
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    const err = data && data.error;
    if (typeof err === 'string') message = err;
    else if (err && typeof err.message === 'string') message = err.message;
    const ra = parseInt(res.headers.get('Retry-After') || '', 10);
    throw new ApiError(res.status, message, Number.isFinite(ra) ? ra : undefined);
  }
  return { status: res.status, data };
}

// Creates an element; text goes in with textContent, never as HTML.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// Only same-origin relative paths from the server become URLs in the page.
export function safeUrl(u) {
  return typeof u === 'string' && u.startsWith('/') && !u.startsWith('//') ? u : null;
}
