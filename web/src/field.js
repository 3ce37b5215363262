// The particle field: positions, velocities and colours in typed arrays, stepped and splatted
// straight into one ImageData per frame (no per-particle objects, no per-particle canvas calls).
//
// Modes: 'drift'  - a cloud moving in a cheap flow field (state 'idle' or 'drifting'),
//        'ease'   - staggered eased flight from where each particle is to its target ('assembling'),
//        'spring' - at rest on the targets; the pointer pushes, springs pull back; a click scatters
//                   them ('assembling' until they settle, then 'assembled').

const BG = [9, 10, 16]; // the page background, #090a10
const GLOW_FLIGHT = 0.45; // bloom while the particles fly (adds GLOW x the blurred frame): they trail light
const GLOW_REST = 0.06; // bloom once assembled: barely any, so it does not blur the picture's detail
const PLATE = 0.1; // the picture's paper shown this faintly behind it, so dark dots read on the dark page
const FLY_R = 1.1; // radius of a dot in flight, canvas pixels
const SETTLE_STEPS = 16; // the backdrop (page, plate, bloom compensation) is rebuilt at this many levels
const MARGIN = 20; // canvas pixels kept free around the picture
const MOUSE_R = 80;

const easeInOutCubic = (u) => (u < 0.5 ? 4 * u * u * u : 1 - Math.pow(-2 * u + 2, 3) / 2);

export class Field {
  constructor(count = 8000) {
    this.cap = 0;
    this.n = 0;
    this.W = 1;
    this.H = 1;
    this.mode = 'drift';
    this.state = 'idle';
    this.time = 0;
    this.mouse = { x: 0, y: 0, inside: false };
    this.set = null; // the decoded particle set being shown
    this.fit = null;
    this.easeStart = 0;
    this.easeEnd = 0;
    this.scatterAt = -1;
    this.glow = true;
    this.grow(count);
    this.n = count;
    for (let i = 0; i < count; i++) this.spawn(i);
  }

  grow(cap) {
    if (cap <= this.cap) return;
    const f32 = (old) => {
      const a = new Float32Array(cap);
      if (old) a.set(old);
      return a;
    };
    const u8 = (old, k) => {
      const a = new Uint8Array(cap * k);
      if (old) a.set(old);
      return a;
    };
    for (const k of ['px', 'py', 'vx', 'vy', 'tx', 'ty', 'sx', 'sy', 'delay', 'dur', 'curve', 'rad', 'trad']) this[k] = f32(this[k]);
    this.col = u8(this.col, 3); // colour drawn now
    this.from = u8(this.from, 3); // colour when the flight started
    this.to = u8(this.to, 3); // target colour: the set's, unchanged
    this.cap = cap;
  }

  // A new particle somewhere in the cloud around the centre, in a cool palette.
  spawn(i) {
    const a = Math.random() * Math.PI * 2;
    const r = Math.sqrt(Math.random()) * Math.min(this.W, this.H) * 0.38;
    this.px[i] = this.W / 2 + Math.cos(a) * r;
    this.py[i] = this.H / 2 + Math.sin(a) * r;
    this.vx[i] = 0;
    this.vy[i] = 0;
    const t = Math.random();
    this.col[3 * i] = 90 + 120 * t;
    this.col[3 * i + 1] = 120 + 90 * (1 - t);
    this.col[3 * i + 2] = 255;
    this.rad[i] = FLY_R * (Math.random() < 0.85 ? 1 : 1.45);
  }

  resize(W, H) {
    const oldW = this.W;
    const oldH = this.H;
    this.W = Math.max(1, W | 0);
    this.H = Math.max(1, H | 0);
    this.image = new ImageData(this.W, this.H);
    this.buf32 = new Uint32Array(this.image.data.buffer);
    this.backdrop = null;
    const sx = this.W / oldW;
    const sy = this.H / oldH;
    for (let i = 0; i < this.n; i++) {
      this.px[i] *= sx;
      this.py[i] *= sy;
    }
    if (this.set) {
      this.computeTargets();
      if (this.mode === 'ease') this.startEase(false);
    }
  }

