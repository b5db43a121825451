/**
 * The page's half of a restore, in one pass (docs/snapshots-restore.md): the snapshot is unpacked here
 * once (each file of its chain decompressed once, the chain flattened once), its machine records are
 * checked, and the unpacked contents go to the worker, which builds the machine from them without
 * decoding anything again; the disk's overlay reaches IndexedDB in one write once the worker has started.
 */
import { decodeChain, SnapshotError, type SnapshotContents } from '../../workers/protocol/snapshot-container.ts';
import { checkSnapshotMachine, SNAPSHOT_TIMEBASE_HZ } from '../../workers/protocol/snapshot-records.ts';
import { describeDiskIdentity } from '../../workers/protocol/disk-image.ts';
import { diskImageMismatch } from '../../workers/protocol/snapshot-identity.ts';

/** A snapshot as a restore takes it: a chain of files (full snapshot first), or already unpacked. */
export type RestoreSource = readonly Uint8Array[] | SnapshotContents;

/**
 * The snapshot unpacked and checked: a full snapshot whose machine this tabvm can build. Throws a
 * SnapshotError of one sentence otherwise.
 */
export async function unpackForRestore(source: RestoreSource): Promise<SnapshotContents> {
  let contents: SnapshotContents;
  if (isContents(source)) {
    contents = source;
  } else {
    if (source.length === 0) throw new SnapshotError('no snapshot given');
    contents = await decodeChain(source);
  }
  if (contents.header.parent !== null) {
    throw new SnapshotError(
      `snapshot ${contents.header.id} needs its parent ${contents.header.parent}, which is missing`,
    );
  }
  checkSnapshotMachine(contents.header);
  return contents;
}

/**
 * The contents with the RTC set to read `nowMs` (host wall-clock time, ms since the epoch) at the
 * moment the restored guest resumes, for a snapshot restored as a VM's first state (an image's
 * pre-booted snapshot): a real RTC keeps counting while the machine is off. Guest time (mtime) still
 * continues from the capture, so the guest's timers and its system clock are unchanged; the guest reads
 * the RTC to learn the date (scripts/lib/debian-clock.ts). Takes contents that unpackForRestore checked.
 */
export function rtcAtWallClock(contents: SnapshotContents, nowMs: number): SnapshotContents {
  const devices = checkSnapshotMachine(contents.header);
  const guestNs = (BigInt(devices.clock.ticks) * 1_000_000_000n) / BigInt(SNAPSHOT_TIMEBASE_HZ);
  const offsetNs = BigInt(Math.floor(nowMs)) * 1_000_000n - guestNs;
  const rtc = { ...devices.rtc, offsetNs: offsetNs.toString() };
  return { ...contents, header: { ...contents.header, devices: { ...contents.header.devices, rtc } } };
}

function isContents(source: RestoreSource): source is SnapshotContents {
  return !Array.isArray(source);
}

/**
 * Refuses a snapshot whose disk was taken over another build of the disk image than `current`, named
 * `title` (a snapshot from before identities were recorded is taken on trust).
 */
export function checkRestoreDisk(contents: SnapshotContents, current: string | undefined, title: string): void {
  // A VM without a disk, or one of unknown identity: the worker refuses what does not fit.
  if (current === undefined || diskImageMismatch(contents.disks, [current]) === undefined) return;
  throw new SnapshotError(
    `this snapshot was taken on a different build of the ${title} than this VM runs on (snapshot: ${describeDiskIdentity(contents.disks[0]!.image!)}, this VM: ${describeDiskIdentity(current)})`,
  );
}

/** The overlay of a snapshot's disk (the first: a VM has one), as block index → its own copy of the bytes. */
export function snapshotDiskBlocks(contents: SnapshotContents): Map<number, Uint8Array> {
  const blocks = new Map<number, Uint8Array>();
  const disk = contents.disks[0];
  if (!disk) return blocks;
  disk.indices.forEach((index, i) => blocks.set(index, disk.data.slice(i * disk.blockSize, (i + 1) * disk.blockSize)));
  return blocks;
}

/** Every buffer the contents' arrays live in, once each: what a transfer to the worker moves without a copy. */
export function contentsBuffers(contents: SnapshotContents): ArrayBuffer[] {
  const arrays = [
    ...contents.cpu,
    contents.pages,
    contents.zeroed,
    contents.imagePages,
    contents.pageData,
    ...contents.disks.flatMap((disk) => [disk.indices, disk.data, disk.removed]),
  ];
  const buffers = new Set<ArrayBuffer>();
  for (const array of arrays) if (array.buffer instanceof ArrayBuffer) buffers.add(array.buffer);
  return [...buffers];
}
