/**
 * A chunked disk image as a static web server serves it: the `disk` field of an image's manifest.json
 * (for example public/images/debian/manifest.json, written by scripts/build-debian-image.sh). The disk is
 * cut into fixed-size chunks; each chunk that is not all zeros is stored gzip-compressed in its own file,
 * so a VM fetches only the chunks its guest reads, and any static host serves the image without range
 * requests. Shared by the image builder, the page (catalog and download accounting) and the worker's
 * block backend, so it holds types, constants, the schema that checks a manifest (a manifest is
 * untrusted: it comes from any web server or directory) and the disk identity they all compute alike.
 */
import { z } from 'zod';
import { schemaIssueSentence } from './schema-message.ts';

/** The value of `DiskImageManifest.format` this code reads. */
export const DISK_IMAGE_FORMAT = 'tabvm-chunked-disk-v1';

/** Chunk files are named `${DISK_CHUNK_DIRECTORY}/${index as 6 decimal digits}.gz`, e.g. `disk/000042.gz`. */
export const DISK_CHUNK_DIRECTORY = 'disk';

/** Bytes per sector: disk sizes and chunk sizes are multiples of it. */
export const DISK_SECTOR_BYTES = 512;

/**
 * The largest disk a manifest may describe: 16 TiB, the most a snapshot can address in 4 KiB overlay
 * blocks with u32 indices (snapshot-format.ts).
 */
export const MAX_DISK_BYTES = 2 ** 44;
/** The largest chunk: each chunk is held in memory whole while it is verified and cached. */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;
/** The overlay keeps 4 KiB blocks (workers/host/block/overlay-disk.ts), so a disk is whole blocks of it. */
const OVERLAY_BLOCK_BYTES = 4096;

export interface DiskChunkEntry {
  /** Chunk number: bytes [index·chunkSize, (index+1)·chunkSize) of the disk. */
  readonly index: number;
  /** sha256 (lowercase hex) of the chunk's uncompressed bytes, always `chunkSize` of them. */
  readonly sha256: string;
  /** Bytes of the gzip file, for download accounting. */
  readonly compressedSize: number;
}

export interface DiskImageManifest {
  readonly format: typeof DISK_IMAGE_FORMAT;
  /** Bytes of the whole disk: a multiple of `chunkSize`. */
  readonly size: number;
  /** Bytes per chunk: a power of two, a multiple of DISK_SECTOR_BYTES. */
  readonly chunkSize: number;
  /** The chunks that hold any non-zero byte, in increasing index order; every other chunk reads as zeros. */
  readonly chunks: readonly DiskChunkEntry[];
  /** True if the guest must not write the disk even through an overlay (the virtio-blk RO feature). */
  readonly readOnly?: boolean;
}

/**
 * The largest gzip file of a chunk: incompressible data is stored in deflate blocks of at most 65535
 * bytes with 5 bytes of framing each, plus gzip's 18 bytes of header and trailer (RFC 1951 §3.2.4,
 * RFC 1952 §2.2); 64 bytes more for the optional header fields a compressor may write.
 */
export function maxCompressedChunkBytes(chunkSize: number): number {
  return chunkSize + 5 * Math.ceil(chunkSize / 65535) + 18 + 64;
}

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');

/** DiskImageManifest, checked: integers in range, chunk indices ascending inside the disk. */
export const DiskImageManifestSchema = z
  .object({
    format: z.literal(DISK_IMAGE_FORMAT),
    // The bound first: zod's own safe-integer check would otherwise speak of 2^53.
    size: z.number().max(MAX_DISK_BYTES).int().positive(),
    chunkSize: z
      .number()
      .int()
      .min(DISK_SECTOR_BYTES)
      .max(MAX_CHUNK_BYTES)
      .refine((n) => (n & (n - 1)) === 0, 'a power of two'),
    chunks: z.array(
      z.object({
        index: z.number().int().nonnegative(),
        sha256: Sha256Hex,
        compressedSize: z.number().int().positive(),
      }),
    ),
    readOnly: z.boolean().optional(),
  })
  .superRefine((disk, context) => {
    if (disk.size % disk.chunkSize !== 0 || disk.size % OVERLAY_BLOCK_BYTES !== 0) {
      context.addIssue({
        code: 'custom',
        path: ['size'],
        message: `a multiple of the chunk size and of ${OVERLAY_BLOCK_BYTES}`,
      });
      return;
    }
    const count = disk.size / disk.chunkSize;
    const largest = maxCompressedChunkBytes(disk.chunkSize);
    for (const [i, chunk] of disk.chunks.entries()) {
      if (chunk.index >= count || (i > 0 && chunk.index <= disk.chunks[i - 1]!.index)) {
        context.addIssue({
          code: 'custom',
          path: ['chunks', i, 'index'],
          message: 'chunk indices must increase and lie inside the disk',
        });
        return;
      }
      if (chunk.compressedSize > largest) {
        context.addIssue({
          code: 'custom',
          path: ['chunks', i, 'compressedSize'],
          message: `at most ${largest} bytes for a chunk of ${disk.chunkSize}`,
        });
        return;
      }
    }
  }) satisfies z.ZodType<DiskImageManifest>;

