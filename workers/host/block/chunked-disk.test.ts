import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import {
  DISK_IMAGE_FORMAT,
  diskChunkPath,
  maxCompressedChunkBytes,
  type DiskImageManifest,
  type DiskStatus,
} from '../../protocol/disk-image.ts';
import { ChunkedDisk } from './chunked-disk.ts';
import { BlockIoError } from './backend.ts';

const CHUNK = 4096;
const gzip = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(gzipSync(bytes));
const BASE = 'https://images.example/debian';

/** An 8-chunk disk whose chunks 2 and 5 are zeros (left out of the manifest), served by a fake fetch. */
function fixture() {
  const disk = new Uint8Array(8 * CHUNK);
  for (let i = 0; i < disk.length; i++) {
    const chunk = Math.floor(i / CHUNK);
    disk[i] = chunk === 2 || chunk === 5 ? 0 : (i * 13 + chunk) & 0xff;
  }
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const chunks: { index: number; sha256: string; compressedSize: number }[] = [];
  for (let index = 0; index < 8; index++) {
    if (index === 2 || index === 5) continue;
    const bytes = disk.subarray(index * CHUNK, (index + 1) * CHUNK);
    const gz = gzip(bytes);
    files.set(`${BASE}/${diskChunkPath(index)}`, gz);
    chunks.push({ index, sha256: createHash('sha256').update(bytes).digest('hex'), compressedSize: gz.length });
  }
  const manifest: DiskImageManifest = { format: DISK_IMAGE_FORMAT, size: disk.length, chunkSize: CHUNK, chunks };
  const fetched: string[] = [];
  /** URL → how many more times it fails before it is served. */
  const failures = new Map<string, number>();
  const fetch = async (url: string): Promise<Response> => {
    fetched.push(url);
    const left = failures.get(url) ?? 0;
    if (left > 0) {
      failures.set(url, left - 1);
      return new Response('busy', { status: 503 });
    }
    const body = files.get(url);
    return body ? new Response(body) : new Response('not found', { status: 404 });
  };
  const statuses: DiskStatus[] = [];
  const sleeps: number[] = [];
  const make = (cacheBytes?: number) =>
    new ChunkedDisk({
      manifest,
      baseUrl: BASE,
      fetch,
      retryDelaysMs: [10, 20, 40],
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      onStatus: (s) => statuses.push(s),
      ...(cacheBytes ? { cacheBytes } : {}),
    });
  /** Serves other bytes for chunk `index`, the manifest giving their length (as a rebuilt file would). */
  const serve = (index: number, gz: Uint8Array<ArrayBuffer>): void => {
    files.set(`${BASE}/${diskChunkPath(index)}`, gz);
    chunks.find((chunk) => chunk.index === index)!.compressedSize = gz.length;
  };
  return { disk, files, manifest, fetched, failures, statuses, sleeps, make, serve };
}

