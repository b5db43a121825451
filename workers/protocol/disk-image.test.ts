import { describe, expect, it } from 'vitest';
import {
  DISK_IMAGE_FORMAT,
  DISK_IMAGE_IDENTITY_PATTERN,
  chunkedDiskIdentity,
  describeDiskIdentity,
  rawDiskIdentity,
  rawDiskIdentityOf,
  type DiskImageManifest,
} from './disk-image.ts';

const hex = (c: string): string => c.repeat(64);
const manifest: DiskImageManifest = {
  format: DISK_IMAGE_FORMAT,
  size: 1 << 20,
  chunkSize: 65536,
  chunks: [
    { index: 0, sha256: hex('a'), compressedSize: 100 },
    { index: 3, sha256: hex('b'), compressedSize: 200 },
  ],
};

describe('disk image identity', () => {
  it('of a chunked disk changes with any chunk, the size or the chunking, not with the compression', async () => {
    const identity = await chunkedDiskIdentity(manifest);
    expect(identity).toMatch(DISK_IMAGE_IDENTITY_PATTERN);
    expect(identity.startsWith('chunks-sha256:')).toBe(true);
    const recompressed = { ...manifest, chunks: manifest.chunks.map((c) => ({ ...c, compressedSize: 1 })) };
    expect(await chunkedDiskIdentity(recompressed)).toBe(identity);
    const variants: DiskImageManifest[] = [
      { ...manifest, chunks: [manifest.chunks[0]!, { ...manifest.chunks[1]!, sha256: hex('c') }] },
      { ...manifest, chunks: [manifest.chunks[0]!, { ...manifest.chunks[1]!, index: 4 }] },
      { ...manifest, chunks: [manifest.chunks[0]!] },
      { ...manifest, size: 2 << 20 },
      { ...manifest, chunkSize: 32768 },
    ];
    const others = await Promise.all(variants.map(chunkedDiskIdentity));
    expect(new Set([identity, ...others]).size).toBe(variants.length + 1);
  });

  it('of a raw disk is the sha256 of its bytes', async () => {
    // sha256 of 4096 zero bytes.
    const zeros = 'ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7';
    expect(await rawDiskIdentityOf(new Uint8Array(4096))).toBe(`sha256:${zeros}`);
    expect(rawDiskIdentity(zeros)).toBe(`sha256:${zeros}`);
    expect(await rawDiskIdentityOf(new Uint8Array(new SharedArrayBuffer(4096)))).toBe(`sha256:${zeros}`);
    expect(describeDiskIdentity(`sha256:${zeros}`)).toBe('sha256:ad7facb2586f…');
    expect(describeDiskIdentity(undefined)).toBe('unknown');
  });
});