  // Back to a drifting cloud (a job started): particles keep their place and colour.
  release() {
    this.mode = 'drift';
    this.state = 'drifting';
    for (let i = 0; i < this.n; i++) {
      this.rad[i] = FLY_R * (Math.random() < 0.85 ? 1 : 1.45);
      this.vx[i] += (Math.random() - 0.5) * 4;
      this.vy[i] += (Math.random() - 0.5) * 4;
    }
  }

  idle() {
    this.mode = 'drift';
    this.state = 'idle';
  }

  // After a failed request: the last picture comes back, or the cloud idles.
  restore() {
    if (this.set) this.startEase(true);
    else this.idle();
  }

  // Shows a decoded particle set: each particle flies from where it is to its place in the picture.
  show(set) {
    const old = this.n;
    this.grow(set.n);
    this.n = set.n;
    for (let i = old; i < set.n; i++) this.spawn(i);
    this.set = set;
    this.to.set(set.rgb);
    this.computeTargets();
    this.startEase(true);
  }

  // Targets in canvas pixels: the image fitted into the canvas, aspect kept, centred.
  computeTargets() {
    const s = this.set;
    const scale = Math.min((this.W - 2 * MARGIN) / s.width, (this.H - 2 * MARGIN) / s.height);
    const ox = (this.W - s.width * scale) / 2;
    const oy = (this.H - s.height * scale) / 2;
    this.fit = { scale, ox, oy, width: s.width, height: s.height, canvasWidth: this.W, canvasHeight: this.H };
    const kx = (s.width * scale) / 65536;
    const ky = (s.height * scale) / 65536;
    for (let i = 0; i < s.n; i++) {
      this.tx[i] = ox + s.xy[2 * i] * kx;
      this.ty[i] = oy + s.xy[2 * i + 1] * ky;
      const d = (s.size[i] / 8) * scale; // diameter in canvas pixels
      this.trad[i] = Math.max(0.6, d / 2); // the set's size, the disc around each dot's cell: they tile the figure
      if (this.mode === 'spring') this.rad[i] = this.trad[i];
    }
  }

  startEase(fresh) {
    const now = this.time;
    for (let i = 0; i < this.n; i++) {
      this.sx[i] = this.px[i];
      this.sy[i] = this.py[i];
      this.from[3 * i] = this.col[3 * i];
      this.from[3 * i + 1] = this.col[3 * i + 1];
      this.from[3 * i + 2] = this.col[3 * i + 2];
      if (fresh) {
        // a sweep from the top with some randomness; ~1.6-2.4 s in all
        this.delay[i] = 0.55 * (this.ty[i] / this.H) + 0.3 * Math.random();
        this.dur[i] = 1.0 + 0.5 * Math.random();
        this.curve[i] = (Math.random() - 0.5) * 0.5;
      }
      this.vx[i] = 0;
      this.vy[i] = 0;
    }
    this.easeStart = now;
    this.easeEnd = now + 0.85 + 1.5;
    this.mode = 'ease';
    this.state = 'assembling';
  }

  // Click: blow the particles away from the point; springs bring them back.
  scatter(x, y) {
    if (this.mode === 'drift') {
      for (let i = 0; i < this.n; i++) {
        const dx = this.px[i] - x;
        const dy = this.py[i] - y;
        const d = Math.hypot(dx, dy) + 1;
        const f = 30 / Math.sqrt(d);
        this.vx[i] += (dx / d) * f;
        this.vy[i] += (dy / d) * f;
      }
      return;
    }
    if (this.mode === 'ease') this.finishEase();
    for (let i = 0; i < this.n; i++) {
      const dx = this.px[i] - x;
      const dy = this.py[i] - y;
      const d = Math.hypot(dx, dy) + 1;
      const a = Math.random() * Math.PI * 2;
      const speed = 6 + 22 * Math.random();
      this.vx[i] = (dx / d) * speed + Math.cos(a) * speed * 0.6;
      this.vy[i] = (dy / d) * speed + Math.sin(a) * speed * 0.6;
    }
    this.mode = 'spring';
    this.state = 'assembling';
    this.scatterAt = this.time;
  }

  finishEase() {
    for (let i = 0; i < this.n; i++) {
      this.px[i] = this.tx[i];
      this.py[i] = this.ty[i];
      this.vx[i] = 0;
      this.vy[i] = 0;
      this.col[3 * i] = this.to[3 * i];
      this.col[3 * i + 1] = this.to[3 * i + 1];
      this.col[3 * i + 2] = this.to[3 * i + 2];
      this.rad[i] = this.trad[i];
    }
    this.mode = 'spring';
    this.state = 'assembled';
  }

