// Issue 12 part 3: bad manifests were accepted (a chunk index of 0.5, a disk of 2^60 bytes, a size as a
// string) or failed with raw JavaScript messages. Each is a ManifestError naming the field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DISK_IMAGE_FORMAT, ManifestError } from './disk-image.ts';
import { parseImageManifest } from './image-manifest.ts';

const good = JSON.parse(
  readFileSync(new URL('../../public/images/default/manifest.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;
const snapshot = { path: 'snapshot.tabvm', size: 2_666_695, sha256: 'c'.repeat(64), memory: 256 };
const disk = {
  format: DISK_IMAGE_FORMAT,
  size: 1 << 20,
  chunkSize: 65536,
  chunks: [
    { index: 0, sha256: 'a'.repeat(64), compressedSize: 100 },
    { index: 3, sha256: 'b'.repeat(64), compressedSize: 200 },
  ],
};

function refusal(manifest: unknown): string {
  try {
    parseImageManifest(manifest);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return (error as Error).message;
  }
  throw new Error('the manifest was accepted');
}

describe('image manifests', () => {
  it('accepts the shipped default manifest and one with a disk', () => {
    expect(parseImageManifest(good).files.bios.path).toBe('fw_dynamic.bin');
    expect(parseImageManifest({ ...good, disk }).disk?.chunks).toHaveLength(2);
  });

  it('accepts a pre-booted snapshot beside the disk, with the RAM it was taken with', () => {
    expect(parseImageManifest({ ...good, disk, snapshot }).snapshot).toEqual(snapshot);
    expect(parseImageManifest({ ...good, disk }).snapshot).toBeUndefined();
  });

  it.each([
    [
      'a fractional chunk index',
      { ...good, disk: { ...disk, chunks: [{ ...disk.chunks[0], index: 0.5 }] } },
      /disk\.chunks\.0\.index/,
    ],
    ['a disk of 2^60 bytes', { ...good, disk: { ...disk, size: 2 ** 60 } }, /disk\.size/],
    ['a disk size as a string', { ...good, disk: { ...disk, size: '1048576' } }, /disk\.size/],
    ['chunks that are not a list', { ...good, disk: { ...disk, chunks: { 0: disk.chunks[0] } } }, /disk\.chunks/],
    [
      'chunks out of order',
      { ...good, disk: { ...disk, chunks: [...disk.chunks].reverse() } },
      /disk\.chunks\.1\.index/,
    ],
    ['a chunk past the disk', { ...good, disk: { ...disk, size: 65536 * 2 } }, /disk\.chunks\.1\.index/],
    ['a size that is not whole chunks', { ...good, disk: { ...disk, size: 65536 * 4 + 4096 } }, /disk\.size/],
    [
      'a file size as a string',
      { ...good, files: { bios: { ...(good.files as { bios: object }).bios, size: '273472' } } },
      /files\.bios\.size/,
    ],
    ['a negative memory', { ...good, memory: { default: -1, minimum: 16 } }, /memory\.default/],
    ['a minimum above the default', { ...good, memory: { default: 64, minimum: 128 } }, /memory\.minimum/],
    [
      'boot files larger than the memory',
      {
        ...good,
        memory: { default: 16, minimum: 16 },
        files: { bios: { ...(good.files as { bios: object }).bios, size: 17 * 2 ** 20 } },
      },
      /files: boot files/,
    ],
    [
      'a path with a directory',
      { ...good, files: { bios: { ...(good.files as { bios: object }).bios, path: '../x' } } },
      /files\.bios\.path/,
    ],
    ['a snapshot without its RAM size', { ...good, snapshot: { ...snapshot, memory: undefined } }, /snapshot\.memory/],
    ['a snapshot taken with 3 MiB', { ...good, snapshot: { ...snapshot, memory: 3 } }, /snapshot\.memory/],
    ['a snapshot of 8 GiB', { ...good, snapshot: { ...snapshot, size: 2 ** 33 } }, /snapshot\.size/],
    ['a snapshot in another directory', { ...good, snapshot: { ...snapshot, path: 'a/s.tabvm' } }, /snapshot\.path/],
    [
      'a snapshot without its sha256',
      { ...good, snapshot: { ...snapshot, sha256: 'C'.repeat(64) } },
      /snapshot\.sha256/,
    ],
    ['no files at all', { ...good, files: null }, /files/],
    ['not an object', [1, 2], /\(root\)/],
  ])('refuses %s, naming the field', (_what, manifest, field) => {
    const message = refusal(manifest);
    expect(message).toMatch(/^manifest field /);
    expect(message).toMatch(field);
    expect(message).not.toMatch(/is not a function|undefined|NaN/);
  });
});
