// A snapshot holds the disk's overlay consistently with RAM (issue 5): the default image runs in-process
// with an ext4 disk (mke2fs) under a copy-on-write overlay; a file written and synced before the snapshot,
// then changed, reads as it was at the snapshot after a restore, even with the page cache dropped. A
// child snapshot holds only the disk blocks written since its parent (issue 4), and its chain, stored
// and re-based as the browser does (fake-indexeddb), restores the files of both.
import 'fake-indexeddb/auto';
import { createStore } from 'idb-keyval';
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { coreModule as loadCore, defaultImage } from '../scripts/lib/in-process.ts';
import { Machine } from '../workers/machine/machine.ts';
import { captureSnapshot, encodeSnapshot, restoreSnapshot, SnapshotError } from '../workers/machine/snapshot.ts';
import { MemoryDisk } from '../workers/host/block/memory-disk.ts';
import { OverlayDisk } from '../workers/host/block/overlay-disk.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';
import { SnapshotStore } from '../src/storage/snapshot-store.ts';
import { openVmDisk } from '../workers/host/block/open-disk.ts';
import { rawDiskIdentityOf } from '../workers/protocol/disk-image.ts';

const { bios, kernel, initrd, bootargs, ramSize } = defaultImage();
const coreModule = loadCore();
const PROMPT = 'root@tabvm:~# ';

/**
 * An empty 8 MiB ext4 file system in 4 KiB blocks (the overlay's). Its inode tables and journal are
 * written now, not by the kernel's lazy init after mounting, so the guest writes only what it is told to.
 */
function ext4Image(): Uint8Array {
  const dir = mkdtempSync(resolve(tmpdir(), 'tabvm-disk-snapshot-'));
  mkdirSync(resolve(dir, 'content'));
  const image = resolve(dir, 'disk.img');
  const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
  const lazyInitOff = ['-E', 'lazy_itable_init=0,lazy_journal_init=0'];
  execFileSync(
    'mke2fs',
    ['-q', '-t', 'ext4', '-b', '4096', ...lazyInitOff, '-d', resolve(dir, 'content'), '-F', image, '8M'],
    {
      env: { ...process.env, PATH },
    },
  );
  return new Uint8Array(readFileSync(image));
}

/** A machine driven from this thread, yielding to the event loop so that block requests complete. */
class Guest {
  text = '';
  readonly sink = { write: (b: number): void => void (this.text += String.fromCharCode(b)) };

  constructor(public machine: Machine) {}

  async waitFor(needle: string, from: number, timeoutMs = 120_000): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.text.indexOf(needle, from);
      if (i >= 0) return i + needle.length;
      if (performance.now() > deadline)
        throw new Error(`timed out waiting for ${needle}; got ${JSON.stringify(this.text.slice(from))}`);
      await this.step();
    }
  }

  async step(): Promise<void> {
    const status = this.machine.runSlice();
    if (status.kind === 'halted') throw new Error(`guest halted: ${JSON.stringify(status)}`);
    if (this.machine.io.pending > 0) await this.machine.io.nextCompletion();
    else if (status.kind === 'idle') await new Promise((r) => setImmediate(r));
  }

  async command(line: string): Promise<string> {
    const from = this.text.length;
    for (const byte of new TextEncoder().encode(`${line}; echo END-$((20+1))\n`)) {
      while (this.machine.receiveInput(Uint8Array.of(byte)) === 0) await this.step();
    }
    const end = await this.waitFor('END-21', from);
    await this.waitFor(PROMPT, end);
    return this.text.slice(from, end);
  }
}