  // Advances by dt seconds.
  step(dt) {
    this.time += dt;
    const f = Math.min(3, Math.max(0.25, dt * 60)); // in 60 Hz frames
    const n = this.n;
    const { px, py, vx, vy } = this;
    if (this.mode === 'drift') {
      // Curl noise: the velocity field is the curl of a moving potential, so it is divergence-free
      // and the cloud never collapses onto attractors; a soft wall keeps it on the canvas.
      const t = this.time;
      const cx = this.W / 2;
      const cy = this.H / 2;
      const R0 = Math.min(this.W, this.H) * 0.36;
      const a1 = 0.011, b1 = 0.013, a2 = 0.027, b2 = 0.023;
      const speed = 0.7;
      const relax = 1 - Math.pow(0.94, f);
      const jitter = 0.6 * f;
      for (let i = 0; i < n; i++) {
        const x = px[i];
        const y = py[i];
        const s1 = Math.sin(x * a1 + t * 0.31), c1 = Math.cos(x * a1 + t * 0.31);
        const s2 = Math.sin(y * b1 - t * 0.23), c2 = Math.cos(y * b1 - t * 0.23);
        const s3 = Math.sin(x * a2 - y * b2 + t * 0.5), c3 = Math.cos(x * a2 - y * b2 + t * 0.5);
        // psi = s1*c2 + 0.35*s3 ; v = (dpsi/dy, -dpsi/dx)
        let fx = speed * (-s1 * s2 * b1 * 60 - 0.35 * c3 * b2 * 60);
        let fy = -speed * (c1 * c2 * a1 * 60 + 0.35 * c3 * a2 * 60);
        const dx = x - cx;
        const dy = y - cy;
        const d = Math.sqrt(dx * dx + dy * dy) + 1e-6;
        if (d > R0) {
          const k = (d - R0) * 0.02;
          fx -= (dx / d) * k;
          fy -= (dy / d) * k;
        }
        vx[i] += (fx - vx[i]) * relax + (Math.random() - 0.5) * jitter;
        vy[i] += (fy - vy[i]) * relax + (Math.random() - 0.5) * jitter;
        px[i] = x + vx[i] * f;
        py[i] = y + vy[i] * f;
      }
      return;
    }
    if (this.mode === 'ease') {
      const t = this.time - this.easeStart;
      const { sx, sy, tx, ty, delay, dur, curve, col, from, to, rad, trad } = this;
      for (let i = 0; i < n; i++) {
        let u = (t - delay[i]) / dur[i];
        u = u <= 0 ? 0 : u >= 1 ? 1 : u;
        const e = easeInOutCubic(u);
        const dx = tx[i] - sx[i];
        const dy = ty[i] - sy[i];
        const bend = Math.sin(Math.PI * e) * curve[i];
        px[i] = sx[i] + dx * e - dy * bend;
        py[i] = sy[i] + dy * e + dx * bend;
        const k = 3 * i;
        col[k] = from[k] + (to[k] - from[k]) * e;
        col[k + 1] = from[k + 1] + (to[k + 1] - from[k + 1]) * e;
        col[k + 2] = from[k + 2] + (to[k + 2] - from[k + 2]) * e;
        // small in flight, full size on arrival
        rad[i] = FLY_R + (trad[i] - FLY_R) * e * e * e * e;
      }
      if (this.time >= this.easeEnd) this.finishEase();
      return;
    }
    // spring
    const { tx, ty } = this;
    const k = 0.018 * f;
    const damp = Math.pow(0.88, f);
    const m = this.mouse;
    const R2 = MOUSE_R * MOUSE_R;
    let maxOff = 0;
    for (let i = 0; i < n; i++) {
      let ax = (tx[i] - px[i]) * k;
      let ay = (ty[i] - py[i]) * k;
      if (m.inside) {
        const dx = px[i] - m.x;
        const dy = py[i] - m.y;
        const d2 = dx * dx + dy * dy;
        if (d2 < R2 && d2 > 0.0001) {
          const d = Math.sqrt(d2);
          const s = (1 - d / MOUSE_R) * (1 - d / MOUSE_R) * 2.2 * f;
          ax += (dx / d) * s;
          ay += (dy / d) * s;
        }
      }
      vx[i] = (vx[i] + ax) * damp;
      vy[i] = (vy[i] + ay) * damp;
      px[i] += vx[i] * f;
      py[i] += vy[i] * f;
      const off = Math.abs(tx[i] - px[i]) + Math.abs(ty[i] - py[i]) + Math.abs(vx[i]) + Math.abs(vy[i]);
      if (off > maxOff) maxOff = off;
    }
    if (this.state === 'assembling' && (maxOff < 0.75 || this.time - this.scatterAt > 5 || (m.inside && this.time - this.scatterAt > 2.5))) {
      this.state = 'assembled';
    }
  }

