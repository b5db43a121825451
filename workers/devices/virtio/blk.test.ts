import { describe, expect, it } from 'vitest';
import { FakeDriver, type FakeBuffer } from './fake-driver.ts';
import {
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_S_IOERR,
  VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VirtioBlk,
} from './blk.ts';
import { VIRTIO_F_INDIRECT_DESC, VIRTIO_MMIO_CONFIG } from './mmio.ts';
import { IoTracker } from '../../bus/io-tracker.ts';
import { MemoryDisk } from '../../host/block/memory-disk.ts';
import { BlockIoError, type BlockBackend } from '../../host/block/backend.ts';
import { throughJson } from '../test-support.ts';

const SECTOR = 512;

function header(type: number, sector: number): Uint8Array {
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  view.setBigUint64(8, BigInt(sector), true);
  return bytes;
}

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}

function setup(options: { backend?: BlockBackend; readOnly?: boolean; indirect?: boolean } = {}) {
  const disk = new MemoryDisk(pattern(64 * SECTOR, 1), false, 'tabvm-test-disk');
  const backend = options.backend ?? disk;
  const io = new IoTracker();
  const device = new VirtioBlk(backend, io, options.readOnly);
  const driver = new FakeDriver(device);
  driver.start(1, 256, options.indirect ? 1n << BigInt(VIRTIO_F_INDIRECT_DESC) : 0n);
  /** Submits a request; resolves with its status byte, used length and buffer addresses once it completes. */
  const request = async (buffers: FakeBuffer[], indirect = false) => {
    const before = driver.usedIdx(0);
    const { head, addresses } = driver.offer(0, buffers, { indirect });
    driver.notify(0);
    await io.quiescent();
    expect(driver.usedIdx(0)).toBe((before + 1) & 0xffff);
    const used = driver.used(0, before);
    expect(used.id).toBe(head);
    const last = buffers.length - 1;
    const statusLength = (buffers[last] as { write: number }).write;
    const status = driver.bytes(addresses[last]!, statusLength)[statusLength - 1];
    return { status, len: used.len, addresses };
  };
  return { disk, io, device, driver, request };
}

