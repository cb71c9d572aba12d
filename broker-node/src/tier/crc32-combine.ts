/**
 * zlib's crc32_combine (Node exposes crc32 but not this): the CRC32 of A followed by B from
 * crc32(A), crc32(B) and B's length. A multipart upload reads and checksums its parts in any
 * order, each once; the whole object's CRC32 (the manifest's) is then combined from the parts'
 * instead of computed over every byte a second time.
 */

/** The 32x32 GF(2) matrix `mat` times the vector `vec`. */
function gf2MatrixTimes(mat: Uint32Array, vec: number): number {
  let sum = 0;
  let v = vec >>> 0;
  for (let i = 0; v !== 0; i++, v >>>= 1) if (v & 1) sum ^= mat[i]!;
  return sum >>> 0;
}

function gf2MatrixSquare(square: Uint32Array, mat: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2MatrixTimes(mat, mat[n]!);
}

export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  // The operator for one zero bit: the reflected CRC-32 polynomial.
  odd[0] = 0xedb88320;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row;
  gf2MatrixSquare(even, odd); // two zero bits
  gf2MatrixSquare(odd, even); // four zero bits
  let c = crc1 >>> 0;
  // Applies len2 zero bytes to crc1, one bit of len2 at a time (len2 may pass 2^32: no bit operators on it).
  let len = len2;
  for (;;) {
    gf2MatrixSquare(even, odd);
    if (len % 2 === 1) c = gf2MatrixTimes(even, c);
    len = Math.floor(len / 2);
    if (len === 0) break;
    gf2MatrixSquare(odd, even);
    if (len % 2 === 1) c = gf2MatrixTimes(odd, c);
    len = Math.floor(len / 2);
    if (len === 0) break;
  }
  return (c ^ crc2) >>> 0;
}
