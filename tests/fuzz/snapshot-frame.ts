/**
 * Hand-made snapshot files for the refusal tests and the fuzzer: any header and payload, framed and
 * checksummed as snapshot-format.ts lays them out, so that a file reaches the checks past the checksum.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import {
  SNAPSHOT_CHECKSUM_BYTES,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_MAGIC,
  SNAPSHOT_PREAMBLE_BYTES,
} from '../../workers/protocol/snapshot-format.ts';

/** A snapshot file of `header` (any JSON) and `payload` (the compressed bytes), with a valid checksum. */
export function frameSnapshot(
  header: unknown,
  payload: Uint8Array,
  version = SNAPSHOT_FORMAT_VERSION,
): Uint8Array<ArrayBuffer> {
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const body = SNAPSHOT_PREAMBLE_BYTES + headerBytes.length + payload.length;
  const file = new Uint8Array(body + SNAPSHOT_CHECKSUM_BYTES);
  file.set(new TextEncoder().encode(SNAPSHOT_MAGIC), 0);
  const view = new DataView(file.buffer);
  view.setUint32(8, version, true);
  view.setUint32(12, headerBytes.length, true);
  view.setBigUint64(16, BigInt(payload.length), true);
  file.set(headerBytes, SNAPSHOT_PREAMBLE_BYTES);
  file.set(payload, SNAPSHOT_PREAMBLE_BYTES + headerBytes.length);
  return reseal(file);
}

/** The file with its checksum recomputed over everything before it (after a mutation). */
export function reseal(file: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const body = file.length - SNAPSHOT_CHECKSUM_BYTES;
  if (body < 0) return file;
  file.set(createHash('sha256').update(file.subarray(0, body)).digest(), body);
  return file;
}

/** The payload part of a framed file (to splice a new one in), or undefined when the frame is broken. */
export function headerJsonOf(file: Uint8Array): unknown {
  const length = new DataView(file.buffer, file.byteOffset, file.byteLength).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(file.subarray(SNAPSHOT_PREAMBLE_BYTES, SNAPSHOT_PREAMBLE_BYTES + length)));
}

/** The zlib stream of 2 GiB of zeros (2 MiB), stored gzipped in tests/fuzz/bombs/. */
export function zerosBomb(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(gunzipSync(readFileSync(new URL('./bombs/zeros-2gib.zlib.gz', import.meta.url))));
}

/**
 * A format-3 header as encodeSnapshotFile writes it, for one hart of `blockSize` bytes, `pages` stored
 * pages (and no others) in `ramSize` bytes of RAM, and no disks; rawPayloadBytes agrees with those.
 */
export function snapshotHeader(options: {
  ramSize: number;
  pages: number;
  blockSize?: number;
}): Record<string, unknown> {
  const blockSize = options.blockSize ?? 64;
  return {
    id: 'crafted',
    parent: null,
    machine: { ramSize: options.ramSize, harts: 1, bootargs: '' },
    images: { bios: { size: 1, sha256: '0'.repeat(64) }, kernel: null, initrd: null },
    imageLoads: [],
    createdAt: new Date(0).toISOString(),
    devices: {},
    disks: [],
    cpu: { harts: 1, blockSize },
    ram: { pageSize: 4096, pages: options.pages, zeroedPages: 0, imagePages: 0 },
    rawPayloadBytes: blockSize + options.pages * (4 + 4096),
  };
}
