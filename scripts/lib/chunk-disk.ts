/**
 * Cuts a raw disk image into the chunk files of workers/protocol/disk-image.ts: one gzip file per chunk
 * that holds any non-zero byte, named by diskChunkPath, and the DiskImageManifest that lists them.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DISK_CHUNK_DIRECTORY,
  DISK_IMAGE_FORMAT,
  DISK_SECTOR_BYTES,
  diskChunkPath,
  type DiskChunkEntry,
  type DiskImageManifest,
} from '../../workers/protocol/disk-image.ts';

export function isValidChunkSize(chunkSize: number): boolean {
  return Number.isInteger(chunkSize) && chunkSize >= DISK_SECTOR_BYTES && (chunkSize & (chunkSize - 1)) === 0;
}

/**
 * Writes `${outDir}/disk/NNNNNN.gz` for every non-zero chunk of `imagePath` and returns the manifest. The
 * image's size must be a multiple of `chunkSize` (the builder sizes it so), so every chunk is whole.
 */
export function chunkDiskImage(imagePath: string, outDir: string, chunkSize: number): DiskImageManifest {
  if (!isValidChunkSize(chunkSize)) {
    throw new Error(`chunk size ${chunkSize}: must be a power of two of at least ${DISK_SECTOR_BYTES} bytes`);
  }
  const fd = openSync(imagePath, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0 || size % chunkSize !== 0) {
      throw new Error(`${imagePath}: ${size} bytes is not a non-zero multiple of the chunk size ${chunkSize}`);
    }
    mkdirSync(join(outDir, DISK_CHUNK_DIRECTORY), { recursive: true });
    const chunks: DiskChunkEntry[] = [];
    const buffer = Buffer.alloc(chunkSize);
    for (let index = 0; index * chunkSize < size; index++) {
      let filled = 0;
      while (filled < chunkSize) {
        const n = readSync(fd, buffer, filled, chunkSize - filled, index * chunkSize + filled);
        if (n === 0) throw new Error(`${imagePath}: ended early at chunk ${index}`);
        filled += n;
      }
      if (isAllZero(buffer)) continue;
      // level 9: the chunks are written once and downloaded many times. gzip headers carry no name or
      // time stamp (Node writes mtime 0), so the same disk gives the same files.
      const compressed = gzipSync(buffer, { level: 9 });
      writeFileSync(join(outDir, diskChunkPath(index)), compressed);
      chunks.push({
        index,
        sha256: createHash('sha256').update(buffer).digest('hex'),
        compressedSize: compressed.length,
      });
    }
    return { format: DISK_IMAGE_FORMAT, size, chunkSize, chunks };
  } finally {
    closeSync(fd);
  }
}

function isAllZero(bytes: Buffer): boolean {
  const words = new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8);
  for (const word of words) if (word !== 0n) return false;
  return true;
}

/**
 * The inverse, for QEMU and for checks: writes the raw disk that `manifest` describes to `outPath`
 * (sparse: chunks not listed stay holes that read as zeros), verifying each chunk's sha256.
 */
export function assembleDiskImage(imageDir: string, manifest: DiskImageManifest, outPath: string): void {
  const fd = openSync(outPath, 'w');
  try {
    ftruncateSync(fd, manifest.size);
    for (const chunk of manifest.chunks) {
      const bytes = gunzipSync(readFileSync(join(imageDir, diskChunkPath(chunk.index))));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (bytes.length !== manifest.chunkSize || sha256 !== chunk.sha256) {
        throw new Error(
          `${diskChunkPath(chunk.index)}: does not match the manifest (${bytes.length} bytes, sha256 ${sha256})`,
        );
      }
      writeSync(fd, bytes, 0, bytes.length, chunk.index * manifest.chunkSize);
    }
  } finally {
    closeSync(fd);
  }
}
