/**
 * Snapshots of a running machine (DESIGN.md §4): capture its complete state, write it as the container
 * of workers/protocol/snapshot-container.ts, and build a fresh Machine from a snapshot chain.
 *
 * Capturing is split in two so the VM stands still only as long as it must: `captureSnapshot` is
 * synchronous (the caller has stopped the run loop between slices) and copies the hart, the device
 * records and the RAM pages; `encodeSnapshot` then compresses and checksums that copy asynchronously
 * while the VM may run again.
 *
 * Child snapshots store only the pages changed since their parent. Every capture hashes each 4 KiB
 * page (two independent 32-bit lanes, a 64-bit fingerprint) in the same pass that finds the non-zero
 * pages, and a page is stored when its fingerprint differs from the parent's. The pass costs about as
 * much as the zero scan it replaces. A dirty bitmap marked by the core's write paths captures faster,
 * but RAM is also written outside the core (virtio DMA, reboots, restores), and a write no path marked
 * would be a silently wrong snapshot; the fingerprints see every page (README: both measured). A restore fingerprints the pages it
 * writes, so the restored machine's next snapshot can be a child of the one it came from.
 *
 * Disks need no hashing: an overlay never changes a block array in place (a write puts a new one in its
 * place, workers/host/block/backend.ts), so the arrays exported at a capture are the disk's contents
 * then, kept without a copy, and a child stores exactly the blocks whose array is not the parent's, and
 * lists the parent's blocks that are gone. Identity cannot miss a write, which a hash could in
 * principle; it can only store a block rewritten with the same bytes, which costs 4 KiB.
 *
 * Time on restore: guest time (mtime) continues from the captured value, so timers neither fire in a
 * burst nor hang. The RTC keeps its captured offset too, i.e. the guest's date continues from the
 * capture instead of jumping to the host's date: Linux keeps its own system time from mtime after boot,
 * and moving only the RTC would make the two disagree (and fire an armed RTC alarm early). A guest that
 * wants the real date reads it again (`hwclock -s`) as a laptop does after a suspend.
 */
import {
  SnapshotError,
  decodeChain,
  encodeSnapshotFile,
  imageLoadOf,
  sha256,
  type SnapshotContents,
  type SnapshotDisk,
} from '../protocol/snapshot-container.ts';
import {
  SNAPSHOT_PAGE_SIZE,
  type SnapshotHeader,
  type SnapshotImageIdentity,
  type SnapshotImageLoad,
} from '../protocol/snapshot-format.ts';
import { describeDiskIdentity } from '../protocol/disk-image.ts';
import { checkSnapshotMachine } from '../protocol/snapshot-records.ts';
import { bootImageMismatch, diskImageMismatch } from '../protocol/snapshot-identity.ts';
import { MEMORY_MAP } from './memory-map.ts';
import { isSnapshotable, type BlockBackend, type SnapshotableBlockBackend } from '../host/block/backend.ts';
import { Machine, type MachineConfig, type MachinePorts, type MachineState } from './machine.ts';

export { SnapshotError };

/** What a snapshot's child is compared with: the machine's RAM and disks as they were at that snapshot. */
export interface SnapshotFingerprint {
  /** The snapshot these fingerprints belong to. */
  readonly id: string;
  /** Two u32 lanes per RAM page, both 0 exactly for an all-zero page. */
  readonly hashes: Uint32Array;
  /** Each disk's overlay blocks then (the arrays themselves, which no write changes), in machine order. */
  readonly disks: readonly ReadonlyMap<number, Uint8Array>[];
}

/** A disk's overlay at a capture: every block (`whole`) or the changes against the parent's. */
export interface CapturedDisk {
  readonly size: number;
  readonly blockSize: number;
  /** The blocks stored, by index (arrays no write changes; copied into the file only by encodeSnapshot). */
  readonly blocks: ReadonlyMap<number, Uint8Array>;
  /** The parent's blocks no longer in the overlay, ascending (a child only). */
  readonly removed: Uint32Array;
  readonly whole: boolean;
  /** The identity of the disk image under the overlay, when the backend knows it. */
  readonly image: string | undefined;
}

