// Issue 12 part 1: a snapshot's payload inflated up to whatever its header announced before the page
// counts were checked against the RAM (a 2 MiB file took 4.3 GB). Each bomb below is refused in well
// under 0.5 s with a memory rise under 64 MiB.
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { frameSnapshot, snapshotHeader, zerosBomb } from '../../tests/fuzz/snapshot-frame.ts';
import { decodeSnapshotFile, readSnapshotHeader, SnapshotError } from './snapshot-container.ts';

const MIB = 1024 * 1024;

/** Decodes `file` and returns the refusal with the time and the RSS rise it cost. */
async function refusal(file: Uint8Array): Promise<{ message: string; ms: number; rise: number }> {
  const before = process.memoryUsage().rss;
  const started = performance.now();
  const error = await decodeSnapshotFile(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  const ms = performance.now() - started;
  expect(error).toBeInstanceOf(SnapshotError);
  return { message: (error as Error).message, ms, rise: process.memoryUsage().rss - before };
}

describe('snapshot decompression bombs', () => {
  it('refuses a header that lists more pages than its RAM holds, before inflating anything', async () => {
    // 2 GiB of pages in 1 MiB of RAM: the bomb.
    const pages = 2 ** 19;
    const file = frameSnapshot(snapshotHeader({ ramSize: MIB, pages }), zerosBomb());
    expect(file.length).toBeGreaterThan(2_000_000);
    const { message, ms, rise } = await refusal(file);
    expect(message).toMatch(/more pages than its 1 MiB of RAM hold/);
    expect(ms).toBeLessThan(500);
    expect(rise).toBeLessThan(64 * MIB);
  });

  it('refuses a 2 MiB bomb whose header is consistent, at its page list, without room for its pages', async () => {
    // 2 GiB of RAM, every page stored: the header allows 2 GiB, but a list of zeros is not ascending.
    const file = frameSnapshot(snapshotHeader({ ramSize: 2048 * MIB, pages: 2 ** 19 - 1 }), zerosBomb());
    const { message, ms, rise } = await refusal(file);
    expect(message).toMatch(/page list is out of order/);
    expect(ms).toBeLessThan(500);
    expect(rise).toBeLessThan(64 * MIB);
  });

  it('stops at the first byte past the size the header gives', async () => {
    const file = frameSnapshot(snapshotHeader({ ramSize: MIB, pages: 0 }), zerosBomb());
    const { message, ms, rise } = await refusal(file);
    expect(message).toMatch(/does not decompress to the size its header gives/);
    expect(ms).toBeLessThan(500);
    expect(rise).toBeLessThan(64 * MIB);
  });

  it('refuses a header announcing more than deflate can make of the payload', async () => {
    const header = snapshotHeader({ ramSize: 64 * MIB, pages: 4096 });
    const payload = deflateSync(new Uint8Array(1000));
    await expect(readSnapshotHeader(frameSnapshot(header, payload))).rejects.toThrow(
      /announces more data than its payload can hold/,
    );
  });

  it('refuses a stored page of zeroes (capture never stores one) as soon as it arrives', async () => {
    const list = new Uint8Array(8);
    new DataView(list.buffer).setUint32(4, 1, true);
    const raw = new Uint8Array(64 + 8 + 2 * 4096);
    raw.set(list, 64);
    raw.fill(7, 64 + 8, 64 + 8 + 4096); // page 0 holds sevens, page 1 zeroes
    const file = frameSnapshot(snapshotHeader({ ramSize: MIB, pages: 2 }), deflateSync(raw));
    await expect(decodeSnapshotFile(file)).rejects.toThrow(/stores RAM page 1 as all zeroes/);
    raw.fill(9, 64 + 8 + 4096);
    const decoded = await decodeSnapshotFile(
      frameSnapshot(snapshotHeader({ ramSize: MIB, pages: 2 }), deflateSync(raw)),
    );
    expect(Array.from(decoded.pages)).toEqual([0, 1]);
    expect(decoded.pageData[4096]).toBe(9);
  });

  it('refuses a payload that is not a deflate stream in plain words', async () => {
    const file = frameSnapshot(snapshotHeader({ ramSize: MIB, pages: 0 }), Uint8Array.of(1, 2, 3, 4, 5));
    await expect(decodeSnapshotFile(file)).rejects.toThrow(/not a valid compressed stream/);
  });
});