  // How far the picture has settled, 0 (flying or no picture) .. 1 (assembled), in SETTLE_STEPS levels: it fades
  // the plate in and the bloom down.
  settleLevel() {
    if (!this.set || this.mode === 'drift') return 0;
    if (this.mode === 'spring') return SETTLE_STEPS;
    const u = Math.min(1, Math.max(0, (this.time - this.easeStart) / (this.easeEnd - this.easeStart)));
    return Math.round(u * u * SETTLE_STEPS);
  }

  // The frame's starting pixels: the page, the faint plate of the picture's paper behind it, both divided by
  // (1 + bloom) because the bloom adds that much of their blur back.
  buildBackdrop(level) {
    const W = this.W;
    const H = this.H;
    const settle = level / SETTLE_STEPS;
    const glow = this.glow ? GLOW_FLIGHT + (GLOW_REST - GLOW_FLIGHT) * settle : 0;
    const back = new Uint32Array(W * H);
    const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    const pack = (r, g, b) => (littleEndian ? (255 << 24) | (b << 16) | (g << 8) | r : (r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
    const k = 1 / (1 + glow);
    back.fill(pack(Math.round(BG[0] * k), Math.round(BG[1] * k), Math.round(BG[2] * k)));
    const f = this.fit;
    const paper = this.set && this.set.background;
    if (f && paper && settle > 0) {
      const x0 = f.ox, y0 = f.oy, x1 = f.ox + f.width * f.scale, y1 = f.oy + f.height * f.scale;
      const corner = 0.06 * Math.min(x1 - x0, y1 - y0);
      const soft = 8; // canvas pixels over which the plate's edge fades
      const a = PLATE * settle;
      const hx = (x1 - x0) / 2 - corner, hy = (y1 - y0) / 2 - corner, cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
      for (let y = Math.max(0, Math.floor(y0 - soft)); y < Math.min(H, Math.ceil(y1 + soft)); y++) {
        for (let x = Math.max(0, Math.floor(x0 - soft)); x < Math.min(W, Math.ceil(x1 + soft)); x++) {
          // signed distance to the rounded rectangle
          const qx = Math.max(Math.abs(x + 0.5 - cx) - hx, 0);
          const qy = Math.max(Math.abs(y + 0.5 - cy) - hy, 0);
          const d = Math.sqrt(qx * qx + qy * qy) - corner;
          const m = a * Math.min(1, Math.max(0, 0.5 - d / soft));
          if (m <= 0) continue;
          back[y * W + x] = pack(
            Math.round((BG[0] + (paper[0] - BG[0]) * m) * k),
            Math.round((BG[1] + (paper[1] - BG[1]) * m) * k),
            Math.round((BG[2] + (paper[2] - BG[2]) * m) * k),
          );
        }
      }
    }
    this.backdrop = back;
    this.backdropKey = `${level} ${W} ${H} ${f ? f.scale : 0} ${paper}`;
    this.glowNow = glow;
  }

  // Splats every particle into the ImageData: alpha-blended discs, antialiased over one pixel, so colours survive
  // exactly in the dots' cores and neighbouring dots meet without seams.
  render(ctx) {
    const W = this.W;
    const H = this.H;
    const level = this.settleLevel();
    const f = this.fit;
    if (!this.backdrop || this.backdropKey !== `${level} ${W} ${H} ${f ? f.scale : 0} ${this.set && this.set.background}`) {
      this.buildBackdrop(level);
    }
    this.buf32.set(this.backdrop);
    const d = this.image.data;
    const { px, py, col, rad } = this;
    const n = this.n;
    for (let i = 0; i < n; i++) {
      const x = px[i];
      const y = py[i];
      if (!(x >= 0 && y >= 0 && x < W - 1 && y < H - 1)) continue;
      const r = col[3 * i];
      const g = col[3 * i + 1];
      const b = col[3 * i + 2];
      const ri = rad[i];
      if (ri < 1.25) {
        // sub-pixel bilinear splat: smooth motion for the small ones
        const x0 = x | 0;
        const y0 = y | 0;
        const fx = x - x0;
        const fy = y - y0;
        const a = 0.95;
        const w00 = (1 - fx) * (1 - fy) * a;
        const w10 = fx * (1 - fy) * a;
        const w01 = (1 - fx) * fy * a;
        const w11 = fx * fy * a;
        let o = (y0 * W + x0) * 4;
        d[o] += (r - d[o]) * w00; d[o + 1] += (g - d[o + 1]) * w00; d[o + 2] += (b - d[o + 2]) * w00;
        o += 4;
        d[o] += (r - d[o]) * w10; d[o + 1] += (g - d[o + 1]) * w10; d[o + 2] += (b - d[o + 2]) * w10;
        o += W * 4;
        d[o] += (r - d[o]) * w11; d[o + 1] += (g - d[o + 1]) * w11; d[o + 2] += (b - d[o + 2]) * w11;
        o -= 4;
        d[o] += (r - d[o]) * w01; d[o + 1] += (g - d[o + 1]) * w01; d[o + 2] += (b - d[o + 2]) * w01;
        continue;
      }
      // a disc at its sub-pixel centre: coverage falls from 1 to 0 over the pixel across its edge
      const xa = Math.max(0, Math.floor(x - ri));
      const xb = Math.min(W - 1, Math.ceil(x + ri));
      const ya = Math.max(0, Math.floor(y - ri));
      const yb = Math.min(H - 1, Math.ceil(y + ri));
      const edge = ri + 0.5;
      for (let yy = ya; yy <= yb; yy++) {
        const dy = yy + 0.5 - y;
        let o = (yy * W + xa) * 4;
        for (let xx = xa; xx <= xb; xx++, o += 4) {
          const dx = xx + 0.5 - x;
          const v = edge - Math.sqrt(dx * dx + dy * dy);
          if (v <= 0) continue;
          if (v >= 1) {
            d[o] = r;
            d[o + 1] = g;
            d[o + 2] = b;
          } else {
            d[o] += (r - d[o]) * v;
            d[o + 1] += (g - d[o + 1]) * v;
            d[o + 2] += (b - d[o + 2]) * v;
          }
        }
      }
    }
    ctx.putImageData(this.image, 0, 0);
    if (this.glow && this.glowNow > 0.01) this.bloom(ctx);
  }

  // A cheap bloom: the frame shrunk to 1/4 (the browser averages), then stretched back on top
  // with additive blending, which smears each bright area into a soft glow.
  bloom(ctx) {
    const w = Math.max(1, Math.round(this.W / 4));
    const h = Math.max(1, Math.round(this.H / 4));
    if (!this.small || this.small.width !== w || this.small.height !== h) {
      this.small = document.createElement('canvas');
      this.small.width = w;
      this.small.height = h;
      this.smallCtx = this.small.getContext('2d');
    }
    const s = this.smallCtx;
    s.globalCompositeOperation = 'copy';
    s.imageSmoothingEnabled = true;
    s.drawImage(ctx.canvas, 0, 0, w, h);
    ctx.save();
    ctx.globalCompositeOperation = 'lighter';
    ctx.globalAlpha = this.glowNow;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'low';
    ctx.drawImage(this.small, 0, 0, this.W, this.H);
    ctx.restore();
  }

  // How many particles are more than `px` canvas pixels away from their targets (for tests).
  displaced(px = 3) {
    if (!this.set) return 0;
    let c = 0;
    for (let i = 0; i < this.n; i++) if (Math.hypot(this.px[i] - this.tx[i], this.py[i] - this.ty[i]) > px) c++;
    return c;
  }

  // Targets as a plain array [x0, y0, x1, y1, ...] in canvas pixels (for tests).
  targets() {
    if (!this.set) return null;
    return Array.from(this.tx.subarray(0, this.n), (x, i) => [x, this.ty[i]]).flat();
  }
}

export const BACKGROUND = BG;
