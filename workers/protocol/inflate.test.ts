import { readFileSync } from 'node:fs';
import { deflateSync, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InflateError, inflateBounded, inflateToArray } from './inflate.ts';

/** 1 GiB of zeros as one gzip member (1 MiB), stored gzipped again to keep the repository small. */
const gibBomb = (): Uint8Array =>
  new Uint8Array(gunzipSync(readFileSync(new URL('../../tests/fuzz/bombs/zeros-1gib.gz.gz', import.meta.url))));

describe('inflateBounded', () => {
  it('inflates a stream that fits, in pieces at ascending offsets', async () => {
    const data = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff);
    const offsets: number[] = [];
    const out = new Uint8Array(data.length);
    const n = await inflateBounded(new Uint8Array(deflateSync(data)), 'deflate', data.length, (piece, at) => {
      offsets.push(at);
      out.set(piece, at);
    });
    expect(n).toBe(data.length);
    expect(out).toEqual(data);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });

  it('refuses one byte past the limit, and a stream that is not one', async () => {
    const data = new Uint8Array(5000).fill(3);
    await expect(inflateToArray(new Uint8Array(gzipSync(data)), 'gzip', 4999)).rejects.toThrow(/past its limit/);
    expect(await inflateToArray(new Uint8Array(gzipSync(data)), 'gzip', 5000)).toEqual(data);
    await expect(inflateToArray(Uint8Array.of(1, 2, 3, 4), 'gzip', 100)).rejects.toMatchObject({ reason: 'corrupt' });
  });

  it('stops a 1 GiB gzip bomb at a 64 KiB chunk in well under 0.5 s, with little memory', async () => {
    const bomb = gibBomb();
    const before = process.memoryUsage().rss;
    const started = performance.now();
    const refusal = await inflateToArray(bomb, 'gzip', 65536).catch((error: unknown) => error);
    const elapsed = performance.now() - started;
    expect(refusal).toBeInstanceOf(InflateError);
    expect((refusal as InflateError).reason).toBe('limit');
    expect(elapsed).toBeLessThan(500);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('passes on what the sink throws, and stops there', async () => {
    const data = new Uint8Array(1 << 20).fill(9);
    let pieces = 0;
    const stop = new Error('enough');
    await expect(
      inflateBounded(new Uint8Array(deflateSync(data)), 'deflate', data.length, () => {
        pieces++;
        throw stop;
      }),
    ).rejects.toBe(stop);
    expect(pieces).toBe(1);
  });
});
