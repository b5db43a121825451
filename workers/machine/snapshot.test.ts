// The snapshot container on a small machine that never runs: what goes in comes back out byte for byte,
// all-zero pages stay out of the file, and damaged or foreign files are refused.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { coreModule } from '../cpu/test-support/machine.ts';
import { CLINT_MTIMECMP } from '../devices/clint.ts';
import { UART_SCR } from '../devices/uart16550.ts';
import { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_PAGE_SIZE, SNAPSHOT_PREAMBLE_BYTES } from '../protocol/snapshot-format.ts';
import { Machine } from './machine.ts';
import { MEMORY_MAP } from './memory-map.ts';
import { decodeSnapshotFile, encodeContents, flattenChain, mergeSnapshots } from '../protocol/snapshot-container.ts';
import {
  SnapshotError,
  captureSnapshot,
  checkSnapshotDisks,
  encodeSnapshot,
  restoreSnapshot,
  type RestoreOptions,
} from './snapshot.ts';
import { openVmDisk } from '../host/block/open-disk.ts';
import { MemoryDisk } from '../host/block/memory-disk.ts';
import { OverlayDisk } from '../host/block/overlay-disk.ts';
import { chunkedDiskIdentity, rawDiskIdentityOf, type DiskImageManifest } from '../protocol/disk-image.ts';
import { countDecompressions } from '../test-support/count-decompressions.ts';

const RAM = 16 << 20;
/** Bytes of an overlay block. */
const B = 4096;
/** Firmware that spins (`j .`); these machines are never run. */
const bios = new Uint8Array(new Uint32Array(64).fill(0x0000006f).buffer);
const kernel = new Uint8Array(8192).map((_, i) => (i * 7 + 1) & 0xff);

async function setup(now: () => number = () => 0): Promise<{ machine: Machine; options: RestoreOptions }> {
  const options: RestoreOptions = { bios, kernel, sharedMemory: true, coreModule: await coreModule(), now };
  const machine = new Machine(
    { ...options, ramSize: RAM, bootargs: 'console=ttyS0 test' },
    { console: { write() {} } },
  );
  return { machine, options };
}

/** Non-zero pages found the slow, obvious way. */
function nonZeroPages(ram: Uint8Array): number[] {
  const pages: number[] = [];
  for (let p = 0; p * SNAPSHOT_PAGE_SIZE < ram.length; p++) {
    if (ram.subarray(p * SNAPSHOT_PAGE_SIZE, (p + 1) * SNAPSHOT_PAGE_SIZE).some((b) => b !== 0)) pages.push(p);
  }
  return pages;
}

const throughJson = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** The header fields the forgery tests change. */
interface ForgedHeader {
  parent: string | null;
  machine: { ramSize: number };
  images: Record<string, { size: number }>;
  imageLoads: { image: string; length: number }[];
  disks: unknown[];
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SnapshotError);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

