// How faithfully the page's assembled canvas shows the job's picture (the recipe of docs/particles.md, "Measuring",
// which `prtkl particles --score` follows for a set): both cropped to the drawing's box, resampled to 96 px on the
// long side, blurred (Gaussian, sigma 1.5 px: about the dots' spacing), then SSIM on luminance and the mean RGB
// distance over the box. The picture is composited onto the colour the page gives its paper (the canvas's median
// over the picture's paper pixels), antialiased rim included, so a dark page is not counted as an error; only the
// drawing is compared.

const SIDE = 96;
const SIGMA = 1.5;

const luma = (r, g, b) => 0.299 * r + 0.587 * g + 0.114 * b;

function median(values) {
  const s = Float64Array.from(values).sort();
  return s.length ? s[s.length >> 1] : 0;
}

// The picture's background: pixels connected to the border whose colour stays within `tol` (Euclidean RGB) of the
// border's median colour; the sampler's own limit, so white inside a figure is not taken for the page's background
// where the sampler keeps it. Returns a mask (1 = background) and that colour.
export function backgroundMask(rgb, w, h, tol = 20) {
  const ring = [];
  for (let x = 0; x < w; x++) ring.push(x, (h - 1) * w + x);
  for (let y = 1; y < h - 1; y++) ring.push(y * w, y * w + w - 1);
  const bg = [0, 1, 2].map((k) => median(ring.map((i) => rgb[3 * i + k])));
  const near = (i) => Math.hypot(rgb[3 * i] - bg[0], rgb[3 * i + 1] - bg[1], rgb[3 * i + 2] - bg[2]) <= tol;
  const mask = new Uint8Array(w * h);
  const stack = ring.filter(near);
  for (const i of stack) mask[i] = 1;
  while (stack.length) {
    const i = stack.pop();
    const x = i % w, y = (i / w) | 0;
    for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]]) {
      if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
      const j = ny * w + nx;
      if (!mask[j] && near(j)) {
        mask[j] = 1;
        stack.push(j);
      }
    }
  }
  return { mask, bg };
}

// How much of each drawing pixel beside the paper is drawing (1 elsewhere): a rim pixel on the line from the paper's
// colour to a more distinct drawing colour within 2 pixels is that colour blended with the paper.
function coverage(rgb, w, h, mask, paper) {
  const alpha = new Float64Array(w * h).fill(1);
  const off = (i) => [0, 1, 2].map((k) => rgb[3 * i + k] - paper[k]);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (mask[i]) continue;
      let rim = false;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx >= 0 && yy >= 0 && xx < w && yy < h && mask[yy * w + xx]) rim = true;
        }
      if (!rim) continue;
      const c = off(i);
      let reach = Math.hypot(...c);
      for (let dy = -2; dy <= 2; dy++)
        for (let dx = -2; dx <= 2; dx++) {
          const xx = x + dx, yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= w || yy >= h || mask[yy * w + xx]) continue;
          const f = off(yy * w + xx);
          const r = Math.hypot(...f);
          if (r <= reach) continue;
          const a = (c[0] * f[0] + c[1] * f[1] + c[2] * f[2]) / (r * r);
          if (Math.hypot(c[0] - a * f[0], c[1] - a * f[1], c[2] - a * f[2]) < 24) (reach = r), (alpha[i] = Math.max(0, a));
        }
    }
  return alpha;
}

// The bounding box of the drawing (non-background pixels), padded by `pad` pixels, clamped to the image.
export function drawingBox(mask, w, h, pad = 1) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (!mask[y * w + x]) {
        x0 = Math.min(x0, x), y0 = Math.min(y0, y), x1 = Math.max(x1, x), y1 = Math.max(y1, y);
      }
  if (x1 < 0) return null;
  return { x0: Math.max(0, x0 - pad), y0: Math.max(0, y0 - pad), x1: Math.min(w, x1 + 1 + pad), y1: Math.min(h, y1 + 1 + pad) };
}

