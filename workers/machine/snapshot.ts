/**
 * Snapshots of a running machine (DESIGN.md §3): capture its complete state, write it as the container
 * described in workers/protocol/snapshot-format.ts, read such a file back, and build a fresh Machine from it.
 *
 * Capturing is split in two so the VM stands still only as long as it must: `captureSnapshot` is
 * synchronous (the caller has stopped the run loop between slices) and copies the hart, the device
 * records and the non-zero RAM pages; `encodeSnapshot` then compresses and checksums that copy
 * asynchronously while the VM may run again.
 */
import {
  SNAPSHOT_CHECKSUM_BYTES,
  SNAPSHOT_COMPRESSION,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_MAGIC,
  SNAPSHOT_PAGE_SIZE,
  SNAPSHOT_PREAMBLE_BYTES,
  type SnapshotDiskHeader,
  type SnapshotHeader,
  type SnapshotImageIdentity,
} from '../protocol/snapshot-format.ts';
import { isSnapshotable } from '../host/block/backend.ts';
import { Machine, type MachineConfig, type MachinePorts, type MachineState } from './machine.ts';

/**
 * A snapshot refused or impossible, with a one-line message a person can act on ("corrupted",
 * "made by a newer tabvm", "taken with a different kernel"). Not an emulator bug.
 */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';

  constructor(message: string) {
    super(message);
  }
}

/** A machine's state copied out of it, ready to encode. */
export interface CapturedSnapshot {
  readonly config: MachineConfig;
  readonly state: MachineState;
  /** Guest page numbers of the non-zero pages, ascending. */
  readonly pages: Uint32Array<ArrayBuffer>;
  /** Those pages' bytes, SNAPSHOT_PAGE_SIZE each, in the same order. */
  readonly pageData: Uint8Array<ArrayBuffer>;
  /** Each disk's overlay, in machine order. */
  readonly disks: readonly SnapshotDisk[];
  readonly createdAt: Date;
}

/** A disk's written blocks as a snapshot holds them. */
export interface SnapshotDisk {
  readonly size: number;
  readonly blockSize: number;
  readonly blocks: ReadonlyMap<number, Uint8Array>;
}

/** A snapshot file checked and unpacked. */
export interface DecodedSnapshot {
  readonly header: SnapshotHeader;
  readonly state: MachineState;
  readonly pages: Uint32Array;
  readonly pageData: Uint8Array;
  readonly disks: readonly SnapshotDisk[];
}

/** The boot images, which a restore needs (they are identified, not stored, in the snapshot). */
export interface SnapshotImages {
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
}

/** What the host decides on restore, as for a new machine; RAM size and bootargs come from the snapshot. */
export type RestoreOptions = Omit<MachineConfig, 'ramSize' | 'bootargs' | 'bios' | 'kernel' | 'initrd'> &
  SnapshotImages;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Copies the machine's complete state. The caller must have stopped the run loop (no slice in
 * progress) and awaited `machine.io.quiescent()`, so that no block request is half done and the disks'
 * overlays agree with RAM; the machine is not changed and may run again as soon as this returns.
 */
export function captureSnapshot(machine: Machine): CapturedSnapshot {
  const status = machine.status;
  if (status.kind === 'halted') throw new SnapshotError('the machine has halted; there is nothing to snapshot');
  if (machine.io.pending > 0) {
    throw new SnapshotError(
      `${machine.io.pending} disk requests are in flight; stop the VM and await machine.io.quiescent() first`,
    );
  }
  const disks = (machine.config.disks ?? []).map((disk, i): SnapshotDisk => {
    const backend = disk.backend;
    if (!isSnapshotable(backend))
      throw new SnapshotError(`disk ${i} has no copy-on-write overlay, so a snapshot cannot hold its state`);
    return { size: backend.size, blockSize: backend.blockBytes, blocks: backend.exportBlocks() };
  });
  const ram = machine.ram;
  const pageCount = Math.ceil(ram.length / SNAPSHOT_PAGE_SIZE);
  // RAM is 4 KiB aligned inside the wasm memory, so it can be scanned a word at a time.
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.length >>> 2);
  const wordsPerPage = SNAPSHOT_PAGE_SIZE >>> 2;
  const nonZero: number[] = [];
  for (let page = 0; page < pageCount; page++) {
    const end = Math.min((page + 1) * wordsPerPage, words.length);
    for (let i = page * wordsPerPage; i < end; i++) {
      if (words[i] !== 0) {
        nonZero.push(page);
        break;
      }
    }
  }
  const pages = Uint32Array.from(nonZero);
  const pageData = new Uint8Array(pages.length * SNAPSHOT_PAGE_SIZE);
  pages.forEach((page, i) => {
    const start = page * SNAPSHOT_PAGE_SIZE;
    pageData.set(ram.subarray(start, Math.min(start + SNAPSHOT_PAGE_SIZE, ram.length)), i * SNAPSHOT_PAGE_SIZE);
  });
  return { config: machine.config, state: machine.saveState(), pages, pageData, disks, createdAt: new Date() };
}