describe('snapshot container', () => {
  it('round-trips RAM, the hart block, every device record and guest time into a fresh machine', async () => {
    let hostMs = 1000;
    const { machine: a, options } = await setup(() => hostMs);
    a.ram.fill(0xa5, 100 * SNAPSHOT_PAGE_SIZE, 100 * SNAPSHOT_PAGE_SIZE + 10);
    a.ram[RAM - 1] = 0x42;
    a.hart.setX(5, 0x1234_5678_9abc_def0n);
    a.hart.pc = 0x8020_0000n;
    a.bus.write(MEMORY_MAP.uart0.base + UART_SCR, 0x5an, 1);
    a.bus.write(MEMORY_MAP.clint.base + CLINT_MTIMECMP, 123_456_789n, 8);
    hostMs += 2500; // 2.5 s of guest time at 10 MHz
    const savedTicks = a.clock.ticks();
    expect(savedTicks).toBe(25_000_000n);

    const file = await encodeSnapshot(captureSnapshot(a));
    hostMs += 10_000; // time passing on the host between save and restore must not reach the guest
    const { machine: b } = await restoreSnapshot(file, options, { console: { write() {} } });

    expect(Buffer.from(b.ram).equals(Buffer.from(a.ram))).toBe(true);
    expect(b.hart.saveState()).toEqual(a.hart.saveState());
    expect(b.hart.x(5)).toBe(0x1234_5678_9abc_def0n);
    expect(b.clock.ticks()).toBe(savedTicks);
    hostMs += 1;
    expect(b.clock.ticks()).toBe(savedTicks + 10_000n);
    const { clock: _a, ...devicesA } = throughJson(a.saveState().devices);
    const { clock: _b, ...devicesB } = throughJson(b.saveState().devices);
    expect(devicesB).toEqual(devicesA);
    expect(b.bus.read(MEMORY_MAP.uart0.base + UART_SCR, 1)).toBe(0x5an);
    expect(b.bus.read(MEMORY_MAP.clint.base + CLINT_MTIMECMP, 8)).toBe(123_456_789n);
    expect(b.config.bootargs).toBe('console=ttyS0 test');
    expect(b.config.ramSize).toBe(RAM);
  });

  it("holds each disk's overlay; a child holds only the blocks written or dropped since its parent", async () => {
    const { options } = await setup();
    const disk = (): OverlayDisk => new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), false));
    const a = disk();
    const machine = new Machine(
      { ...options, ramSize: RAM, bootargs: '', disks: [{ backend: a }] },
      { console: { write() {} } },
    );
    const fill = (block: number, value: number): Promise<void> => a.write(block * B, new Uint8Array(B).fill(value));
    await fill(3, 3);
    await fill(9, 9);
    await fill(11, 11);
    const parent = captureSnapshot(machine, { id: 'p' });
    await fill(3, 33); // rewritten
    await a.write(11 * B + 512, new Uint8Array(512).fill(12)); // partly rewritten
    await fill(4, 4); // new
    const child = captureSnapshot(machine, { id: 'c', parent: parent.fingerprint });
    expect([...child.disks[0]!.blocks.keys()].sort((x, y) => x - y)).toEqual([3, 4, 11]);
    expect(child.disks[0]!.whole).toBe(false);
    // Nothing written since: an empty disk section.
    const unchanged = captureSnapshot(machine, { id: 'u', parent: child.fingerprint });
    expect([unchanged.disks[0]!.blocks.size, unchanged.disks[0]!.removed.length]).toEqual([0, 0]);
    // The overlay dropped (as a discard does) and one block written: the child lists what left.
    a.discard();
    await fill(5, 5);
    const grandchild = captureSnapshot(machine, { id: 'g', parent: child.fingerprint });
    expect([...grandchild.disks[0]!.blocks.keys()]).toEqual([5]);
    expect([...grandchild.disks[0]!.removed]).toEqual([3, 4, 9, 11]);

    const files = await Promise.all([parent, child, grandchild].map((c) => encodeSnapshot(c)));
    const [pc, cc, gc] = await Promise.all(files.map((f) => decodeSnapshotFile(f)));
    expect([...pc!.disks[0]!.indices]).toEqual([3, 9, 11]);
    expect([...cc!.disks[0]!.indices]).toEqual([3, 4, 11]);
    expect(cc!.disks[0]!.data.length).toBe(3 * B);
    expect([...gc!.disks[0]!.removed]).toEqual([3, 4, 9, 11]);

    /** First byte of each block of a disk restored from `chain`: 0 is the image. */
    const restoredBytes = async (chain: readonly Uint8Array[]): Promise<number[]> => {
      const b = disk();
      await b.write(6 * B, new Uint8Array(B).fill(6)); // written after the snapshot: must be gone
      await restoreSnapshot(chain, { ...options, disks: [{ backend: b }] }, { console: { write() {} } });
      const bytes = new Uint8Array(1 << 20);
      await b.read(0, bytes);
      return Array.from({ length: 12 }, (_, block) => bytes[block * B + 600]!);
    };
    expect(await restoredBytes(files.slice(0, 1))).toEqual([0, 0, 0, 3, 0, 0, 0, 0, 0, 9, 0, 11]);
    expect(await restoredBytes(files.slice(0, 2))).toEqual([0, 0, 0, 33, 4, 0, 0, 0, 0, 9, 0, 12]);
    expect(await restoredBytes(files)).toEqual([0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0]);

    // Export: one full snapshot with the merged overlay.
    const flat = flattenChain([pc!, cc!]);
    expect([flat.disks[0]!.whole, [...flat.disks[0]!.indices], flat.disks[0]!.removed.length]).toEqual([
      true,
      [3, 4, 9, 11],
      0,
    ]);
    expect(await restoredBytes([await encodeContents(flat)])).toEqual([0, 0, 0, 33, 4, 0, 0, 0, 0, 9, 0, 12]);
    expect([...flattenChain([pc!, cc!, gc!]).disks[0]!.indices]).toEqual([5]);
    // Deleting c re-bases g on p: still a child, listing every block that left since p.
    const rebased = mergeSnapshots(cc!, gc!);
    expect(rebased.header.parent).toBe('p');
    expect(rebased.disks[0]!.whole).toBe(false);
    expect([...rebased.disks[0]!.indices]).toEqual([5]);
    expect([...rebased.disks[0]!.removed]).toEqual([3, 4, 9, 11]);
    expect(await restoredBytes([files[0]!, await encodeContents(rebased)])).toEqual([
      0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0,
    ]);
    // Deleting p re-bases c on nothing: a full snapshot again.
    const cFull = mergeSnapshots(pc!, cc!);
    expect(cFull.header.parent).toBeNull();
    expect(await restoredBytes([await encodeContents(cFull)])).toEqual([0, 0, 0, 33, 4, 0, 0, 0, 0, 9, 0, 12]);

    await expect(restoreSnapshot(files, options, { console: { write() {} } })).rejects.toThrow(/taken with 1 disks/);
    const small = new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 19), false));
    await expect(
      restoreSnapshot(files, { ...options, disks: [{ backend: small }] }, { console: { write() {} } }),
    ).rejects.toThrow(/the disk given has/);
  });

  it('a restored disk is the base of the next child: only what the guest wrote after the restore is stored', async () => {
    const { options } = await setup();
    const a = new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), false));
    const machine = new Machine(
      { ...options, ramSize: RAM, bootargs: '', disks: [{ backend: a }] },
      { console: { write() {} } },
    );
    await a.write(2 * B, new Uint8Array(B).fill(2));
    await a.write(7 * B, new Uint8Array(B).fill(7));
    const file = await encodeSnapshot(captureSnapshot(machine, { id: 'p' }));
    const b = new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), false));
    const { machine: restored, fingerprint } = await restoreSnapshot(
      file,
      { ...options, disks: [{ backend: b }] },
      { console: { write() {} } },
    );
    expect(captureSnapshot(restored, { parent: fingerprint }).disks[0]!.blocks.size).toBe(0);
    await b.write(7 * B + 1024, new Uint8Array(512).fill(70));
    const child = captureSnapshot(restored, { parent: fingerprint });
    expect([...child.disks[0]!.blocks.keys()]).toEqual([7]);
    expect(child.disks[0]!.removed.length).toBe(0);
  });

  it("records the disk image's identity, keeps it through merges, and refuses a restore over another image", async () => {
    const { options } = await setup();
    const built = await rawDiskIdentityOf(new Uint8Array(1 << 20).fill(1));
    const rebuilt = await rawDiskIdentityOf(new Uint8Array(1 << 20).fill(2));
    expect(built).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rebuilt).not.toBe(built);
    const disk = (image?: string): OverlayDisk =>
      new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), false), image === undefined ? {} : { image });
    const a = disk(built);
    const machine = new Machine(
      { ...options, ramSize: RAM, bootargs: '', disks: [{ backend: a }] },
      { console: { write() {} } },
    );
    await a.write(3 * B, new Uint8Array(B).fill(3));
    const parent = captureSnapshot(machine, { id: 'p' });
    await a.write(4 * B, new Uint8Array(B).fill(4));
    const child = captureSnapshot(machine, { id: 'c', parent: parent.fingerprint });
    const files = await Promise.all([parent, child].map((c) => encodeSnapshot(c)));
    const [pc, cc] = await Promise.all(files.map((f) => decodeSnapshotFile(f)));
    expect([pc!.header.disks[0]!.image, cc!.disks[0]!.image]).toEqual([built, built]);
    // Export (flatten) and deleting the parent (re-base) keep it.
    const flat = await decodeSnapshotFile(await encodeContents(flattenChain([pc!, cc!])));
    expect(flat.disks[0]!.image).toBe(built);
    expect(mergeSnapshots(pc!, cc!).disks[0]!.image).toBe(built);

    const restore = (backend: OverlayDisk, chain: readonly Uint8Array[] = files) =>
      restoreSnapshot(chain, { ...options, disks: [{ backend }] }, { console: { write() {} } });
    const same = disk(built);
    await restore(same);
    expect(same.exportBlocks().size).toBe(2);
    const other = disk(rebuilt);
    await other.write(7 * B, new Uint8Array(B).fill(7));
    const message = await refusal(restore(other));
    expect(message).toMatch(/^snapshot disk 0 was taken on a different disk image than the one given/);
    expect(message).toContain(`snapshot: ${built.slice(0, 19)}`);
    expect(message).toContain(`given: ${rebuilt.slice(0, 19)}`);
    // Nothing changed on the disk refused.
    expect([...other.exportBlocks().keys()]).toEqual([7]);
    // A disk whose image is unknown cannot be shown to be the same one.
    expect(await refusal(restore(disk()))).toContain('given: unknown');
    // A parent and child over different images do not merge.
    const forged = { ...cc!, disks: [{ ...cc!.disks[0]!, image: rebuilt }] };
    expect(() => mergeSnapshots(pc!, forged)).toThrow(/over another disk image than its parent's/);

    // A file from before identities were recorded (no `image`) is checked by size only, over any image.
    const { image: _image, ...withoutIdentity } = pc!.disks[0]!;
    const old = await encodeContents({ ...pc!, disks: [withoutIdentity] });
    const oldHeader = (await decodeSnapshotFile(old)).header.disks[0]!;
    expect('image' in oldHeader).toBe(false);
    const anyImage = disk(rebuilt);
    await restore(anyImage, [old]);
    expect([...anyImage.exportBlocks().keys()]).toEqual([3]);
    await expect(restore(new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 19), false)), [old])).rejects.toThrow(
      /the disk given has/,
    );
    // A forged identity that is not one is refused by the header check.
    const bad = await encodeContents({ ...pc!, disks: [{ ...pc!.disks[0]!, image: 'debian:1234' }] });
    expect(await refusal(decodeSnapshotFile(bad))).toMatch(/header/);
  });

  it('restores unpacked contents without decompressing again, putting the overlay in once', async () => {
    const { options } = await setup();
    const a = new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), false));
    const machine = new Machine(
      { ...options, ramSize: RAM, bootargs: '', disks: [{ backend: a }] },
      { console: { write() {} } },
    );
    await a.write(3 * B, new Uint8Array(B).fill(3));
    const contents = await decodeSnapshotFile(await encodeSnapshot(captureSnapshot(machine)));
    const b = new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), false));
    const restoreBlocks = vi.spyOn(b, 'restoreBlocks');
    const decompressions = countDecompressions();
    try {
      await restoreSnapshot(contents, { ...options, disks: [{ backend: b }] }, { console: { write() {} } });
    } finally {
      vi.unstubAllGlobals();
    }
    expect(decompressions()).toBe(0);
    expect(restoreBlocks).toHaveBeenCalledTimes(1);
    expect([...b.exportBlocks().keys()]).toEqual([3]);
  });

  it('refuses a chunked disk of another build of the image, as the worker opens it', async () => {
    const { options } = await setup();
    const manifest: DiskImageManifest = {
      format: 'tabvm-chunked-disk-v1',
      size: 2 * 65536,
      chunkSize: 65536,
      chunks: [{ index: 1, sha256: 'a'.repeat(64), compressedSize: 4321 }],
    };
    const request = (m: DiskImageManifest) =>
      ({ source: { kind: 'chunked', baseUrl: 'http://host.test/', manifest: m }, overlay: new Map() }) as const;
    const built = openVmDisk({ ...request(manifest), image: await chunkedDiskIdentity(manifest) }, {});
    const machine = new Machine(
      { ...options, ramSize: RAM, bootargs: '', disks: [{ backend: built }] },
      { console: { write() {} } },
    );
    const contents = await decodeSnapshotFile(await encodeSnapshot(captureSnapshot(machine)));
    const rebuilt = { ...manifest, chunks: [] };
    const given = openVmDisk({ ...request(rebuilt), image: await chunkedDiskIdentity(rebuilt) }, {});
    expect(() => checkSnapshotDisks(contents, [{ backend: given }])).toThrow(
      /snapshot disk 0 was taken on a different disk image than the one given/,
    );
  });

  it('reads format 2 snapshots, whose children hold whole overlays; re-encoded they are format 3', async () => {
    const fixture = (name: string): Uint8Array =>
      new Uint8Array(readFileSync(new URL(`../protocol/fixtures/${name}.tabvm`, import.meta.url)));
    const files = [fixture('format2-parent'), fixture('format2-child')];
    expect(files.map((f) => new DataView(f.buffer, f.byteOffset).getUint32(8, true))).toEqual([2, 2]);
    const [parent, child] = await Promise.all(files.map((f) => decodeSnapshotFile(f)));
    expect(child!.disks[0]!.whole).toBe(true);
    // The child's overlay replaces the parent's: block 9, which only the parent has, is gone.
    const merged = flattenChain([parent!, child!]);
    expect([...merged.disks[0]!.indices]).toEqual([3, 4]);
    expect([merged.disks[0]!.data[0], merged.disks[0]!.data[B]]).toEqual([33, 4]);
    expect(Array.from(merged.pages)).toEqual([1, 2]);
    const again = await encodeContents(merged);
    expect(new DataView(again.buffer).getUint32(8, true)).toBe(SNAPSHOT_FORMAT_VERSION);
    expect((await decodeSnapshotFile(again)).disks).toEqual(merged.disks);
  });

  it('lists exactly the non-zero pages, storing those that are not the boot images as loaded', async () => {
    const { machine, options } = await setup();
    machine.ram[200 * SNAPSHOT_PAGE_SIZE + 4095] = 1; // last byte of a page
    machine.ram[300 * SNAPSHOT_PAGE_SIZE] = 9;
    machine.ram[300 * SNAPSHOT_PAGE_SIZE] = 0; // dirtied and cleared again: zero, so left out
    // The kernel (two pages) sits at DRAM + 2 MiB = page 512; the guest changed its second page.
    const KERNEL_PAGE = 0x20_0000 / SNAPSHOT_PAGE_SIZE;
    machine.ram[(KERNEL_PAGE + 1) * SNAPSHOT_PAGE_SIZE + 100]! ^= 0xff;
    const capture = captureSnapshot(machine);
    const expected = nonZeroPages(machine.ram);
    expect(expected).toContain(200);
    expect(expected).not.toContain(300);
    expect(Array.from(capture.imagePages)).toEqual([KERNEL_PAGE]);
    expect(capture.imageLoads).toContainEqual({ image: 'kernel', offset: 0, ramOffset: 0x20_0000, length: 8192 });
    expect(Array.from(capture.pages)).toEqual(expected.filter((page) => page !== KERNEL_PAGE));
    expect(capture.pageData.length).toBe((expected.length - 1) * SNAPSHOT_PAGE_SIZE);
    const file = await encodeSnapshot(capture);
    const decoded = await decodeSnapshotFile(file);
    expect(Array.from(decoded.pages)).toEqual(Array.from(capture.pages));
    expect(Array.from(decoded.imagePages)).toEqual([KERNEL_PAGE]);
    expect(decoded.header.ram).toEqual({
      pageSize: SNAPSHOT_PAGE_SIZE,
      pages: expected.length - 1,
      zeroedPages: 0,
      imagePages: 1,
    });
    const { machine: restored } = await restoreSnapshot(file, options, { console: { write() {} } });
    expect(Buffer.from(restored.ram).equals(Buffer.from(machine.ram))).toBe(true);
  });

  it('refuses damaged, foreign, newer and mismatched snapshots with one line each', async () => {
    const { machine, options } = await setup();
    const file = await encodeSnapshot(captureSnapshot(machine));
    const restore = (bytes: Uint8Array, opts: RestoreOptions = options): Promise<unknown> =>
      restoreSnapshot(bytes, opts, { console: { write() {} } });
    expect((await restore(file)) as { machine: unknown }).toHaveProperty('machine');

    // A flipped bit anywhere after the length fields: header, payload or the checksum itself.
    for (const at of [SNAPSHOT_PREAMBLE_BYTES + 3, file.length >> 1, file.length - 1]) {
      const corrupted = file.slice();
      corrupted[at]! ^= 0x01;
      expect(await refusal(restore(corrupted))).toMatch(/corrupted \(checksum mismatch\)/);
    }
    expect(await refusal(restore(file.subarray(0, file.length - 1)))).toMatch(/truncated/);
    expect(await refusal(restore(file.subarray(0, 12)))).toMatch(/truncated/);
    expect(await refusal(restore(Uint8Array.of(...file, 0)))).toMatch(/trailing/);
    expect(await refusal(restore(new TextEncoder().encode('PK\x03\x04 a zip file')))).toMatch(/not a tabvm snapshot/);
    expect(await refusal(restore(new Uint8Array(0)))).toMatch(/not a tabvm snapshot/);

    const newer = file.slice();
    new DataView(newer.buffer).setUint32(8, SNAPSHOT_FORMAT_VERSION + 1, true);
    expect(await refusal(restore(newer))).toMatch(new RegExp(`version ${SNAPSHOT_FORMAT_VERSION + 1} is newer`));

    const otherKernel = kernel.slice();
    otherKernel[0]! ^= 0xff;
    expect(await refusal(restore(file, { ...options, kernel: otherKernel }))).toMatch(/different kernel/);
    expect(await refusal(restore(file, { ...options, bios: Uint8Array.of(...bios, 0, 0, 0, 0) }))).toMatch(
      /different firmware/,
    );
    const { kernel: _, ...noKernel } = options;
    expect(await refusal(restore(file, noKernel))).toMatch(/needs its kernel/);
    expect(await refusal(restore(file, { ...options, initrd: Uint8Array.of(1) }))).toMatch(
      /taken with no initrd image/,
    );
  });

  it('refuses to capture a halted machine, and to restore device records it does not understand', async () => {
    const { machine, options } = await setup();
    const capture = captureSnapshot(machine);
    const { uart0 } = capture.state.devices;
    const future = {
      ...capture,
      state: { ...capture.state, devices: { ...capture.state.devices, uart0: { ...uart0, v: 2 as 1 } } },
    };
    const file = await encodeSnapshot(future);
    expect(await refusal(restoreSnapshot(file, options, { console: { write() {} } }))).toMatch(
      /cannot be restored: uart16550: unknown state version 2/,
    );

    machine.bus.write(MEMORY_MAP.sifiveTest.base, 0x5555n, 4); // FINISHER_PASS: power off
    expect(machine.status.kind).toBe('halted');
    expect(() => captureSnapshot(machine)).toThrow(SnapshotError);
    expect(() => captureSnapshot(machine)).toThrow(/halted/);
  });

  it('a child stores only the pages changed since its parent; its chain restores the exact RAM', async () => {
    const { machine: a, options } = await setup();
    a.ram.fill(1, 10 * SNAPSHOT_PAGE_SIZE, 20 * SNAPSHOT_PAGE_SIZE); // pages 10..19
    const parent = captureSnapshot(a, { id: 'parent' });
    expect(parent.parent).toBeNull();
    a.ram[12 * SNAPSHOT_PAGE_SIZE + 7] = 2; // changed
    a.ram.fill(0, 15 * SNAPSHOT_PAGE_SIZE, 16 * SNAPSHOT_PAGE_SIZE); // page 15 zeroed
    a.ram[500 * SNAPSHOT_PAGE_SIZE] = 3; // a new page
    a.ram[17 * SNAPSHOT_PAGE_SIZE] = 9;
    a.ram[17 * SNAPSHOT_PAGE_SIZE] = 1; // written back to what it was: unchanged
    // Two words swapped inside a page must change its fingerprint.
    a.ram[18 * SNAPSHOT_PAGE_SIZE] = 5;
    const childOfChild = captureSnapshot(a, { id: 'pre-swap', parent: parent.fingerprint });
    a.ram[18 * SNAPSHOT_PAGE_SIZE] = 1;
    a.ram[18 * SNAPSHOT_PAGE_SIZE + 4] = 5;
    const swapped = captureSnapshot(a, { id: 'swap', parent: childOfChild.fingerprint });
    expect(Array.from(swapped.pages)).toEqual([18]);
    a.ram[18 * SNAPSHOT_PAGE_SIZE + 4] = 1;

    const child = captureSnapshot(a, { id: 'child', parent: parent.fingerprint });
    expect(child.parent).toBe('parent');
    expect(Array.from(child.pages)).toEqual([12, 500]);
    expect(Array.from(child.zeroed)).toEqual([15]);
    expect(child.pageData.length).toBe(2 * SNAPSHOT_PAGE_SIZE);

    const parentFile = await encodeSnapshot(parent);
    const childFile = await encodeSnapshot(child);
    expect(childFile.length).toBeLessThan(parentFile.length);
    expect(await refusal(restoreSnapshot(childFile, options, { console: { write() {} } }))).toMatch(
      /needs its parent parent, which is missing/,
    );
    const { machine: b, fingerprint } = await restoreSnapshot([parentFile, childFile], options, {
      console: { write() {} },
    });
    expect(Buffer.from(b.ram).equals(Buffer.from(a.ram))).toBe(true);
    expect(fingerprint).toEqual(child.fingerprint);
    // The restored machine's next snapshot is a child of the restored one, and empty when nothing changed.
    const grandchild = captureSnapshot(b, { parent: fingerprint });
    expect(grandchild.parent).toBe('child');
    expect(grandchild.pages.length + grandchild.zeroed.length).toBe(0);
  });

  it('merging a child into its parent gives the same RAM as the chain; a merged grandchild keeps its zeroed pages', async () => {
    const { machine: a, options } = await setup();
    a.ram.fill(1, 0, 4 * SNAPSHOT_PAGE_SIZE);
    const p = captureSnapshot(a, { id: 'p' });
    a.ram.fill(0, 1 * SNAPSHOT_PAGE_SIZE, 2 * SNAPSHOT_PAGE_SIZE);
    a.ram[6 * SNAPSHOT_PAGE_SIZE] = 6;
    a.ram[512 * SNAPSHOT_PAGE_SIZE]! ^= 1; // the kernel's first page, an image page in p
    const c = captureSnapshot(a, { id: 'c', parent: p.fingerprint });
    a.ram.fill(0, 2 * SNAPSHOT_PAGE_SIZE, 3 * SNAPSHOT_PAGE_SIZE);
    a.ram[1 * SNAPSHOT_PAGE_SIZE] = 7;
    a.ram.fill(0, 513 * SNAPSHOT_PAGE_SIZE, 514 * SNAPSHOT_PAGE_SIZE); // the kernel's second page
    const g = captureSnapshot(a, { id: 'g', parent: c.fingerprint });
    const [pc, cc, gc] = await Promise.all([p, c, g].map(async (x) => decodeSnapshotFile(await encodeSnapshot(x))));
    // Delete c: g re-based on p.
    const rebased = mergeSnapshots(cc!, gc!);
    expect(rebased.header.parent).toBe('p');
    expect(rebased.header.id).toBe('g');
    expect(Array.from(rebased.zeroed)).toEqual([2, 513]);
    const { machine: viaRebase } = await restoreSnapshot(
      [await encodeContents(pc!), await encodeContents(rebased)],
      options,
      { console: { write() {} } },
    );
    expect(Buffer.from(viaRebase.ram).equals(Buffer.from(a.ram))).toBe(true);
    // Flattened for export: one full snapshot.
    const flat = flattenChain([pc!, cc!, gc!]);
    expect(flat.header.parent).toBeNull();
    expect([...flat.pages, ...flat.imagePages].sort((x, y) => x - y)).toEqual(nonZeroPages(a.ram));
    expect(Array.from(p.imagePages)).toEqual([512, 513]);
    expect(flat.imagePages.length).toBe(0);
    expect(Array.from(flat.pages.subarray(0, 4))).toEqual([0, 1, 3, 6]);
    expect(flat.zeroed.length).toBe(0);
    const { machine: viaFlat } = await restoreSnapshot(await encodeContents(flat), options, {
      console: { write() {} },
    });
    expect(Buffer.from(viaFlat.ram).equals(Buffer.from(a.ram))).toBe(true);
    expect(() => mergeSnapshots(pc!, gc!)).toThrow(/not a child/);
    expect(() => flattenChain([cc!, gc!])).toThrow(/needs its parent p/);
  });

  it('refuses an older format version and a forged header that does not validate', async () => {
    const { machine } = await setup();
    const file = await encodeSnapshot(captureSnapshot(machine));
    const older = file.slice();
    new DataView(older.buffer).setUint32(8, 1, true);
    expect(await refusal(decodeSnapshotFile(older))).toMatch(/version 1 is from an older tabvm/);
    // Headers with a bad field and a valid checksum (another program's output): refused.
    const forge = async (change: (header: ForgedHeader) => void): Promise<Uint8Array> => {
      const headerLength = new DataView(file.buffer).getUint32(12, true);
      const header = JSON.parse(
        new TextDecoder().decode(file.subarray(SNAPSHOT_PREAMBLE_BYTES, SNAPSHOT_PREAMBLE_BYTES + headerLength)),
      );
      change(header);
      const forgedHeader = new TextEncoder().encode(JSON.stringify(header));
      const body = new Uint8Array(
        SNAPSHOT_PREAMBLE_BYTES + forgedHeader.length + (file.length - 32 - SNAPSHOT_PREAMBLE_BYTES - headerLength),
      );
      body.set(file.subarray(0, SNAPSHOT_PREAMBLE_BYTES));
      new DataView(body.buffer).setUint32(12, forgedHeader.length, true);
      body.set(forgedHeader, SNAPSHOT_PREAMBLE_BYTES);
      body.set(
        file.subarray(SNAPSHOT_PREAMBLE_BYTES + headerLength, file.length - 32),
        SNAPSHOT_PREAMBLE_BYTES + forgedHeader.length,
      );
      const forged = new Uint8Array(body.length + 32);
      forged.set(body);
      forged.set(new Uint8Array(await crypto.subtle.digest('SHA-256', body)), body.length);
      return forged;
    };
    const refused = async (change: (header: ForgedHeader) => void): Promise<string> =>
      refusal(decodeSnapshotFile(await forge(change)));
    expect(await refused((h) => (h.machine.ramSize = -1))).toMatch(/header field machine.ramSize/);
    expect(await refused((h) => (h.parent = 'someone'))).toMatch(/image pages in a child/);
    const longer = (h: ForgedHeader): void => {
      const load = h.imageLoads[0]!;
      load.length = h.images[load.image]!.size + 1;
    };
    expect(await refused(longer)).toMatch(/outside the image or RAM/);
    expect(
      await refused((h) => {
        h.imageLoads = [];
      }),
    ).toMatch(/image page \d+ is in no image/);
    expect(
      await refused((h) => {
        h.disks = [{ v: 2, size: 1 << 20, blockSize: 4096, blocks: 0, removedBlocks: 0, whole: false }];
      }),
    ).toMatch(/disk of changes in a full snapshot/);
  });
});
