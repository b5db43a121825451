// The Debian image's chunker (scripts/lib/chunk-disk.ts): only non-zero chunks become files, each checked
// by the sha256 of its uncompressed bytes, and the chunks assemble back into the same disk.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { assembleDiskImage, chunkDiskImage } from '../scripts/lib/chunk-disk.ts';
import { DISK_IMAGE_FORMAT } from '../workers/protocol/disk-image.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tabvm-chunk-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const CHUNK = 4096;
/** 8 chunks: 0, 3 and 7 hold data (7 only its last byte), the rest are zeros. */
function sampleDisk(): Uint8Array {
  const disk = new Uint8Array(8 * CHUNK);
  for (let i = 0; i < CHUNK; i++) disk[i] = (i * 31 + 7) & 0xff;
  disk.set(new TextEncoder().encode('hello, chunk three'), 3 * CHUNK + 100);
  disk[8 * CHUNK - 1] = 0x55;
  return disk;
}

describe('chunkDiskImage', () => {
  it('writes one gzip file per non-zero chunk, and a manifest with their sha256 and sizes', () => {
    const dir = tempDir();
    const disk = sampleDisk();
    writeFileSync(join(dir, 'disk.img'), disk);
    const manifest = chunkDiskImage(join(dir, 'disk.img'), join(dir, 'out'), CHUNK);
    expect(manifest.format).toBe(DISK_IMAGE_FORMAT);
    expect(manifest.size).toBe(disk.length);
    expect(manifest.chunkSize).toBe(CHUNK);
    expect(manifest.chunks.map((c) => c.index)).toEqual([0, 3, 7]);
    expect(readdirSync(join(dir, 'out/disk')).sort()).toEqual(['000000.gz', '000003.gz', '000007.gz']);
    for (const chunk of manifest.chunks) {
      const file = readFileSync(join(dir, 'out/disk', `${String(chunk.index).padStart(6, '0')}.gz`));
      expect(chunk.compressedSize).toBe(file.length);
      const bytes = gunzipSync(file);
      expect(bytes).toEqual(Buffer.from(disk.subarray(chunk.index * CHUNK, (chunk.index + 1) * CHUNK)));
      expect(chunk.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('assembles back into the same bytes', () => {
    const dir = tempDir();
    const disk = sampleDisk();
    writeFileSync(join(dir, 'disk.img'), disk);
    const manifest = chunkDiskImage(join(dir, 'disk.img'), join(dir, 'out'), CHUNK);
    assembleDiskImage(join(dir, 'out'), manifest, join(dir, 'again.img'));
    expect(new Uint8Array(readFileSync(join(dir, 'again.img')))).toEqual(disk);
  });

  it('refuses to assemble from a damaged chunk', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'disk.img'), sampleDisk());
    const manifest = chunkDiskImage(join(dir, 'disk.img'), join(dir, 'out'), CHUNK);
    const damaged = {
      ...manifest,
      chunks: manifest.chunks.map((c) => (c.index === 3 ? { ...c, sha256: '0'.repeat(64) } : c)),
    };
    expect(() => assembleDiskImage(join(dir, 'out'), damaged, join(dir, 'again.img'))).toThrow(
      /disk\/000003\.gz: does not match the manifest/,
    );
  });

  it('refuses a disk that is not whole chunks, and a chunk size that is not a power of two', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'odd.img'), new Uint8Array(CHUNK + 512));
    expect(() => chunkDiskImage(join(dir, 'odd.img'), join(dir, 'out'), CHUNK)).toThrow(
      /not a non-zero multiple of the chunk size 4096/,
    );
    expect(() => chunkDiskImage(join(dir, 'odd.img'), join(dir, 'out'), 3000)).toThrow(/must be a power of two/);
  });
});
