/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of the
 * data's big-endian 16-bit words. The data path sums 32-bit words (RFC 1071 §2(B): the sum may be taken
 * in any word size and folded), so a 1460-byte segment costs 365 reads, not 1460.
 */

/** The one's complement sum (not yet folded to 16 bits) of `bytes`, plus `initial`. */
export function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = bytes.byteLength;
  const words = length & ~3;
  let sum = initial;
  let i = 0;
  // A float64 holds 2^53 exactly: 2^21 words of 2^32 before it could round, far beyond any frame.
  for (; i < words; i += 4) sum += view.getUint32(i);
  if (length - i >= 2) {
    sum += view.getUint16(i) * 0x10000;
    i += 2;
  }
  // An odd last byte is the high half of a word padded with zero (RFC 1071 §4.1).
  if (i < length) sum += bytes[i]! << 8;
  return sum;
}

/** Folds a sum of 16- or 32-bit words to 16 bits (65536 ≡ 1 modulo 65535). */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field's value for `bytes` (whose own checksum field must be zero), plus `initial`. */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  return ~foldSum(onesComplementSum(bytes, initial)) & 0xffff;
}

/** The sum of the TCP/UDP pseudo-header (RFC 793 §3.1, RFC 768): addresses, protocol, length. */
export function pseudoHeaderSum(source: number, destination: number, protocol: number, length: number): number {
  return (source >>> 16) + (source & 0xffff) + (destination >>> 16) + (destination & 0xffff) + protocol + length;
}

/** Whether `bytes`, checksum field included, sum to all ones: the receiver's check (RFC 1071 §1). */
export function checksumValid(bytes: Uint8Array, initial = 0): boolean {
  return foldSum(onesComplementSum(bytes, initial)) === 0xffff;
}
