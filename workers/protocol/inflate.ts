/**
 * Bounded decompression of untrusted bytes (snapshot payloads, disk chunks). The output is streamed to a
 * sink piece by piece and decompression stops at the first piece that goes past the limit, so a bomb
 * costs at most the limit plus one piece, never what it would inflate to.
 *
 * The input is fed in small slices: a DecompressionStream inflates each written chunk whole before the
 * reader can refuse it (Chromium does), and deflate reaches 1032:1, so a 4 KiB slice yields at most
 * about 4 MiB before the limit is checked again.
 */

/** Deflate's largest expansion: a 258-byte match coded in 2 bits (RFC 1951 §3.2.5). */
export const DEFLATE_MAX_RATIO = 1032;

const INPUT_SLICE_BYTES = 4096;

/** Why an inflation stopped: `limit`, more output than allowed; `corrupt`, not a valid stream. */
export class InflateError extends Error {
  override readonly name = 'InflateError';
  constructor(readonly reason: 'limit' | 'corrupt') {
    super(reason === 'limit' ? 'the data inflates past its limit' : 'the data is not a valid compressed stream');
  }
}

/**
 * Inflates `input` (`format` as for DecompressionStream), handing each piece of output to `sink` with its
 * offset. Throws InflateError('limit') before handing on a piece that would take the output past `limit`
 * bytes, and InflateError('corrupt') for a broken stream; whatever `sink` throws ends the inflation too
 * and is rethrown. Returns the number of bytes produced.
 */
export async function inflateBounded(
  input: Uint8Array,
  format: CompressionFormat,
  limit: number,
  sink: (piece: Uint8Array, at: number) => void,
): Promise<number> {
  const stream = new DecompressionStream(format);
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  let stopped = false;
  // Written without awaiting the reads: back-pressure holds the writer until the reader below drains.
  const written = (async () => {
    for (let at = 0; at < input.length && !stopped; at += INPUT_SLICE_BYTES) {
      await writer.write(ownSlice(input, at, Math.min(input.length, at + INPUT_SLICE_BYTES)));
    }
    if (!stopped) await writer.close();
  })();
  written.catch(() => {});
  let total = 0;
  try {
    for (;;) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        throw new InflateError('corrupt');
      }
      if (next.done) break;
      const piece = next.value;
      if (total + piece.length > limit) throw new InflateError('limit');
      sink(piece, total);
      total += piece.length;
    }
    try {
      await written;
    } catch {
      throw new InflateError('corrupt');
    }
    return total;
  } catch (error) {
    stopped = true;
    await reader.cancel().catch(() => {});
    await writer.abort().catch(() => {});
    throw error;
  }
}

/** Inflates `input` into a new array of at most `limit` bytes (a disk chunk: exactly its size). */
export async function inflateToArray(
  input: Uint8Array,
  format: CompressionFormat,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const out = new Uint8Array(limit);
  const length = await inflateBounded(input, format, limit, (piece, at) => out.set(piece, at));
  return length === limit ? out : out.slice(0, length);
}

/** A copy of bytes [start, end) in a buffer of its own (streams refuse views of a SharedArrayBuffer). */
function ownSlice(bytes: Uint8Array, start: number, end: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes.subarray(start, end));
}
