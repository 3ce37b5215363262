// Decoder for particles.bin (docs/particles.md): a 32-byte header, then planar arrays
// xy (n x 2 x u16, fractions of width/height in 1/65536), rgb (n x 3 x u8) and size (n x u8, 1/8 px).

export function decodeParticles(buffer) {
  if (!(buffer instanceof ArrayBuffer)) throw new Error('particles: expected an ArrayBuffer');
  if (buffer.byteLength < 32) throw new Error(`particles: ${buffer.byteLength} bytes is too short`);
  const dv = new DataView(buffer);
  const magic = String.fromCharCode(dv.getUint8(0), dv.getUint8(1), dv.getUint8(2), dv.getUint8(3));
  if (magic !== 'PRTK') throw new Error('particles: bad magic');
  const version = dv.getUint16(4, true);
  if (version !== 1) throw new Error(`particles: version ${version} is not supported`);
  const header = dv.getUint16(6, true);
  const n = dv.getUint32(8, true);
  const width = dv.getUint32(12, true);
  const height = dv.getUint32(16, true);
  if (header < 32 || buffer.byteLength !== header + 8 * n) {
    throw new Error(`particles: ${buffer.byteLength} bytes, expected ${header} + 8 x ${n}`);
  }
  const background = [dv.getUint8(20), dv.getUint8(21), dv.getUint8(22)];
  // The xy block starts at `header`, which is even, so a Uint16Array view works when the host is
  // little-endian (every browser we target); fall back to DataView reads otherwise.
  let xy;
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (littleEndian && header % 2 === 0) {
    xy = new Uint16Array(buffer, header, 2 * n);
  } else {
    xy = new Uint16Array(2 * n);
    for (let i = 0; i < 2 * n; i++) xy[i] = dv.getUint16(header + 2 * i, true);
  }
  const rgb = new Uint8Array(buffer, header + 4 * n, 3 * n);
  const size = new Uint8Array(buffer, header + 7 * n, n);
  return { n, width, height, background, xy, rgb, size };
}
