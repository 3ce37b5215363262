// The particle field: positions, velocities and colours in typed arrays, stepped and splatted
// straight into one ImageData per frame (no per-particle objects, no per-particle canvas calls).
//
// Modes: 'drift'  - a cloud moving in a cheap flow field (state 'idle' or 'drifting'),
//        'ease'   - staggered eased flight from where each particle is to its target ('assembling'),
//        'spring' - at rest on the targets; the pointer pushes, springs pull back; a click scatters
//                   them ('assembling' until they settle, then 'assembled').

const BG = [9, 10, 16]; // the page background, #090a10
const GLOW = 0.5; // strength of the bloom, which adds GLOW x the blurred frame
const BG_BUF = BG.map((c) => Math.round(c / (1 + GLOW))); // so background + bloom = BG
const MARGIN = 20; // canvas pixels kept free around the picture
const MOUSE_R = 80;

// Lifts dark colours so every particle shows on the dark background.
function lift(r, g, b, out, i) {
  const lum = 0.3 * r + 0.59 * g + 0.11 * b;
  const add = lum < 120 ? 120 - lum : 0;
  out[3 * i] = Math.min(255, r + add);
  out[3 * i + 1] = Math.min(255, g + add);
  out[3 * i + 2] = Math.min(255, b + add);
}

// Splat kernels for radii 1..4 px: offsets and weights, a solid core with a soft glow.
const KERNELS = [null];
for (let R = 1; R <= 3; R++) {
  const dx = [];
  const dy = [];
  const w = [];
  const ext = R + 1;
  for (let y = -ext; y <= ext; y++) {
    for (let x = -ext; x <= ext; x++) {
      const d = Math.hypot(x, y);
      const v = d <= R - 0.5 ? 0.92 : Math.max(0, 1 - (d - (R - 0.5)) / 1.5) * 0.35;
      if (v > 0.02) {
        dx.push(x);
        dy.push(y);
        w.push(v);
      }
    }
  }
  KERNELS.push({ dx: Int32Array.from(dx), dy: Int32Array.from(dy), w: Float32Array.from(w) });
}

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
    for (const k of ['px', 'py', 'vx', 'vy', 'tx', 'ty', 'sx', 'sy', 'delay', 'dur', 'curve', 'rad']) this[k] = f32(this[k]);
    this.col = u8(this.col, 3); // colour drawn now
    this.from = u8(this.from, 3); // colour when the flight started
    this.to = u8(this.to, 3); // target colour (lifted)
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
    lift(90 + 120 * t, 120 + 90 * (1 - t), 255, this.col, i);
    this.rad[i] = Math.random() < 0.85 ? 1 : 1.6;
  }

  resize(W, H) {
    const oldW = this.W;
    const oldH = this.H;
    this.W = Math.max(1, W | 0);
    this.H = Math.max(1, H | 0);
    this.image = new ImageData(this.W, this.H);
    this.buf32 = new Uint32Array(this.image.data.buffer);
    const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    const bg = this.glow ? BG_BUF : BG;
    this.bg32 = littleEndian
      ? (255 << 24) | (bg[2] << 16) | (bg[1] << 8) | bg[0]
      : (bg[0] << 24) | (bg[1] << 16) | (bg[2] << 8) | 255;
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
    for (let i = 0; i < set.n; i++) {
      lift(set.rgb[3 * i], set.rgb[3 * i + 1], set.rgb[3 * i + 2], this.to, i);
    }
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
      this.rad[i] = Math.min(2.6, Math.max(0.8, d * 0.35));
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
      const { sx, sy, tx, ty, delay, dur, curve, col, from, to } = this;
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

  // Splats every particle into the ImageData: alpha-blended discs with a soft halo, so colours
  // survive where particles overlap and the halos give a faint glow.
  render(ctx) {
    const W = this.W;
    const H = this.H;
    this.buf32.fill(this.bg32);
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
      const K = KERNELS[Math.min(3, Math.round(ri))];
      const cx = Math.round(x);
      const cy = Math.round(y);
      const { dx, dy, w } = K;
      for (let j = 0; j < w.length; j++) {
        const xx = cx + dx[j];
        const yy = cy + dy[j];
        if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
        const o = (yy * W + xx) * 4;
        const v = w[j];
        d[o] += (r - d[o]) * v;
        d[o + 1] += (g - d[o + 1]) * v;
        d[o + 2] += (b - d[o + 2]) * v;
      }
    }
    ctx.putImageData(this.image, 0, 0);
    if (this.glow) this.bloom(ctx);
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
    ctx.globalAlpha = GLOW;
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