/** A machine's state copied out of it, ready to encode. */
export interface CapturedSnapshot {
  readonly id: string;
  readonly parent: string | null;
  readonly config: MachineConfig;
  readonly state: MachineState;
  /** Guest page numbers of the pages stored (non-zero, and for a child changed), ascending. */
  readonly pages: Uint32Array<ArrayBuffer>;
  /** A child's pages that are zero now and were not in its parent, ascending. */
  readonly zeroed: Uint32Array<ArrayBuffer>;
  /** A full snapshot's pages that hold exactly the boot images' bytes loaded there (not stored), ascending. */
  readonly imagePages: Uint32Array<ArrayBuffer>;
  /** Where the images' bytes were loaded. */
  readonly imageLoads: readonly SnapshotImageLoad[];
  /** The stored pages' bytes, SNAPSHOT_PAGE_SIZE each, in the same order. */
  readonly pageData: Uint8Array<ArrayBuffer>;
  /** Each disk's overlay, in machine order. */
  readonly disks: readonly CapturedDisk[];
  /** RAM's and the disks' fingerprint at this capture: the base for a child of this snapshot. */
  readonly fingerprint: SnapshotFingerprint;
  readonly createdAt: Date;
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

export interface CaptureOptions {
  /** The new snapshot's id; default a random UUID. */
  readonly id?: string;
  /** Make a child of the snapshot these fingerprints came from (they must be the machine's state at that snapshot). */
  readonly parent?: SnapshotFingerprint;
}

const WORDS_PER_PAGE = SNAPSHOT_PAGE_SIZE >>> 2;

/** Whether a page is all zeroes: the common case in a guest's RAM, so it is tested before any hashing. */
function isZeroPage(words: Int32Array, start: number): boolean {
  for (let i = start, end = start + WORDS_PER_PAGE; i < end; i += 4) {
    if ((words[i]! | words[i + 1]! | words[i + 2]! | words[i + 3]!) !== 0) return false;
  }
  return true;
}

/**
 * Fingerprints one page into out[slot], out[slot + 1] (a multiply-rotate hash per lane; not
 * cryptographic, a guest that wants to fool its own incremental snapshot can). An all-zero page gives
 * (0, 0); any other page has lane b odd. Returns whether the page is non-zero.
 */
function hashPage(words: Int32Array, start: number, out: Uint32Array, slot: number): boolean {
  if (isZeroPage(words, start)) {
    out[slot] = 0;
    out[slot + 1] = 0;
    return false;
  }
  let a = 0;
  let b = 0;
  for (let i = start, end = start + WORDS_PER_PAGE; i < end; i++) {
    const w = words[i]!;
    a = Math.imul(((a << 5) | (a >>> 27)) ^ w, 0x9e3779b1);
    b = Math.imul(b + w, 0x85ebca77) ^ (b >>> 15);
  }
  out[slot] = a;
  out[slot + 1] = b | 1;
  return true;
}

/** The boot images of a machine config by the name a snapshot header gives them. */
function bootImages(images: SnapshotImages): Record<SnapshotImageLoad['image'], Uint8Array | undefined> {
  return { bios: images.bios, kernel: images.kernel, initrd: images.initrd };
}

/**
 * What a capture reads of a machine: a one-thread Machine, or the device host of a machine whose harts
 * run in other threads (workers/runtime/hart-threads.ts), with every hart parked.
 */
export type SnapshotSubject = Pick<Machine, 'status' | 'io' | 'config' | 'ram' | 'bootLoads' | 'saveState'>;

/** The machine's power-on loads that copy a boot image's bytes (not the device tree), as a header records them. */
function imageLoadsOf(machine: SnapshotSubject): SnapshotImageLoad[] {
  const images = Object.entries(bootImages(machine.config)) as [SnapshotImageLoad['image'], Uint8Array | undefined][];
  const loads: SnapshotImageLoad[] = [];
  for (const { address, data } of machine.bootLoads) {
    for (const [image, bytes] of images) {
      const offset = data.byteOffset - (bytes?.byteOffset ?? 0);
      if (bytes && data.buffer === bytes.buffer && offset >= 0 && offset + data.length <= bytes.length) {
        loads.push({ image, offset, ramOffset: address - MEMORY_MAP.dram.base, length: data.length });
        break;
      }
    }
  }
  return loads;
}

/** Whether RAM's page at byte `start` equals the image's bytes at `offset`. */
function pageEqualsImage(words: Int32Array, start: number, image: Uint8Array, offset: number): boolean {
  const at = image.byteOffset + offset;
  if (at % 4 === 0) {
    const imageWords = new Int32Array(image.buffer, at, WORDS_PER_PAGE);
    for (let i = 0, w = start >>> 2; i < WORDS_PER_PAGE; i++, w++) if (words[w] !== imageWords[i]) return false;
    return true;
  }
  const ram = new Uint8Array(words.buffer, words.byteOffset + start, SNAPSHOT_PAGE_SIZE);
  for (let i = 0; i < SNAPSHOT_PAGE_SIZE; i++) if (ram[i] !== image[offset + i]) return false;
  return true;
}

function ramWords(ram: Uint8Array): Int32Array {
  // RAM is 4 KiB aligned inside the wasm memory and a whole number of pages, so it can be read a word at a time.
  if (ram.length % SNAPSHOT_PAGE_SIZE !== 0) throw new Error('RAM is not a whole number of pages');
  return new Int32Array(ram.buffer, ram.byteOffset, ram.length >>> 2);
}

/**
 * Copies the machine's complete state. The caller must have stopped the run loop (no slice in
 * progress) and awaited `machine.io.quiescent()`, so that no block request is half done and the disks'
 * overlays agree with RAM; the machine is not changed and may run again as soon as this returns.
 */
export function captureSnapshot(machine: SnapshotSubject, options: CaptureOptions = {}): CapturedSnapshot {
  const status = machine.status;
  if (status.kind === 'halted') throw new SnapshotError('the machine has halted; there is nothing to snapshot');
  if (machine.io.pending > 0) {
    throw new SnapshotError(
      `${machine.io.pending} disk requests are in flight; stop the VM and await machine.io.quiescent() first`,
    );
  }
  const exported = (machine.config.disks ?? []).map((disk, i) => {
    const backend = disk.backend;
    if (!isSnapshotable(backend))
      throw new SnapshotError(`disk ${i} has no copy-on-write overlay, so a snapshot cannot hold its state`);
    return { backend, blocks: backend.exportBlocks() };
  });
  const parentDisks = options.parent?.disks;
  if (parentDisks && parentDisks.length !== exported.length)
    throw new Error('the parent fingerprint is for other disks');
  const disks = exported.map(({ backend, blocks }, d): CapturedDisk => {
    const { size, blockBytes: blockSize, image } = backend;
    const before = parentDisks?.[d];
    if (!before) return { size, blockSize, blocks, removed: new Uint32Array(0), whole: true, image };
    const changed = new Map<number, Uint8Array>();
    for (const [index, bytes] of blocks) if (before.get(index) !== bytes) changed.set(index, bytes);
    const removed = [...before.keys()].filter((index) => !blocks.has(index)).sort((a, b) => a - b);
    return { size, blockSize, blocks: changed, removed: Uint32Array.from(removed), whole: false, image };
  });
  const ram = machine.ram;
  const words = ramWords(ram);
  const pageCount = ram.length / SNAPSHOT_PAGE_SIZE;
  const base = options.parent?.hashes;
  if (base && base.length !== pageCount * 2) throw new Error('the parent fingerprint is for a different RAM size');
  const hashes = new Uint32Array(pageCount * 2);
  const stored: number[] = [];
  const zeroed: number[] = [];
  const imagePages: number[] = [];
  const imageLoads = imageLoadsOf(machine);
  const images = bootImages(machine.config);
  for (let page = 0; page < pageCount; page++) {
    const slot = page * 2;
    const nonZero = hashPage(words, page * WORDS_PER_PAGE, hashes, slot);
    if (!base) {
      if (!nonZero) continue;
      // Pages still as the image was loaded (mostly the kernel's code) need not be stored.
      const load = imageLoadOf(imageLoads, page);
      const start = page * SNAPSHOT_PAGE_SIZE;
      const image = load && images[load.image]!;
      if (image && pageEqualsImage(words, start, image, load.offset + start - load.ramOffset)) imagePages.push(page);
      else stored.push(page);
    } else if (hashes[slot] !== base[slot] || hashes[slot + 1] !== base[slot + 1]) {
      (nonZero ? stored : zeroed).push(page);
    }
  }
  const pages = Uint32Array.from(stored);
  const pageData = new Uint8Array(pages.length * SNAPSHOT_PAGE_SIZE);
  pages.forEach((page, i) => {
    const start = page * SNAPSHOT_PAGE_SIZE;
    pageData.set(ram.subarray(start, start + SNAPSHOT_PAGE_SIZE), i * SNAPSHOT_PAGE_SIZE);
  });
  const id = options.id ?? crypto.randomUUID();
  return {
    id,
    parent: options.parent?.id ?? null,
    config: machine.config,
    state: machine.saveState(),
    pages,
    zeroed: Uint32Array.from(zeroed),
    imagePages: Uint32Array.from(imagePages),
    imageLoads,
    pageData,
    disks,
    fingerprint: { id, hashes, disks: exported.map(({ blocks }) => blocks) },
    createdAt: new Date(),
  };
}

/** Writes a captured state as a snapshot file (compressed, checksummed). */
export async function encodeSnapshot(capture: CapturedSnapshot): Promise<Uint8Array<ArrayBuffer>> {
  const { config, state } = capture;
  return encodeSnapshotFile(
    {
      id: capture.id,
      parent: capture.parent,
      machine: { ramSize: config.ramSize, harts: state.cpu.length, bootargs: config.bootargs },
      images: {
        bios: await imageIdentity(config.bios),
        kernel: config.kernel ? await imageIdentity(config.kernel) : null,
        initrd: config.initrd ? await imageIdentity(config.initrd) : null,
      },
      imageLoads: capture.imageLoads,
      createdAt: capture.createdAt.toISOString(),
      devices: state.devices,
    },
    {
      cpu: state.cpu,
      pages: capture.pages,
      zeroed: capture.zeroed,
      imagePages: capture.imagePages,
      pageData: capture.pageData,
      disks: capture.disks.map(diskSection),
    },
  );
}

/** A captured disk as the file holds it: indices ascending, their bytes in one array. */
function diskSection(disk: CapturedDisk): SnapshotDisk {
  const indices = Uint32Array.from([...disk.blocks.keys()].sort((a, b) => a - b));
  const data = new Uint8Array(indices.length * disk.blockSize);
  indices.forEach((index, j) => data.set(disk.blocks.get(index)!, j * disk.blockSize));
  return {
    size: disk.size,
    blockSize: disk.blockSize,
    indices,
    data,
    removed: disk.removed,
    whole: disk.whole,
    ...(disk.image !== undefined ? { image: disk.image } : {}),
  };
}

/** A machine restored from a snapshot, and its fingerprint as restored (the base for a child of it). */
export interface RestoredMachine<M extends RestorableMachine = Machine> {
  readonly machine: M;
  readonly fingerprint: SnapshotFingerprint;
}

/** What a restore builds: a machine in a saved state, whose RAM it then fills. */
export interface RestorableMachine {
  readonly ram: Uint8Array;
}

/** Builds the machine a restore fills (default: a one-thread Machine); it throws when it refuses the state. */
export type BuildRestored<M extends RestorableMachine> = (config: MachineConfig, ports: MachinePorts, state: MachineState) => M;

const buildOneThread: BuildRestored<Machine> = (config, ports, state) => new Machine(config, ports, state);

/**
 * Builds a fresh machine in the snapshot's state. The images must be the ones the snapshot was taken
 * with (checked by size and SHA-256); RAM comes from the snapshot, not from the images. The machine's
 * guest time continues from the saved value, and it is ready for `runSlice()`.
 */
export async function restoreSnapshot<M extends RestorableMachine = Machine>(
  snapshot: Uint8Array | readonly Uint8Array[] | SnapshotContents,
  options: RestoreOptions,
  ports: MachinePorts,
  build: BuildRestored<M> = buildOneThread as unknown as BuildRestored<M>,
): Promise<RestoredMachine<M>> {
  const contents =
    snapshot instanceof Uint8Array
      ? await decodeChain([snapshot])
      : Array.isArray(snapshot)
        ? await decodeChain(snapshot as readonly Uint8Array[])
        : (snapshot as SnapshotContents);
  if (contents.header.parent !== null) {
    throw new SnapshotError(
      `snapshot ${contents.header.id} needs its parent ${contents.header.parent}, which is missing`,
    );
  }
  // The records first: what the file says of its machine is checked before anything is compared or built.
  const state: MachineState = { cpu: contents.cpu, devices: checkSnapshotMachine(contents.header) };
  await checkSnapshotImages(contents.header, options);
  return restoreChecked(contents, state, options, ports, build);
}

/** Refuses images that are not the ones the snapshot was taken with (size and SHA-256 of each). */
export async function checkSnapshotImages(header: SnapshotHeader, images: SnapshotImages): Promise<void> {
  const identity = (bytes: Uint8Array | undefined) => (bytes ? imageIdentity(bytes) : null);
  const given = {
    bios: await imageIdentity(images.bios),
    kernel: await identity(images.kernel),
    initrd: await identity(images.initrd),
  };
  const name = bootImageMismatch(header, given);
  if (name === undefined) return;
  const what = name === 'bios' ? 'firmware' : name;
  const expected = header.images[name];
  const actual = given[name];
  if (expected === null) throw new SnapshotError(`snapshot was taken with no ${what} image, but one was given`);
  if (actual === null)
    throw new SnapshotError(`snapshot needs its ${what} image (${expected.size} bytes), none was given`);
  throw new SnapshotError(
    `snapshot was taken with a different ${what} image (sha256 ${expected.sha256.slice(0, 12)}…, given ${actual.sha256.slice(0, 12)}…)`,
  );
}

/**
 * Refuses shares that are not the snapshot's: the guest's fids name files in each share by its tag, and
 * each share sits in the virtio slot it had (after the disks and the entropy device), so the tags must be
 * the same ones in the same order. Said in one sentence naming the tag, before any device is built.
 */
export function checkSnapshotShares(header: SnapshotHeader, given: readonly { readonly tag: string }[]): void {
  // Devices fill the slots from the highest down (device-host.ts virtioSlots): the shares in order.
  const saved = (checkSnapshotMachine(header).virtio ?? [])
    .flatMap((slot) => (slot.deviceId === 9 ? [slot.device.tag] : []))
    .reverse();
  const tags = given.map((share) => share.tag);
  const missing = saved.find((tag) => !tags.includes(tag));
  if (missing !== undefined)
    throw new SnapshotError(
      `the snapshot's VM had a shared folder tagged "${missing}"; start it with --share DIR,tag=${missing}`,
    );
  const extra = tags.find((tag) => !saved.includes(tag));
  if (extra !== undefined)
    throw new SnapshotError(`the snapshot's VM had no shared folder tagged "${extra}"; start it without that --share`);
  if (saved.some((tag, i) => tags[i] !== tag))
    throw new SnapshotError(
      `the snapshot's VM had its shared folders in the order ${saved.map((tag) => `"${tag}"`).join(', ')}; give --share in that order`,
    );
}

/**
 * The disks' overlays the snapshot's blocks go into, once each is shown to be over the disk the snapshot
 * was taken with (count, size, block size and the image's identity); refuses otherwise and changes nothing.
 */
export function checkSnapshotDisks(
  contents: SnapshotContents,
  given: readonly { readonly backend: BlockBackend }[],
): SnapshotableBlockBackend[] {
  if (given.length !== contents.disks.length) {
    throw new SnapshotError(`snapshot was taken with ${contents.disks.length} disks, ${given.length} were given`);
  }
  const backends = contents.disks.map((disk, i) => {
    const backend = given[i]!.backend;
    if (!isSnapshotable(backend))
      throw new SnapshotError(`disk ${i} has no copy-on-write overlay to restore the snapshot's writes into`);
    if (backend.size !== disk.size || backend.blockBytes !== disk.blockSize) {
      throw new SnapshotError(
        `snapshot disk ${i} has ${disk.size} bytes in ${disk.blockSize}-byte blocks; the disk given has ${backend.size} in ${backend.blockBytes}`,
      );
    }
    return backend;
  });
  // Its blocks belong to one build of the image: over another (a rebuilt image of the same size) they
  // would corrupt the file system. A snapshot from before identities were recorded is checked by size only.
  const other = diskImageMismatch(
    contents.disks,
    backends.map((backend) => backend.image),
  );
  if (other !== undefined) {
    throw new SnapshotError(
      `snapshot disk ${other} was taken on a different disk image than the one given (snapshot: ${describeDiskIdentity(contents.disks[other]!.image!)}, given: ${describeDiskIdentity(backends[other]!.image)})`,
    );
  }
  return backends;
}

function restoreChecked<M extends RestorableMachine>(
  contents: SnapshotContents,
  state: MachineState,
  options: RestoreOptions,
  ports: MachinePorts,
  build: BuildRestored<M>,
): RestoredMachine<M> {
  const { header } = contents;
  const overlays = checkSnapshotDisks(contents, options.disks ?? []);
  checkSnapshotShares(header, options.shares ?? []);
  const config: MachineConfig = { ...options, ramSize: header.machine.ramSize, bootargs: header.machine.bootargs };
  let machine: M;
  try {
    machine = build(config, ports, state);
  } catch (e) {
    // A device refusing its record (unknown version, wrong hart count, missing) is a snapshot we cannot use.
    throw new SnapshotError(`snapshot state cannot be restored: ${e instanceof Error ? e.message : String(e)}`);
  }
  const ram = machine.ram;
  const words = ramWords(ram);
  const hashes = new Uint32Array((ram.length / SNAPSHOT_PAGE_SIZE) * 2);
  const { pages, pageData, imagePages } = contents;
  for (let i = 0; i < pages.length; i++) {
    const start = pages[i]! * SNAPSHOT_PAGE_SIZE;
    ram.set(pageData.subarray(i * SNAPSHOT_PAGE_SIZE, (i + 1) * SNAPSHOT_PAGE_SIZE), start);
    hashPage(words, start >>> 2, hashes, pages[i]! * 2);
  }
  // The images were checked against the header (checkSnapshotImages), and the decoder that every
  // image page lies in a recorded load.
  const images = bootImages(options);
  for (const page of imagePages) {
    const start = page * SNAPSHOT_PAGE_SIZE;
    const load = imageLoadOf(header.imageLoads, page)!;
    const offset = load.offset + start - load.ramOffset;
    ram.set(images[load.image]!.subarray(offset, offset + SNAPSHOT_PAGE_SIZE), start);
    hashPage(words, start >>> 2, hashes, page * 2);
  }
  // Last, once nothing can fail: the disks read as they did when the snapshot was taken.
  contents.disks.forEach((disk, i) => {
    const blocks = new Map<number, Uint8Array>();
    disk.indices.forEach((index, j) =>
      blocks.set(index, disk.data.subarray(j * disk.blockSize, (j + 1) * disk.blockSize)),
    );
    overlays[i]!.restoreBlocks(blocks);
  });
  // The overlays now hold exactly the snapshot's blocks: a child of it compares with these arrays.
  return {
    machine,
    fingerprint: { id: header.id, hashes, disks: overlays.map((overlay) => overlay.exportBlocks()) },
  };
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