// Area-average resample of the rectangle [x0,x1) x [y0,y1) of a picture read by `at(x, y) -> [r,g,b]`
// (integer pixels) onto a gw x gh grid, by supersampling each cell densely enough to touch every pixel.
function resample(at, x0, y0, x1, y1, gw, gh) {
  const out = new Float64Array(gw * gh * 3);
  const sx = (x1 - x0) / gw, sy = (y1 - y0) / gh;
  const nx = Math.max(2, Math.ceil(sx * 2)), ny = Math.max(2, Math.ceil(sy * 2));
  for (let v = 0; v < gh; v++)
    for (let u = 0; u < gw; u++) {
      let r = 0, g = 0, b = 0;
      for (let j = 0; j < ny; j++)
        for (let i = 0; i < nx; i++) {
          const c = at(Math.floor(x0 + (u + (i + 0.5) / nx) * sx), Math.floor(y0 + (v + (j + 0.5) / ny) * sy));
          r += c[0], g += c[1], b += c[2];
        }
      const o = 3 * (v * gw + u), m = nx * ny;
      out[o] = r / m, out[o + 1] = g / m, out[o + 2] = b / m;
    }
  return out;
}

function blur(img, w, h, channels, sigma) {
  const R = Math.ceil(3 * sigma);
  const k = Array.from({ length: 2 * R + 1 }, (_, i) => Math.exp(-((i - R) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const pass = (src, horizontal) => {
    const dst = new Float64Array(src.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < channels; c++) {
          let s = 0;
          for (let d = -R; d <= R; d++) {
            const xx = horizontal ? Math.min(w - 1, Math.max(0, x + d)) : x;
            const yy = horizontal ? y : Math.min(h - 1, Math.max(0, y + d));
            s += k[d + R] * src[(yy * w + xx) * channels + c];
          }
          dst[(y * w + x) * channels + c] = s / sum;
        }
    return dst;
  };
  return pass(pass(img, true), false);
}

// Mean SSIM over 7x7 windows of two luminance images.
function ssim(a, b, w, h) {
  const C1 = (0.01 * 255) ** 2, C2 = (0.03 * 255) ** 2, R = 3;
  let total = 0, count = 0;
  for (let y = R; y < h - R; y++)
    for (let x = R; x < w - R; x++) {
      let ma = 0, mb = 0, aa = 0, bb = 0, ab = 0, n = 0;
      for (let dy = -R; dy <= R; dy++)
        for (let dx = -R; dx <= R; dx++) {
          const i = (y + dy) * w + x + dx;
          ma += a[i], mb += b[i], aa += a[i] * a[i], bb += b[i] * b[i], ab += a[i] * b[i], n++;
        }
      ma /= n, mb /= n;
      const va = aa / n - ma * ma, vb = bb / n - mb * mb, cov = ab / n - ma * mb;
      total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
      count++;
    }
  return count ? total / count : 1;
}

// picture: {width, height, rgb (Uint8Array w*h*3)}; canvas: {width, height, data (RGBA)}; fit: the page's
// placement of the picture on the canvas {scale, ox, oy}. Returns {ssim, colour_error, box} or null for a blank
// picture.
export function pageFidelity(picture, canvas, fit) {
  const { width: w, height: h, rgb } = picture;
  const { mask, bg: paper } = backgroundMask(rgb, w, h);
  const box = drawingBox(mask, w, h);
  if (!box) return null;
  const cw = canvas.width, chh = canvas.height, cd = canvas.data;
  const canvasAt = (x, y) => {
    const o = 4 * (Math.min(chh - 1, Math.max(0, y)) * cw + Math.min(cw - 1, Math.max(0, x)));
    return [cd[o], cd[o + 1], cd[o + 2]];
  };
  const toCanvas = (sx, sy) => [Math.floor(fit.ox + (sx + 0.5) * fit.scale), Math.floor(fit.oy + (sy + 0.5) * fit.scale)];
  // the colour the page shows where the picture is background (inside the picture's rectangle)
  const shown = [[], [], []];
  for (let i = 0; i < w * h; i++)
    if (mask[i]) {
      const c = canvasAt(...toCanvas(i % w, (i / w) | 0));
      for (let k = 0; k < 3; k++) shown[k].push(c[k]);
    }
  const pageBg = shown[0].length ? shown.map(median) : [0, 0, 0];
  const bw = box.x1 - box.x0, bh = box.y1 - box.y0;
  const gw = Math.max(8, Math.round((SIDE * bw) / Math.max(bw, bh))), gh = Math.max(8, Math.round((SIDE * bh) / Math.max(bw, bh)));
  const alpha = coverage(rgb, w, h, mask, paper);
  const ref = resample((x, y) => {
    const i = Math.min(h - 1, y) * w + Math.min(w - 1, x);
    // c = a f + (1 - a) paper on paper is a f + (1 - a) pageBg on the page
    return mask[i] ? pageBg : [0, 1, 2].map((k) => rgb[3 * i + k] + (1 - alpha[i]) * (pageBg[k] - paper[k]));
  }, box.x0, box.y0, box.x1, box.y1, gw, gh);
  const c0 = [fit.ox + box.x0 * fit.scale, fit.oy + box.y0 * fit.scale];
  const got = resample(canvasAt, c0[0], c0[1], fit.ox + box.x1 * fit.scale, fit.oy + box.y1 * fit.scale, gw, gh);
  return { ...compare(ref, got, gw, gh), box, page_background: pageBg };
}

// SSIM on blurred luminance and mean RGB distance of two gw x gh RGB images.
export function compare(ref, got, gw, gh) {
  const a = blur(ref, gw, gh, 3, SIGMA), b = blur(got, gw, gh, 3, SIGMA);
  const la = new Float64Array(gw * gh), lb = new Float64Array(gw * gh);
  let err = 0;
  for (let i = 0; i < gw * gh; i++) {
    la[i] = luma(a[3 * i], a[3 * i + 1], a[3 * i + 2]);
    lb[i] = luma(b[3 * i], b[3 * i + 1], b[3 * i + 2]);
    err += Math.hypot(a[3 * i] - b[3 * i], a[3 * i + 1] - b[3 * i + 1], a[3 * i + 2] - b[3 * i + 2]);
  }
  return { ssim: ssim(la, lb, gw, gh), colour_error: err / (gw * gh) };
}

// The page's picture as the judge reads a PNG: each picture pixel's block of the canvas (fit: the page's placement),
// its pixels that differ from the page's background (`pageBg`, pageFidelity's page_background) averaged as the
// drawing and the rest given the picture's own paper colour: the particles as they would look on the picture's paper.
// Returns {width, height, rgb} at the picture's size.
export function pageOnPaper(picture, canvas, fit, pageBg, tol = 24) {
  const { width: w, height: h } = picture;
  const { bg: paper } = backgroundMask(picture.rgb, w, h);
  const cw = canvas.width, chh = canvas.height, cd = canvas.data;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor(fit.ox + x * fit.scale), x1 = Math.max(x0 + 1, Math.floor(fit.ox + (x + 1) * fit.scale));
      const y0 = Math.floor(fit.oy + y * fit.scale), y1 = Math.max(y0 + 1, Math.floor(fit.oy + (y + 1) * fit.scale));
      const sum = [0, 0, 0];
      let drawn = 0, all = 0;
      for (let cy = Math.max(0, y0); cy < Math.min(chh, y1); cy++)
        for (let cx = Math.max(0, x0); cx < Math.min(cw, x1); cx++) {
          const o = 4 * (cy * cw + cx);
          all++;
          if (Math.hypot(cd[o] - pageBg[0], cd[o + 1] - pageBg[1], cd[o + 2] - pageBg[2]) <= tol) continue;
          drawn++;
          for (let k = 0; k < 3; k++) sum[k] += cd[o + k];
        }
      const a = all ? drawn / all : 0;
      for (let k = 0; k < 3; k++) rgb[3 * (y * w + x) + k] = Math.round(drawn ? a * (sum[k] / drawn) + (1 - a) * paper[k] : paper[k]);
    }
  return { width: w, height: h, rgb };
}
