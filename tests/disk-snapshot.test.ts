// A snapshot holds the disk's overlay consistently with RAM (issue 5): the default image runs in-process
// with an ext4 disk (mke2fs) under a copy-on-write overlay; a file written and synced before the snapshot,
// then changed, reads as it was at the snapshot after a restore, even with the page cache dropped.
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

const { bios, kernel, initrd, bootargs, ramSize } = defaultImage();
const coreModule = loadCore();
const PROMPT = 'root@tabvm:~# ';

function ext4Image(): Uint8Array {
  const dir = mkdtempSync(resolve(tmpdir(), 'tabvm-disk-snapshot-'));
  mkdirSync(resolve(dir, 'content'));
  const image = resolve(dir, 'disk.img');
  const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', resolve(dir, 'content'), '-F', image, '8M'], {
    env: { ...process.env, PATH },
  });
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
  it('restores the overlay as it was when the snapshot was taken', async () => {
    const base = ext4Image();
    const overlay = new OverlayDisk(new MemoryDisk(base.slice(), true));
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
    const restoredOverlay = new OverlayDisk(new MemoryDisk(base.slice(), true));
    const restored = new Guest(undefined as unknown as Machine);
    restored.machine = await restoreSnapshot(
      snapshot,
      { bios, kernel, initrd, sharedMemory: true, coreModule, disks: [{ backend: restoredOverlay }] },
      { console: restored.sink },
    );
    const out = await restored.command('echo 3 > /proc/sys/vm/drop_caches; cat /mnt/f');
    expect(out).toContain('before-snapshot');
    expect(out).not.toContain('after-snapshot');
    expect(restoredOverlay.blockCount).toBeGreaterThan(0);

    // A restore needs the disks the snapshot was taken with.
    await expect(
      restoreSnapshot(snapshot, { bios, kernel, initrd, sharedMemory: true, coreModule }, { console: { write() {} } }),
    ).rejects.toThrow(SnapshotError);
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
    expect(captureSnapshot(machine).disks).toEqual([{ size: 1 << 20, blockSize: 4096, blocks: new Map() }]);
  });
});
