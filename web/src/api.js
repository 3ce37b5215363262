// Small helpers around fetch for the prtkl API (docs/api.md).

export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export async function api(path, { method = 'GET', body } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `network error: ${e.message}`);
  }
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
