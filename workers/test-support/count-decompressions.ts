/**
 * Counts the DecompressionStreams made from now on (the one-pass restore's tests: each snapshot file is
 * inflated once, and the worker inflates nothing again). Undone by `vi.unstubAllGlobals()`.
 */
import { vi } from 'vitest';

export function countDecompressions(): () => number {
  const Decompression = globalThis.DecompressionStream;
  let count = 0;
  vi.stubGlobal(
    'DecompressionStream',
    class extends Decompression {
      constructor(format: CompressionFormat) {
        super(format);
        count++;
      }
    },
  );
  return () => count;
}
