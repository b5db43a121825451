// The page's half of a restore alone: a chain unpacked once into one full snapshot whose machine is
// checked, a disk of another build refused in the image's name, and the buffers a transfer moves.
import { describe, expect, it } from 'vitest';
import { SnapshotError, decodeSnapshotFile } from '../../workers/protocol/snapshot-container.ts';
import { brokenSnapshots, testSnapshotDisk, testSnapshotFile } from '../../workers/test-support/test-snapshot-file.ts';
import { SNAPSHOT_TIMEBASE_HZ } from '../../workers/protocol/snapshot-records.ts';
import { TIMEBASE_FREQUENCY } from '../../workers/machine/memory-map.ts';
import { GuestClock, type GuestClockState } from '../../workers/machine/clock.ts';
import { GoldfishRtc, type GoldfishRtcState } from '../../workers/devices/goldfish-rtc.ts';
import { FakeHostTime, RecordingIrqLine, throughJson } from '../../workers/devices/test-support.ts';
import {
  checkRestoreDisk,
  contentsBuffers,
  rtcAtWallClock,
  snapshotDiskBlocks,
  unpackForRestore,
} from './snapshot-restore.ts';

const SIZE = 1 << 20;

describe('unpackForRestore', () => {
  it('flattens a chain into one full snapshot, and takes unpacked contents as they are', async () => {
    const parent = await testSnapshotFile({
      id: 'p',
      disks: [testSnapshotDisk(SIZE, 'sha256:' + '1'.repeat(64), 5, 1)],
    });
    const child = await testSnapshotFile({
      id: 'c',
      parent: 'p',
      disks: [{ ...testSnapshotDisk(SIZE, 'sha256:' + '1'.repeat(64), 6, 2), whole: false }],
    });
    const contents = await unpackForRestore([parent, child]);
    expect([contents.header.id, contents.header.parent]).toEqual(['c', null]);
    const blocks = snapshotDiskBlocks(contents);
    expect([...blocks.keys()]).toEqual([5, 6]);
    expect([blocks.get(5)![0], blocks.get(6)![0]]).toEqual([1, 2]);
    expect(await unpackForRestore(contents)).toBe(contents);
  });

  it('refuses a child without its parent, an empty chain and a machine this tabvm could not build', async () => {
    const child = await testSnapshotFile({ id: 'c', parent: 'p' });
    await expect(unpackForRestore([child])).rejects.toThrow(/needs its parent p, which is missing/);
    await expect(unpackForRestore(await decodeSnapshotFile(child))).rejects.toThrow(/needs its parent p/);
    await expect(unpackForRestore([])).rejects.toThrow(SnapshotError);
    for (const { defect, file, refusal } of await brokenSnapshots()) {
      await expect(unpackForRestore([file]), defect).rejects.toThrow(refusal);
    }
  });
});

describe('checkRestoreDisk', () => {
  it("refuses another build of the disk in the image's name; a snapshot without an identity is taken on trust", async () => {
    const built = 'sha256:' + '1'.repeat(64);
    const rebuilt = 'sha256:' + '2'.repeat(64);
    const contents = await decodeSnapshotFile(
      await testSnapshotFile({ id: 's', disks: [testSnapshotDisk(SIZE, built)] }),
    );
    expect(() => checkRestoreDisk(contents, built, 'Debian disk image')).not.toThrow();
    expect(() => checkRestoreDisk(contents, rebuilt, 'Debian disk image')).toThrow(
      /^this snapshot was taken on a different build of the Debian disk image than this VM runs on \(snapshot: sha256:111111111111…, this VM: sha256:222222222222…\)$/,
    );
    const old = await decodeSnapshotFile(await testSnapshotFile({ id: 'o', disks: [testSnapshotDisk(SIZE)] }));
    expect(() => checkRestoreDisk(old, rebuilt, 'Debian disk image')).not.toThrow();
  });
});

describe('contentsBuffers', () => {
  it('lists each buffer once, so a transfer of them is accepted', async () => {
    const contents = await decodeSnapshotFile(
      await testSnapshotFile({
        id: 's',
        pages: Uint32Array.of(3),
        pageData: new Uint8Array(4096).fill(3),
        disks: [testSnapshotDisk(SIZE)],
      }),
    );
    const buffers = contentsBuffers(contents);
    expect(new Set(buffers).size).toBe(buffers.length);
    const { port1, port2 } = new MessageChannel();
    port1.postMessage(contents, buffers);
    expect(contents.pageData.byteLength).toBe(0);
    port1.close();
    port2.close();
  });
});

describe('rtcAtWallClock', () => {
  it('makes the restored RTC read the given wall-clock time while guest time continues from the capture', async () => {
    const contents = await decodeSnapshotFile(await testSnapshotFile({ id: 'day-old' }));
    // Taken 90 s after power-on, on a day before the restore.
    const taken: typeof contents = {
      ...contents,
      header: { ...contents.header, devices: { ...contents.header.devices, clock: { v: 1, ticks: '900000000' } } },
    };
    const now = Date.UTC(2026, 11, 7, 6, 30, 0, 123);
    const moved = rtcAtWallClock(taken, now);
    expect(moved.header.devices.clock).toEqual(taken.header.devices.clock);

    const host = new FakeHostTime();
    const clock = new GuestClock(host.now);
    const rtc = new GoldfishRtc({ clock, irq: new RecordingIrqLine(), wallClockMs: 0 });
    clock.loadState(throughJson(moved.header.devices.clock as GuestClockState));
    rtc.loadState(throughJson(moved.header.devices.rtc as GoldfishRtcState));
    expect(clock.ticks()).toBe(900_000_000n);
    expect(rtc.nowNs()).toBe(BigInt(now) * 1_000_000n);
    // Without it, the RTC continues from the capture's date.
    rtc.loadState(throughJson(taken.header.devices.rtc as GoldfishRtcState));
    expect(rtc.nowNs()).not.toBe(BigInt(now) * 1_000_000n);
  });

  it("counts the clock record's ticks at the machine's timebase", () => {
    expect(SNAPSHOT_TIMEBASE_HZ).toBe(TIMEBASE_FREQUENCY);
  });
});