/** A manifest refused: the sentence names the field and what it must be. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** The first issue of a failed parse as one sentence: "manifest field disk.size: ...". */
export function describeManifestIssue(error: z.ZodError, prefix?: string): string {
  return schemaIssueSentence(error, 'manifest', prefix === undefined ? [] : [prefix]);
}

/** Checks a disk manifest from anywhere; throws ManifestError with a plain sentence when it is unsound. */
export function parseDiskImageManifest(json: unknown): DiskImageManifest {
  const parsed = DiskImageManifestSchema.safeParse(json);
  if (!parsed.success) throw new ManifestError(describeManifestIssue(parsed.error, 'disk'));
  return parsed.data;
}

export function diskChunkPath(index: number): string {
  return `${DISK_CHUNK_DIRECTORY}/${String(index).padStart(6, '0')}.gz`;
}

/** What the page shows about a VM's disk: the worker reports it as chunks arrive and when something fails. */
export interface DiskStatus {
  /** Compressed bytes received so far (all attempts). */
  readonly downloadedBytes: number;
  /** Chunks fetched and verified so far (a chunk evicted and fetched again counts twice). */
  readonly fetchedChunks: number;
  /** Sum of the manifest's compressed chunk sizes: what downloading the whole disk would cost. */
  readonly totalBytes: number;
  /** The latest failure that reached the guest, in words for a person; absent while none has. */
  readonly error?: string;
}

/**
 * Names the contents of a disk image, so that a snapshot's overlay blocks are never laid over another
 * disk (a rebuilt image of the same size holds another file system). `sha256:` of every byte of a raw
 * disk; `chunks-sha256:` of a chunked disk's format, size, chunk size and the sha256 of every chunk that
 * is not all zeros (the others are zeros by definition), which changes whenever any byte of the disk does
 * and is computed from the manifest alone. Lowercase hex.
 */
export type DiskImageIdentity = string;

/** How a DiskImageIdentity looks: a scheme and 64 hex digits. */
export const DISK_IMAGE_IDENTITY_PATTERN = /^(sha256|chunks-sha256):[0-9a-f]{64}$/;

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function chunkedDiskIdentity(manifest: DiskImageManifest): Promise<DiskImageIdentity> {
  const lines = [manifest.format, String(manifest.size), String(manifest.chunkSize)];
  for (const chunk of manifest.chunks) lines.push(`${chunk.index} ${chunk.sha256}`);
  return `chunks-sha256:${await sha256Hex(new TextEncoder().encode(lines.join('\n')))}`;
}

/** The identity of a raw disk from its sha256 (lowercase hex), as stored when the file was added. */
export function rawDiskIdentity(sha256: string): DiskImageIdentity {
  return `sha256:${sha256}`;
}

/** A raw disk's identity from its bytes (one pass over them, no copy unless they are in shared memory). */
export async function rawDiskIdentityOf(bytes: Uint8Array): Promise<DiskImageIdentity> {
  const own = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
  return rawDiskIdentity(await sha256Hex(own));
}

/** Says which disk an identity names, for messages: its scheme and the first hex digits. */
export function describeDiskIdentity(identity: DiskImageIdentity | undefined): string {
  return identity === undefined ? 'unknown' : `${identity.slice(0, identity.indexOf(':') + 13)}…`;
}
