// What the browser scripts share to start `prtkl serve` on loopback: a free port, and waiting for it to answer.
import { createServer } from 'node:net';

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

// Resolves once BASE/api/health answers 200; throws after `seconds` (a first start loads the model).
export async function waitForHealth(base, seconds = 150) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    try {
      if ((await fetch(`${base}/api/health`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the server did not come up');
}