/** Writes a captured state as a snapshot file (compressed, checksummed). */
export async function encodeSnapshot(capture: CapturedSnapshot): Promise<Uint8Array<ArrayBuffer>> {
  const { config, state } = capture;
  const blockSize = state.cpu[0]?.length ?? 0;
  const diskOrder = capture.disks.map((disk) => [...disk.blocks.keys()].sort((a, b) => a - b));
  const diskBytes = capture.disks.reduce((n, disk, d) => n + diskOrder[d]!.length * (4 + disk.blockSize), 0);
  const raw = new Uint8Array(
    state.cpu.length * blockSize + capture.pages.byteLength + capture.pageData.length + diskBytes,
  );
  let at = 0;
  for (const block of state.cpu) {
    raw.set(block, at);
    at += blockSize;
  }
  const rawView = new DataView(raw.buffer);
  for (const page of capture.pages) {
    rawView.setUint32(at, page, true);
    at += 4;
  }
  raw.set(capture.pageData, at);
  at += capture.pageData.length;
  capture.disks.forEach((disk, d) => {
    const order = diskOrder[d]!;
    for (const index of order) {
      rawView.setUint32(at, index, true);
      at += 4;
    }
    for (const index of order) {
      raw.set(disk.blocks.get(index)!, at);
      at += disk.blockSize;
    }
  });
  const disks: SnapshotDiskHeader[] = capture.disks.map((disk, d) => ({
    size: disk.size,
    blockSize: disk.blockSize,
    blocks: diskOrder[d]!.length,
  }));

  const header: SnapshotHeader = {
    machine: { ramSize: config.ramSize, harts: state.cpu.length, bootargs: config.bootargs },
    images: {
      bios: await imageIdentity(config.bios),
      kernel: config.kernel ? await imageIdentity(config.kernel) : null,
      initrd: config.initrd ? await imageIdentity(config.initrd) : null,
    },
    createdAt: capture.createdAt.toISOString(),
    devices: state.devices,
    cpu: { harts: state.cpu.length, blockSize },
    ram: { pageSize: SNAPSHOT_PAGE_SIZE, pages: capture.pages.length },
    disks,
    rawPayloadBytes: raw.length,
  };
  const headerBytes = encoder.encode(JSON.stringify(header));
  const payload = await pipe(raw, new CompressionStream(SNAPSHOT_COMPRESSION));

  const bodyLength = SNAPSHOT_PREAMBLE_BYTES + headerBytes.length + payload.length;
  const file = new Uint8Array(bodyLength + SNAPSHOT_CHECKSUM_BYTES);
  file.set(encoder.encode(SNAPSHOT_MAGIC), 0);
  const view = new DataView(file.buffer);
  view.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  view.setBigUint64(16, BigInt(payload.length), true);
  file.set(headerBytes, SNAPSHOT_PREAMBLE_BYTES);
  file.set(payload, SNAPSHOT_PREAMBLE_BYTES + headerBytes.length);
  file.set(await sha256(file.subarray(0, bodyLength)), bodyLength);
  return file;
}

/** Captures and encodes in one step, for callers that can keep the machine stopped throughout. */
export async function saveSnapshot(machine: Machine): Promise<Uint8Array<ArrayBuffer>> {
  return encodeSnapshot(captureSnapshot(machine));
}

