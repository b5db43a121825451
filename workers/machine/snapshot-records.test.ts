// The machine records of a snapshot (workers/protocol/snapshot-records.ts) against the machine itself:
// the sizes the schemas repeat are the machine's, every record a real machine saves passes, and each
// defect of issue 12 is refused with one sentence when the file is read, before any machine is built.
import { describe, expect, it } from 'vitest';
import * as L from '../cpu/layout.ts';
import { coreModule } from '../cpu/test-support/machine.ts';
import { PLIC_MAX_PRIORITY } from '../devices/plic.ts';
import { UART_FIFO_SIZE } from '../devices/uart16550.ts';
import { VIRTQUEUE_MAX_SIZE } from '../devices/virtio/queue.ts';
import { MemoryDisk } from '../host/block/memory-disk.ts';
import { OverlayDisk } from '../host/block/overlay-disk.ts';
import { MemoryTree } from '../host/9p/memory-tree.ts';
import { NINEP_MAX_FIDS, NinePServer } from '../host/9p/server.ts';
import { decodeSnapshotFile, SnapshotError } from '../protocol/snapshot-container.ts';
import {
  checkSnapshotMachine,
  SNAPSHOT_9P_MAX_FIDS,
  SNAPSHOT_HART_BLOCK_BYTES,
  SNAPSHOT_PLIC_MAX_PRIORITY,
  SNAPSHOT_PLIC_SOURCES,
  SNAPSHOT_RAM_BASE,
  SNAPSHOT_UART_FIFO_BYTES,
  SNAPSHOT_VIRTIO_SLOTS,
  SNAPSHOT_VIRTQUEUE_MAX_SIZE,
  snapshotDevicesSchema,
} from '../protocol/snapshot-records.ts';
import { brokenSnapshots, testSnapshotFile, testVirtioBlkSlot } from '../test-support/test-snapshot-file.ts';
import { MIN_RAM_MIB, MIB } from '../protocol/machine-limits.ts';
import { Machine } from './machine.ts';
import { MEMORY_MAP, PLIC_NUM_SOURCES, VIRTIO_MMIO_SLOTS } from './memory-map.ts';
import { captureSnapshot, encodeSnapshot, restoreSnapshot } from './snapshot.ts';

const bios = new Uint8Array(new Uint32Array(64).fill(0x0000006f).buffer);

describe('snapshot machine records', () => {
  it("repeat the machine's own sizes", () => {
    expect(SNAPSHOT_HART_BLOCK_BYTES).toBe(L.HART_STRIDE);
    expect(SNAPSHOT_RAM_BASE).toBe(MEMORY_MAP.dram.base);
    expect(SNAPSHOT_PLIC_SOURCES).toBe(PLIC_NUM_SOURCES);
    expect(SNAPSHOT_PLIC_MAX_PRIORITY).toBe(PLIC_MAX_PRIORITY);
    expect(SNAPSHOT_UART_FIFO_BYTES).toBe(UART_FIFO_SIZE);
    expect(SNAPSHOT_VIRTQUEUE_MAX_SIZE).toBe(VIRTQUEUE_MAX_SIZE);
    expect(SNAPSHOT_VIRTIO_SLOTS).toBe(VIRTIO_MMIO_SLOTS);
    expect(SNAPSHOT_9P_MAX_FIDS).toBe(NINEP_MAX_FIDS);
  });

  it('accept every record a machine with a disk and a share saves, and the test files', async () => {
    const disk = new OverlayDisk(new MemoryDisk(new Uint8Array(1 << 20), false));
    const machine = new Machine(
      {
        bios,
        ramSize: MIN_RAM_MIB * MIB,
        bootargs: '',
        sharedMemory: true,
        coreModule: await coreModule(),
        disks: [{ backend: disk }],
        shares: [{ tag: 'shared', port: new NinePServer(new MemoryTree()) }],
        net: { mac: Uint8Array.of(0x52, 0x54, 0, 1, 2, 3), link: { receive() {} } },
        agent: { write() {} },
      },
      { console: { write() {} } },
    );
    const { header } = await decodeSnapshotFile(await encodeSnapshot(captureSnapshot(machine)));
    expect(header.devices.virtio).toHaveLength(VIRTIO_MMIO_SLOTS);
    // The guest agent's port in slot 1, a console (device 3) like slot 0's, with a record of its own kind.
    expect(checkSnapshotMachine(header).virtio![1]).toMatchObject({ deviceId: 3, device: { guestOpen: false } });
    expect(checkSnapshotMachine(header).virtio!.map((slot) => slot.deviceId)).toContain(9);
    expect(checkSnapshotMachine(header).virtio!.map((slot) => slot.deviceId)).toContain(1);
    expect(checkSnapshotMachine(header)).toEqual(header.devices);
    const test = await decodeSnapshotFile(
      await testSnapshotFile({ id: 't', devices: { ...header.devices, virtio: [testVirtioBlkSlot()] } }),
    );
    expect(snapshotDevicesSchema.parse(test.header.devices).virtio![0]!.queues[0]!.ready).toBe(true);
    expect(() => checkSnapshotMachine(test.header)).not.toThrow();
  });

  it('refuse each defect with one sentence when the file is read, and the machine restore refuses it too', async () => {
    const options = { bios, sharedMemory: true, coreModule: await coreModule() };
    const cases = await brokenSnapshots({ bios: { size: bios.length, sha256: '0'.repeat(64) } });
    expect(cases).toHaveLength(7);
    for (const { defect, file, refusal } of cases) {
      // Only the machine is refused: by the records check, or, for more RAM than any VM may have, already
      // when the header is read, before its payload inflates.
      let error: unknown;
      try {
        checkSnapshotMachine((await decodeSnapshotFile(file)).header);
      } catch (e) {
        error = e;
      }
      expect(error, defect).toBeInstanceOf(SnapshotError);
      expect((error as Error).message, defect).toMatch(refusal);
      await expect(restoreSnapshot(file, options, { console: { write() {} } }), defect).rejects.toThrow(refusal);
    }
  });
});