describe('virtio-blk', () => {
  it('describes the disk in its config space and features', () => {
    const { driver } = setup();
    expect(driver.transport.read(VIRTIO_MMIO_CONFIG, 4)).toBe(64n); // capacity in sectors, low half
    expect(driver.transport.read(VIRTIO_MMIO_CONFIG + 4, 4)).toBe(0n);
    expect(driver.transport.read(VIRTIO_MMIO_CONFIG + 20, 4)).toBe(512n); // blk_size
    expect(driver.deviceFeatures() & (1n << BigInt(VIRTIO_BLK_F_FLUSH))).not.toBe(0n);
    expect(driver.deviceFeatures() & (1n << BigInt(VIRTIO_BLK_F_RO))).toBe(0n);
  });

  it('reads sectors into several buffers (multi-segment), status last', async () => {
    const { disk, request, driver } = setup();
    const r = await request([{ read: header(VIRTIO_BLK_T_IN, 3) }, { write: SECTOR }, { write: 1024 }, { write: 1 }]);
    expect(r.status).toBe(VIRTIO_BLK_S_OK);
    expect(r.len).toBe(3 * SECTOR + 1);
    expect(driver.bytes(r.addresses[1]!, SECTOR)).toEqual(disk.bytes.subarray(3 * SECTOR, 4 * SECTOR));
    expect(driver.bytes(r.addresses[2]!, 1024)).toEqual(disk.bytes.subarray(4 * SECTOR, 6 * SECTOR));
  });

  it('accepts any framing: header, data and status in one buffer each way, through an indirect table', async () => {
    const { disk, request, driver } = setup({ indirect: true });
    const data = pattern(2 * SECTOR, 9);
    const out = new Uint8Array(16 + data.length);
    out.set(header(VIRTIO_BLK_T_OUT, 10));
    out.set(data, 16);
    expect((await request([{ read: out }, { write: 1 }], true)).status).toBe(VIRTIO_BLK_S_OK);
    expect(disk.bytes.subarray(10 * SECTOR, 12 * SECTOR)).toEqual(data);
    const r = await request([{ read: header(VIRTIO_BLK_T_IN, 10) }, { write: 2 * SECTOR + 1 }], true);
    expect(r.status).toBe(VIRTIO_BLK_S_OK);
    expect(driver.bytes(r.addresses[1]!, 2 * SECTOR)).toEqual(data);
  });

  it('writes sectors from several buffers', async () => {
    const { disk, request } = setup();
    const a = pattern(SECTOR, 3);
    const b = pattern(SECTOR, 4);
    const r = await request([{ read: header(VIRTIO_BLK_T_OUT, 60) }, { read: a }, { read: b }, { write: 1 }]);
    expect(r.status).toBe(VIRTIO_BLK_S_OK);
    expect(disk.bytes.subarray(60 * SECTOR, 61 * SECTOR)).toEqual(a);
    expect(disk.bytes.subarray(61 * SECTOR, 62 * SECTOR)).toEqual(b);
  });

  it('flushes through the backend', async () => {
    let flushes = 0;
    const disk = new MemoryDisk(new Uint8Array(8 * SECTOR));
    const backend: BlockBackend = Object.assign(Object.create(disk) as MemoryDisk, {
      flush: async () => {
        flushes++;
      },
    });
    const { request } = setup({ backend });
    expect((await request([{ read: header(VIRTIO_BLK_T_FLUSH, 0) }, { write: 1 }])).status).toBe(VIRTIO_BLK_S_OK);
    expect(flushes).toBe(1);
  });

  it('returns the device ID, NUL-padded to 20 bytes', async () => {
    const { request, driver } = setup();
    const r = await request([{ read: header(VIRTIO_BLK_T_GET_ID, 0) }, { write: 20 }, { write: 1 }]);
    expect(r.status).toBe(VIRTIO_BLK_S_OK);
    const id = driver.bytes(r.addresses[1]!, 20);
    expect(new TextDecoder().decode(id.subarray(0, 15))).toBe('tabvm-test-disk');
    expect([...id.subarray(15)]).toEqual([0, 0, 0, 0, 0]);
  });

  it('a read-only disk offers VIRTIO_BLK_F_RO and fails writes with IOERR, writing nothing', async () => {
    const { disk, request, driver } = setup({ readOnly: true });
    expect(driver.deviceFeatures() & (1n << BigInt(VIRTIO_BLK_F_RO))).not.toBe(0n);
    const before = disk.bytes.slice();
    const r = await request([{ read: header(VIRTIO_BLK_T_OUT, 0) }, { read: pattern(SECTOR, 5) }, { write: 1 }]);
    expect(r.status).toBe(VIRTIO_BLK_S_IOERR);
    expect(disk.bytes).toEqual(before);
    expect((await request([{ read: header(VIRTIO_BLK_T_IN, 0) }, { write: SECTOR + 1 }])).status).toBe(VIRTIO_BLK_S_OK);
  });

  it('fails a request past the end of the disk, or of a partial sector, with IOERR', async () => {
    const { request } = setup();
    expect((await request([{ read: header(VIRTIO_BLK_T_IN, 63) }, { write: 2 * SECTOR + 1 }])).status).toBe(
      VIRTIO_BLK_S_IOERR,
    );
    expect((await request([{ read: header(VIRTIO_BLK_T_IN, 2 ** 60) }, { write: SECTOR + 1 }])).status).toBe(
      VIRTIO_BLK_S_IOERR,
    );
    expect((await request([{ read: header(VIRTIO_BLK_T_IN, 0) }, { write: 100 + 1 }])).status).toBe(VIRTIO_BLK_S_IOERR);
    expect((await request([{ read: header(VIRTIO_BLK_T_IN, 0) }, { write: SECTOR + 1 }])).status).toBe(VIRTIO_BLK_S_OK);
  });

  it('answers an unknown request type with UNSUPP', async () => {
    const { request } = setup();
    expect((await request([{ read: header(11, 0) }, { write: 1 }])).status).toBe(VIRTIO_BLK_S_UNSUPP);
  });

  it('turns a backend failure into IOERR and carries on', async () => {
    const disk = new MemoryDisk(new Uint8Array(8 * SECTOR));
    let fail = true;
    const backend: BlockBackend = Object.assign(Object.create(disk) as MemoryDisk, {
      read: async (offset: number, into: Uint8Array) => {
        if (fail) throw new BlockIoError('chunk 0 failed its checksum');
        return disk.read(offset, into);
      },
    });
    const { request, driver } = setup({ backend });
    expect((await request([{ read: header(VIRTIO_BLK_T_IN, 0) }, { write: SECTOR + 1 }])).status).toBe(
      VIRTIO_BLK_S_IOERR,
    );
    expect(driver.logged.join('\n')).toMatch(/chunk 0 failed its checksum/);
    fail = false;
    expect((await request([{ read: header(VIRTIO_BLK_T_IN, 0) }, { write: SECTOR + 1 }])).status).toBe(VIRTIO_BLK_S_OK);
  });

  it('completes asynchronously: in flight until the backend answers; state is refused meanwhile', async () => {
    const disk = new MemoryDisk(new Uint8Array(8 * SECTOR));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const backend: BlockBackend = Object.assign(Object.create(disk) as MemoryDisk, {
      read: async (offset: number, into: Uint8Array) => {
        await gate;
        return disk.read(offset, into);
      },
    });
    const { driver, device, io } = setup({ backend });
    driver.offer(0, [{ read: header(VIRTIO_BLK_T_IN, 0) }, { write: SECTOR + 1 }]);
    driver.notify(0);
    expect(io.pending).toBe(1);
    expect(device.inFlight).toBe(1);
    expect(driver.usedIdx(0)).toBe(0);
    expect(() => device.saveState()).toThrow(/in flight/);
    release();
    await io.quiescent();
    expect(driver.usedIdx(0)).toBe(1);
    expect(driver.irq.level).toBe(true);
    expect(throughJson(device.saveState())).toEqual({ v: 1, capacity: '8', readOnly: false });
  });

  it('drops a completion that arrives after the driver reset the device', async () => {
    const disk = new MemoryDisk(new Uint8Array(8 * SECTOR));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const backend: BlockBackend = Object.assign(Object.create(disk) as MemoryDisk, {
      read: async (offset: number, into: Uint8Array) => {
        await gate;
        return disk.read(offset, into);
      },
    });
    const { driver, io } = setup({ backend });
    const { addresses } = driver.offer(0, [{ read: header(VIRTIO_BLK_T_IN, 0) }, { write: SECTOR + 1 }]);
    driver.notify(0);
    driver.start(1, 256);
    driver.bytes(addresses[1]!, SECTOR + 1).fill(0xaa);
    release();
    await io.quiescent();
    expect(driver.usedIdx(0)).toBe(0);
    expect([...new Set(driver.bytes(addresses[1]!, SECTOR + 1))]).toEqual([0xaa]);
  });

  it('refuses the state of a disk of another size', () => {
    const { device } = setup();
    expect(() => device.loadState({ v: 1, capacity: '65', readOnly: false })).toThrow(/65 sectors/);
    device.loadState({ v: 1, capacity: '64', readOnly: false });
  });
});
