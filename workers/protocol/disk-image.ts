/**
 * A chunked disk image as a static web server serves it: the `disk` field of an image's manifest.json
 * (for example public/images/debian/manifest.json, written by scripts/build-debian-image.sh). The disk is
 * cut into fixed-size chunks; each chunk that is not all zeros is stored gzip-compressed in its own file,
 * so a VM fetches only the chunks its guest reads, and any static host serves the image without range
 * requests. Shared by the image builder, the page (catalog and download accounting) and the worker's
 * block backend, so it holds types, constants and the disk identity they all compute alike.
 */

/** The value of `DiskImageManifest.format` this code reads. */
export const DISK_IMAGE_FORMAT = 'tabvm-chunked-disk-v1';

/** Chunk files are named `${DISK_CHUNK_DIRECTORY}/${index as 6 decimal digits}.gz`, e.g. `disk/000042.gz`. */
export const DISK_CHUNK_DIRECTORY = 'disk';

/** Bytes per sector: disk sizes and chunk sizes are multiples of it. */
export const DISK_SECTOR_BYTES = 512;

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