describe('a snapshot of a guest with a disk', () => {
  it('restores the overlay as it was when the snapshot was taken, over that disk image only', async () => {
    const base = ext4Image();
    const identity = await rawDiskIdentityOf(base);
    /** The disk as a worker opens it: the raw image under an empty overlay, with the image's identity. */
    const open = (bytes: Uint8Array, image: string): OverlayDisk =>
      openVmDisk({ source: { kind: 'raw', bytes }, overlay: new Map(), image }, {});
    const overlay = open(base.slice(), identity);
    const guest = new Guest(undefined as unknown as Machine);
    guest.machine = new Machine(
      { ramSize, bios, kernel, initrd, bootargs, sharedMemory: true, coreModule, disks: [{ backend: overlay }] },
      { console: guest.sink },
    );
    await guest.waitFor(PROMPT, 0, 240_000);
    await guest.command('mount /dev/vda /mnt && echo before-snapshot > /mnt/f && sync');
    await guest.machine.io.quiescent();
    const snapshot = await encodeSnapshot(captureSnapshot(guest.machine));
    expect(await guest.command('echo after-snapshot > /mnt/f && sync && cat /mnt/f')).toContain('after-snapshot');

    // Another base and overlay, as a fresh worker after a reload would have them.
    const restoredOverlay = open(base.slice(), identity);
    const restored = new Guest(undefined as unknown as Machine);
    restored.machine = (
      await restoreSnapshot(
        snapshot,
        { bios, kernel, initrd, sharedMemory: true, coreModule, disks: [{ backend: restoredOverlay }] },
        { console: restored.sink },
      )
    ).machine;
    const out = await restored.command('echo 3 > /proc/sys/vm/drop_caches; cat /mnt/f');
    expect(out).toContain('before-snapshot');
    expect(out).not.toContain('after-snapshot');
    expect(restoredOverlay.blockCount).toBeGreaterThan(0);

    expect((await decodeSnapshotFile(snapshot)).disks[0]!.image).toBe(identity);
    // Over another file system of the same size (mke2fs again: another UUID, other bytes), refused.
    const rebuilt = ext4Image();
    expect(rebuilt.length).toBe(base.length);
    const rebuiltOverlay = open(rebuilt, await rawDiskIdentityOf(rebuilt));
    await expect(
      restoreSnapshot(
        snapshot,
        { bios, kernel, initrd, sharedMemory: true, coreModule, disks: [{ backend: rebuiltOverlay }] },
        { console: { write() {} } },
      ),
    ).rejects.toThrow(/snapshot disk 0 was taken on a different disk image than the one given/);
    expect(rebuiltOverlay.blockCount).toBe(0);

    // A restore needs the disks the snapshot was taken with.
    await expect(
      restoreSnapshot(snapshot, { bios, kernel, initrd, sharedMemory: true, coreModule }, { console: { write() {} } }),
    ).rejects.toThrow(SnapshotError);
  }, 600_000);

  it('a child holds only the blocks written since its parent; its chain restores both files, also re-based', async () => {
    const base = ext4Image();
    const overlay = new OverlayDisk(new MemoryDisk(base.slice(), true));
    const guest = new Guest(undefined as unknown as Machine);
    guest.machine = new Machine(
      { ramSize, bios, kernel, initrd, bootargs, sharedMemory: true, coreModule, disks: [{ backend: overlay }] },
      { console: guest.sink },
    );
    await guest.waitFor(PROMPT, 0, 240_000);
    // File A is 1 MiB of random bytes, so the parent's overlay is large; B is a line.
    const sumA = await guest.command(
      'mount /dev/vda /mnt && dd if=/dev/urandom of=/mnt/a bs=4096 count=256 2>/dev/null && sync && md5sum /mnt/a',
    );
    const md5 = /([0-9a-f]{32}) {2}\/mnt\/a/.exec(sumA)![1]!;
    await guest.machine.io.quiescent();
    const parentCapture = captureSnapshot(guest.machine, { id: 'P' });
    const parent = await encodeSnapshot(parentCapture);
    await guest.command('echo file-b > /mnt/b && sync');
    await guest.machine.io.quiescent();
    const child = await encodeSnapshot(captureSnapshot(guest.machine, { id: 'C', parent: parentCapture.fingerprint }));

    const [p, c] = await Promise.all([decodeSnapshotFile(parent), decodeSnapshotFile(child)]);
    const diskBytes = (d: (typeof p.disks)[number]): number =>
      d.data.length + 4 * (d.indices.length + d.removed.length);
    console.log(
      `disk sections: parent ${p.disks[0]!.indices.length} blocks (${diskBytes(p.disks[0]!)} bytes, file ${parent.length}), ` +
        `child ${c.disks[0]!.indices.length} blocks, ${c.disks[0]!.removed.length} removed (${diskBytes(c.disks[0]!)} bytes, file ${child.length})`,
    );
    expect(p.disks[0]!.indices.length).toBeGreaterThan(256);
    expect(c.disks[0]!.whole).toBe(false);
    // A new file: its data block, its inode's table block, directory and bitmaps, the journal's blocks.
    expect(c.disks[0]!.indices.length).toBeLessThan(64);
    expect(child.length).toBeLessThan(parent.length / 4);

    const store = new SnapshotStore(createStore('tabvm-disk-snapshot-test', 'files'));
    const record = { vmId: 'vm', name: '', createdAt: Date.now(), kind: 'manual' as const };
    await store.save({ ...record, id: 'P', parent: null }, parent);
    await store.save({ ...record, id: 'C', parent: 'P' }, child);

    /** The files the guest sees in a machine restored from `chain` over a fresh overlay, read from the disk. */
    const filesAfterRestore = async (chain: readonly Uint8Array[]): Promise<string> => {
      const restored = new Guest(undefined as unknown as Machine);
      restored.machine = (
        await restoreSnapshot(
          chain,
          {
            bios,
            kernel,
            initrd,
            sharedMemory: true,
            coreModule,
            disks: [{ backend: new OverlayDisk(new MemoryDisk(base.slice(), true)) }],
          },
          { console: restored.sink },
        )
      ).machine;
      return restored.command('echo 3 > /proc/sys/vm/drop_caches; ls /mnt; md5sum /mnt/a; cat /mnt/b');
    };
    const atParent = await filesAfterRestore(await store.readChain('P'));
    expect(atParent).toContain(md5);
    expect(atParent).not.toContain('file-b');
    const atChild = await filesAfterRestore(await store.readChain('C'));
    expect(atChild).toContain(md5);
    expect(atChild).toContain('file-b');

    await store.delete('P');
    expect((await store.record('C'))!.parent).toBeNull();
    const rebased = await store.readChain('C');
    expect(rebased).toHaveLength(1);
    const afterDelete = await filesAfterRestore(rebased);
    expect(afterDelete).toContain(md5);
    expect(afterDelete).toContain('file-b');
  }, 600_000);

  it('refuses to capture while a block request is in flight', async () => {
    const overlay = new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), true));
    const machine = new Machine(
      { ramSize, bios, kernel, initrd, bootargs, sharedMemory: true, coreModule, disks: [{ backend: overlay }] },
      { console: { write() {} } },
    );
    let release!: () => void;
    machine.io.track(new Promise<void>((r) => (release = r)));
    expect(() => captureSnapshot(machine)).toThrow(/in flight/);
    release();
    await machine.io.quiescent();
    expect(captureSnapshot(machine).disks).toEqual([
      { size: 1 << 20, blockSize: 4096, blocks: new Map(), removed: new Uint32Array(0), whole: true },
    ]);
  });
});