describe('ChunkedDisk', () => {
  it('fetches only the chunks a read touches, once, and reads them right', async () => {
    const f = fixture();
    const backend = f.make();
    const into = new Uint8Array(CHUNK);
    await backend.read(CHUNK + 512, into); // the end of chunk 1 and the start of (zero) chunk 2
    expect(into).toEqual(f.disk.subarray(CHUNK + 512, 2 * CHUNK + 512));
    expect(f.fetched).toEqual([`${BASE}/disk/000001.gz`]);
    await backend.read(CHUNK, new Uint8Array(512));
    expect(f.fetched).toHaveLength(1);
    const all = new Uint8Array(f.disk.length);
    await backend.read(0, all);
    expect(all).toEqual(f.disk);
    expect(f.fetched.map((u) => u.slice(-9)).sort()).toEqual([
      '000000.gz',
      '000001.gz',
      '000003.gz',
      '000004.gz',
      '000006.gz',
      '000007.gz',
    ]);
  });

  it('never fetches zero chunks', async () => {
    const f = fixture();
    const into = new Uint8Array(CHUNK).fill(1);
    await f.make().read(5 * CHUNK, into);
    expect(into.every((b) => b === 0)).toBe(true);
    expect(f.fetched).toEqual([]);
  });

  it('counts downloaded bytes against the whole image', async () => {
    const f = fixture();
    const backend = f.make();
    expect(backend.status.totalBytes).toBe(f.manifest.chunks.reduce((n, c) => n + c.compressedSize, 0));
    await backend.read(0, new Uint8Array(2 * CHUNK));
    const expected = f.files.get(`${BASE}/disk/000000.gz`)!.length + f.files.get(`${BASE}/disk/000001.gz`)!.length;
    expect(backend.status).toMatchObject({ downloadedBytes: expected, fetchedChunks: 2 });
    expect(backend.status.error).toBeUndefined();
    expect(f.statuses.at(-1)).toEqual(backend.status);
  });

  it('retries a failed fetch with backoff and then succeeds', async () => {
    const f = fixture();
    f.failures.set(`${BASE}/disk/000003.gz`, 2);
    const into = new Uint8Array(CHUNK);
    await f.make().read(3 * CHUNK, into);
    expect(into).toEqual(f.disk.subarray(3 * CHUNK, 4 * CHUNK));
    expect(f.fetched).toHaveLength(3);
    expect(f.sleeps).toEqual([10, 20]);
  });

  it('fails with an I/O error after the last retry, reports it, and tries afresh on the next read', async () => {
    const f = fixture();
    f.failures.set(`${BASE}/disk/000003.gz`, 5);
    const backend = f.make();
    await expect(backend.read(3 * CHUNK, new Uint8Array(512))).rejects.toThrow(BlockIoError);
    expect(f.fetched).toHaveLength(4);
    expect(backend.status.error).toMatch(/disk chunk 3 could not be read: HTTP 503/);
    await backend.read(3 * CHUNK, new Uint8Array(512));
    expect(f.fetched).toHaveLength(6);
  });

  it('fails a chunk whose bytes do not match their sha256 at once, without retrying', async () => {
    const f = fixture();
    const url = `${BASE}/disk/000004.gz`;
    const tampered = new Uint8Array(CHUNK);
    f.serve(4, gzip(tampered));
    const backend = f.make();
    await expect(backend.read(4 * CHUNK, new Uint8Array(CHUNK))).rejects.toThrow(/fails its sha256 check/);
    expect(f.fetched).toEqual([url]);
    expect(backend.status.error).toMatch(/chunk 4/);
  });

  it('fails a chunk that is not gzip, or of the wrong length', async () => {
    const f = fixture();
    f.serve(6, Uint8Array.of(1, 2, 3));
    f.serve(7, gzip(new Uint8Array(100)));
    const backend = f.make();
    await expect(backend.read(6 * CHUNK, new Uint8Array(512))).rejects.toThrow(/not valid gzip/);
    await expect(backend.read(7 * CHUNK, new Uint8Array(512))).rejects.toThrow(/holds 100 bytes/);
  });

  it('shares one fetch between concurrent reads of a chunk, and evicts least recently used chunks', async () => {
    const f = fixture();
    const backend = f.make(2 * CHUNK);
    await Promise.all([backend.read(0, new Uint8Array(512)), backend.read(1024, new Uint8Array(512))]);
    expect(f.fetched).toHaveLength(1);
    await backend.read(CHUNK, new Uint8Array(512)); // chunks 0, 1 cached
    await backend.read(0, new Uint8Array(512)); // 0 is now the most recent
    await backend.read(3 * CHUNK, new Uint8Array(512)); // evicts 1
    expect(f.fetched).toHaveLength(3);
    await backend.read(0, new Uint8Array(512));
    expect(f.fetched).toHaveLength(3);
    await backend.read(CHUNK, new Uint8Array(512));
    expect(f.fetched).toHaveLength(4);
  });

  it('is read-only and refuses reads past its end', async () => {
    const backend = fixture().make();
    expect(backend.readOnly).toBe(true);
    await expect(backend.write()).rejects.toThrow(BlockIoError);
    await expect(backend.read(8 * CHUNK - 512, new Uint8Array(1024))).rejects.toThrow(/outside the disk/);
  });

  it('refuses a malformed manifest', () => {
    const { manifest } = fixture();
    expect(() => new ChunkedDisk({ manifest: { ...manifest, chunkSize: 3000 }, baseUrl: BASE })).toThrow(
      /disk\.chunkSize: a power of two/,
    );
    expect(
      () =>
        new ChunkedDisk({
          manifest: { ...manifest, chunks: [{ index: 9, sha256: '', compressedSize: 1 }] },
          baseUrl: BASE,
        }),
    ).toThrow(/disk\.chunks\.0\.sha256/);
    expect(
      () =>
        new ChunkedDisk({
          manifest: { ...manifest, chunks: [{ index: 9, sha256: 'a'.repeat(64), compressedSize: 1 }] },
          baseUrl: BASE,
        }),
    ).toThrow(/chunk indices must increase and lie inside the disk/);
  });

  // Issue 12: a chunk index of 0.5, a size of 2^60 or given as a string were taken; each is refused,
  // with the manifest's field named, before anything is fetched.
  it.each([
    [
      'a fractional chunk index',
      (m: DiskImageManifest) => ({ ...m, chunks: [{ ...m.chunks[0]!, index: 0.5 }] }),
      /disk\.chunks\.0\.index/,
    ],
    ['a disk of 2^60 bytes', (m: DiskImageManifest) => ({ ...m, size: 2 ** 60 }), /disk\.size/],
    ['a size given as a string', (m: DiskImageManifest) => ({ ...m, size: String(m.size) }), /disk\.size/],
    ['chunks that are not a list', (m: DiskImageManifest) => ({ ...m, chunks: {} }), /disk\.chunks/],
    [
      'a chunk larger than gzip can make it',
      (m: DiskImageManifest) => ({ ...m, chunks: [{ ...m.chunks[0]!, compressedSize: 2 * CHUNK }] }),
      /disk\.chunks\.0\.compressedSize/,
    ],
    ['a chunk of 1 GiB', (m: DiskImageManifest) => ({ ...m, chunkSize: 2 ** 30, size: 2 ** 30 }), /disk\.chunkSize/],
  ])('refuses %s', (_what, change, message) => {
    const { manifest } = fixture();
    const bad = change(manifest) as unknown as DiskImageManifest;
    expect(() => new ChunkedDisk({ manifest: bad, baseUrl: BASE })).toThrow(BlockIoError);
    expect(() => new ChunkedDisk({ manifest: bad, baseUrl: BASE })).toThrow(message);
  });

  it('stops inflating a gzip bomb at the chunk size, and refuses a body longer than the manifest says', async () => {
    const f = fixture();
    // 4 MiB of zeros gzip to less than the largest gzip file a 4 KiB chunk may have.
    const bomb = gzip(new Uint8Array(4 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(maxCompressedChunkBytes(CHUNK));
    f.serve(3, bomb);
    const backend = f.make();
    await expect(backend.read(3 * CHUNK, new Uint8Array(512))).rejects.toThrow(/inflates to more than 4096 bytes/);
    f.files.set(`${BASE}/${diskChunkPath(0)}`, new Uint8Array(f.manifest.chunks[0]!.compressedSize + 1));
    await expect(backend.read(0, new Uint8Array(512))).rejects.toThrow(/larger than the manifest's/);
  });
});
