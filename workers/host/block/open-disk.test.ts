import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { DISK_IMAGE_FORMAT, type DiskImageManifest, type DiskStatus } from '../../protocol/disk-image.ts';
import { openVmDisk } from './open-disk.ts';

describe('openVmDisk', () => {
  it('puts a raw image under an overlay that starts from the saved blocks and hands new ones to the host', async () => {
    const raw = new Uint8Array(4 * 4096).fill(1);
    const stored: ReadonlyMap<number, Uint8Array>[] = [];
    const disk = openVmDisk(
      { source: { kind: 'raw', bytes: raw }, overlay: new Map([[2, new Uint8Array(4096).fill(2)]]) },
      {
        diskWrites: async (blocks) => {
          stored.push(blocks);
        },
      },
    );
    const read = new Uint8Array(3 * 4096);
    await disk.read(4096, read);
    expect([read[0], read[4096], read[8192]]).toEqual([1, 2, 1]);
    await disk.write(0, new Uint8Array(4096).fill(3));
    await disk.flush();
    expect(stored.map((m) => [...m.keys()])).toEqual([[0]]);
    expect(raw.every((b) => b === 1)).toBe(true);
  });

  it('reports a chunked image’s download status, coalesced', async () => {
    const chunk = new Uint8Array(4096).fill(7);
    const gz = new Uint8Array(gzipSync(chunk));
    const manifest: DiskImageManifest = {
      format: DISK_IMAGE_FORMAT,
      size: 2 * 4096,
      chunkSize: 4096,
      chunks: [0, 1].map((index) => ({
        index,
        sha256: createHash('sha256').update(chunk).digest('hex'),
        compressedSize: gz.length,
      })),
    };
    const statuses: DiskStatus[] = [];
    const disk = openVmDisk(
      { source: { kind: 'chunked', baseUrl: 'https://x.example/img/', manifest }, overlay: new Map() },
      { fetch: async () => new Response(gz), diskStatus: (s) => statuses.push(s) },
    );
    await disk.read(0, new Uint8Array(2 * 4096));
    for (let i = 0; i < 100 && statuses.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(statuses).toEqual([{ downloadedBytes: 2 * gz.length, fetchedChunks: 2, totalBytes: 2 * gz.length }]);
  });
});