/** Checks and unpacks a snapshot file; throws SnapshotError for anything that is not a sound snapshot of ours. */
export async function decodeSnapshot(file: Uint8Array): Promise<DecodedSnapshot> {
  const magic = encoder.encode(SNAPSHOT_MAGIC);
  if (file.length < magic.length || magic.some((b, i) => file[i] !== b)) {
    throw new SnapshotError('not a tabvm snapshot (wrong magic bytes)');
  }
  if (file.length < SNAPSHOT_PREAMBLE_BYTES) throw new SnapshotError(`snapshot is truncated (${file.length} bytes)`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint32(8, true);
  if (version > SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotError(
      `snapshot format version ${version} is newer than this tabvm supports (${SNAPSHOT_FORMAT_VERSION}); update tabvm`,
    );
  }
  // Version 1 is version 2 without disks.
  if (version !== SNAPSHOT_FORMAT_VERSION && version !== 1)
    throw new SnapshotError(`unknown snapshot format version ${version}`);
  const headerLength = view.getUint32(12, true);
  const payloadLength = view.getBigUint64(16, true);
  const expected = BigInt(SNAPSHOT_PREAMBLE_BYTES + headerLength + SNAPSHOT_CHECKSUM_BYTES) + payloadLength;
  if (BigInt(file.length) < expected) {
    throw new SnapshotError(`snapshot is truncated (${file.length} of ${expected.toString()} bytes)`);
  }
  if (BigInt(file.length) > expected) {
    throw new SnapshotError(`snapshot has ${(BigInt(file.length) - expected).toString()} unexpected trailing bytes`);
  }
  const bodyLength = file.length - SNAPSHOT_CHECKSUM_BYTES;
  const digest = await sha256(file.subarray(0, bodyLength));
  if (digest.some((b, i) => file[bodyLength + i] !== b)) {
    throw new SnapshotError('snapshot is corrupted (checksum mismatch)');
  }

  // Past the checksum the file is as we wrote it, unless another program forged one; still refuse
  // inconsistent fields with a SnapshotError rather than crash on them.
  let header: SnapshotHeader;
  try {
    header = JSON.parse(
      decoder.decode(file.subarray(SNAPSHOT_PREAMBLE_BYTES, SNAPSHOT_PREAMBLE_BYTES + headerLength)),
    ) as SnapshotHeader;
  } catch {
    throw new SnapshotError('snapshot header is not valid JSON');
  }
  const payloadStart = SNAPSHOT_PREAMBLE_BYTES + headerLength;
  let raw: Uint8Array;
  try {
    raw = await pipe(file.subarray(payloadStart, bodyLength), new DecompressionStream(SNAPSHOT_COMPRESSION));
  } catch {
    throw new SnapshotError('snapshot payload does not decompress');
  }
  const { cpu, ram } = header;
  if (ram.pageSize !== SNAPSHOT_PAGE_SIZE)
    throw new SnapshotError(`snapshot page size ${ram.pageSize} is not supported`);
  const cpuBytes = cpu.harts * cpu.blockSize;
  const pagesBytes = ram.pages * 4;
  const diskHeaders = header.disks ?? [];
  const diskBytes = diskHeaders.reduce((n, disk) => n + disk.blocks * (4 + disk.blockSize), 0);
  if (
    raw.length !== header.rawPayloadBytes ||
    raw.length !== cpuBytes + pagesBytes + ram.pages * SNAPSHOT_PAGE_SIZE + diskBytes
  ) {
    throw new SnapshotError('snapshot payload does not match its header');
  }
  const blocks: Uint8Array[] = [];
  for (let h = 0; h < cpu.harts; h++) blocks.push(raw.slice(h * cpu.blockSize, (h + 1) * cpu.blockSize));
  const rawView = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const pages = new Uint32Array(ram.pages);
  for (let i = 0; i < pages.length; i++) pages[i] = rawView.getUint32(cpuBytes + 4 * i, true);
  const ramPages = Math.ceil(header.machine.ramSize / SNAPSHOT_PAGE_SIZE);
  for (let i = 0; i < pages.length; i++) {
    if (pages[i]! >= ramPages || (i > 0 && pages[i]! <= pages[i - 1]!)) {
      throw new SnapshotError('snapshot RAM page list is out of order or outside RAM');
    }
  }
  let at = cpuBytes + pagesBytes + ram.pages * SNAPSHOT_PAGE_SIZE;
  const disks = diskHeaders.map((disk): SnapshotDisk => {
    const indices: number[] = [];
    for (let i = 0; i < disk.blocks; i++) indices.push(rawView.getUint32(at + 4 * i, true));
    at += 4 * disk.blocks;
    const blocks = new Map<number, Uint8Array>();
    for (const index of indices) {
      if (index >= disk.size / disk.blockSize || blocks.has(index))
        throw new SnapshotError('snapshot disk block list is inconsistent');
      blocks.set(index, raw.subarray(at, at + disk.blockSize));
      at += disk.blockSize;
    }
    return { size: disk.size, blockSize: disk.blockSize, blocks };
  });
  return {
    header,
    state: { cpu: blocks, devices: header.devices as unknown as MachineState['devices'] },
    pages,
    pageData: raw.subarray(cpuBytes + pagesBytes, cpuBytes + pagesBytes + ram.pages * SNAPSHOT_PAGE_SIZE),
    disks,
  };
}

/**
 * Builds a fresh machine in the snapshot's state. The images must be the ones the snapshot was taken
 * with (checked by size and SHA-256); RAM comes from the snapshot, not from the images. The machine's
 * guest time continues from the saved value, and it is ready for `runSlice()`.
 */
export async function restoreSnapshot(
  snapshot: Uint8Array | DecodedSnapshot,
  options: RestoreOptions,
  ports: MachinePorts,
): Promise<Machine> {
  const decoded = snapshot instanceof Uint8Array ? await decodeSnapshot(snapshot) : snapshot;
  const { header } = decoded;
  await checkImage('firmware', header.images.bios, options.bios);
  await checkImage('kernel', header.images.kernel, options.kernel);
  await checkImage('initrd', header.images.initrd, options.initrd);
  return restoreChecked(decoded, options, ports);
}

function restoreChecked(decoded: DecodedSnapshot, options: RestoreOptions, ports: MachinePorts): Machine {
  const { header } = decoded;
  const given = options.disks ?? [];
  if (given.length !== decoded.disks.length) {
    throw new SnapshotError(`snapshot was taken with ${decoded.disks.length} disks, ${given.length} were given`);
  }
  decoded.disks.forEach((disk, i) => {
    const backend = given[i]!.backend;
    if (!isSnapshotable(backend))
      throw new SnapshotError(`disk ${i} has no copy-on-write overlay to restore the snapshot's writes into`);
    if (backend.size !== disk.size || backend.blockBytes !== disk.blockSize) {
      throw new SnapshotError(
        `snapshot disk ${i} has ${disk.size} bytes in ${disk.blockSize}-byte blocks; the disk given has ${backend.size} in ${backend.blockBytes}`,
      );
    }
  });
  const config: MachineConfig = { ...options, ramSize: header.machine.ramSize, bootargs: header.machine.bootargs };
  let machine: Machine;
  try {
    machine = new Machine(config, ports, decoded.state);
  } catch (e) {
    // A device refusing its record (unknown version, wrong hart count) is a snapshot we cannot use.
    throw new SnapshotError(`snapshot state cannot be restored: ${e instanceof Error ? e.message : String(e)}`);
  }
  const ram = machine.ram;
  const { pages, pageData } = decoded;
  for (let i = 0; i < pages.length; i++) {
    const start = pages[i]! * SNAPSHOT_PAGE_SIZE;
    const length = Math.min(SNAPSHOT_PAGE_SIZE, ram.length - start);
    ram.set(pageData.subarray(i * SNAPSHOT_PAGE_SIZE, i * SNAPSHOT_PAGE_SIZE + length), start);
  }
  // Last, once nothing can fail: the disks read as they did when the snapshot was taken.
  decoded.disks.forEach((disk, i) => {
    const backend = given[i]!.backend;
    if (isSnapshotable(backend)) backend.restoreBlocks(disk.blocks);
  });
  return machine;
}

async function checkImage(
  what: string,
  expected: SnapshotImageIdentity | null,
  bytes: Uint8Array | undefined,
): Promise<void> {
  if (expected === null) {
    if (bytes !== undefined) throw new SnapshotError(`snapshot was taken with no ${what} image, but one was given`);
    return;
  }
  if (bytes === undefined)
    throw new SnapshotError(`snapshot needs its ${what} image (${expected.size} bytes), none was given`);
  const actual = await imageIdentity(bytes);
  if (actual.size !== expected.size || actual.sha256 !== expected.sha256) {
    throw new SnapshotError(
      `snapshot was taken with a different ${what} image (sha256 ${expected.sha256.slice(0, 12)}…, given ${actual.sha256.slice(0, 12)}…)`,
    );
  }
}

/** Image identities, cached per byte array: hashing a kernel on every snapshot would be wasted time. */
const identities = new WeakMap<Uint8Array, Promise<SnapshotImageIdentity>>();

export function imageIdentity(bytes: Uint8Array): Promise<SnapshotImageIdentity> {
  let identity = identities.get(bytes);
  if (!identity) {
    identity = sha256(bytes).then((digest) => ({
      size: bytes.length,
      sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    }));
    identities.set(bytes, identity);
  }
  return identity;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', ownBuffer(bytes)));
}

/** Web APIs refuse views of a SharedArrayBuffer (guest RAM may be one): copy those. */
function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

async function pipe(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array<ArrayBuffer>> {
  const writer = stream.writable.getWriter();
  // Written without awaiting: the stream applies back-pressure until the reader below drains it.
  const written = writer.write(ownBuffer(bytes)).then(() => writer.close());
  const [out] = await Promise.all([new Response(stream.readable).arrayBuffer(), written]);
  return new Uint8Array(out);
}
