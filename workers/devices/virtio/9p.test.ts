import { describe, expect, it } from 'vitest';
import { FakeDriver } from './fake-driver.ts';
import { VIRTIO_9P_MOUNT_TAG, VIRTIO_ID_9P, Virtio9p, type Virtio9pState } from './9p.ts';
import {
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_STATUS,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
} from './mmio.ts';
import { IoTracker } from '../../bus/io-tracker.ts';
import { MemoryTree } from '../../host/9p/memory-tree.ts';
import { NinePServer } from '../../host/9p/server.ts';
import { MessageReader, O_CREAT, O_RDWR, P9 } from '../../host/9p/protocol.ts';
import { ScriptedClient, type Field } from '../../host/9p/test-support/client.ts';
import { virtio9pStateSchema } from '../../protocol/snapshot-records.ts';
import { throughJson } from '../test-support.ts';
import { coreModule } from '../../cpu/test-support/machine.ts';
import { Machine } from '../../machine/machine.ts';
import { captureSnapshot, encodeSnapshot, restoreSnapshot } from '../../machine/snapshot.ts';
import { MIB, MIN_RAM_MIB } from '../../protocol/machine-limits.ts';

function setup(tag = 'shared') {
  const tree = new MemoryTree();
  const io = new IoTracker();
  const device = new Virtio9p(tag, new NinePServer(tree), io);
  const driver = new FakeDriver(device);
  driver.start(1, 128, 1n << BigInt(VIRTIO_9P_MOUNT_TAG));
  let tag16 = 1;
  let used = 0;
  /** Sends a T-message through the queue; resolves with the R-message's type and a reader past its header. */
  const send = async (type: number, fields: readonly Field[], room = 8192) => {
    const request = ScriptedClient.encode(type, tag16++, fields);
    // Split the request over two descriptors, as Linux's scatter-gather may.
    const { addresses } = driver.offer(0, [
      { read: request.subarray(0, 5) },
      { read: request.subarray(5) },
      { write: room },
    ]);
    driver.notify(0);
    await io.quiescent();
    const element = driver.used(0, used++);
    const reply = driver.bytes(addresses[2]!, element.len).slice();
    return { type: reply[4]!, len: element.len, r: new MessageReader(reply, 7) };
  };
  return { tree, io, device, driver, send };
}

describe('virtio-9p', () => {
  it('is device 9 with the mount tag in its config space', () => {
    const { driver } = setup('my share');
    expect(driver.reg(VIRTIO_MMIO_DEVICE_ID)).toBe(VIRTIO_ID_9P);
    expect(driver.deviceFeatures() & 1n).toBe(1n);
    const config = Array.from({ length: 10 }, (_, i) => driver.transport.read(VIRTIO_MMIO_CONFIG + i, 1));
    expect(config.map(Number)).toEqual([8, 0, ...new TextEncoder().encode('my share')]);
    expect(() => new Virtio9p('', new NinePServer(new MemoryTree()), new IoTracker())).toThrow(/1 to 255 bytes/);
  });

  it('carries T-messages to the server and R-messages back, over split chains', async () => {
    const { send, tree, driver } = setup();
    const version = await send(P9.Tversion, [
      ['u32', 65536],
      ['s', '9P2000.L'],
    ]);
    expect(version.type).toBe(P9.Tversion + 1);
    expect([version.r.u32(), version.r.string()]).toEqual([65536, '9P2000.L']);
    expect(
      (
        await send(P9.Tattach, [
          ['u32', 0],
          ['u32', 0xffffffff],
          ['s', ''],
          ['s', ''],
          ['u32', 0],
        ])
      ).type,
    ).toBe(105);
    await send(P9.Twalk, [
      ['u32', 0],
      ['u32', 1],
      ['u16', 0],
    ]);
    const create = await send(P9.Tlcreate, [
      ['u32', 1],
      ['s', 'f'],
      ['u32', O_RDWR | O_CREAT],
      ['u32', 0o644],
      ['u32', 0],
    ]);
    expect(create.type).toBe(P9.Tlcreate + 1);
    await send(P9.Twrite, [
      ['u32', 1],
      ['u64', 0n],
      ['u32', 3],
      ['data', new TextEncoder().encode('abc')],
    ]);
    expect(new TextDecoder().decode(await tree.read(['f'], 0, 10))).toBe('abc');
    // A read gets no more than the room the guest gave for the reply.
    const read = await send(
      P9.Tread,
      [
        ['u32', 1],
        ['u64', 0n],
        ['u32', 1000],
      ],
      13,
    );
    expect(read.len).toBe(13);
    expect(read.r.u32()).toBe(2);
    expect(driver.irq.level).toBe(true);
  });

  it('sets DEVICE_NEEDS_RESET when the guest gives no room for even an error', async () => {
    const { send, driver } = setup();
    await send(
      P9.Tversion,
      [
        ['u32', 65536],
        ['s', '9P2000.L'],
      ],
      4,
    ).catch(() => undefined);
    expect(driver.reg(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(VIRTIO_STATUS_DEVICE_NEEDS_RESET);
  });

  it('saves the server fids with its state, and a reset forgets them', async () => {
    const { send, device, io } = setup();
    await send(P9.Tversion, [
      ['u32', 65536],
      ['s', '9P2000.L'],
    ]);
    await send(P9.Tattach, [
      ['u32', 0],
      ['u32', 0xffffffff],
      ['s', ''],
      ['s', ''],
      ['u32', 0],
    ]);
    await send(P9.Twalk, [
      ['u32', 0],
      ['u32', 1],
      ['u16', 0],
    ]);
    await send(P9.Tlcreate, [
      ['u32', 1],
      ['s', 'f'],
      ['u32', O_RDWR | O_CREAT],
      ['u32', 0o644],
      ['u32', 0],
    ]);
    await io.quiescent();
    const state = throughJson(device.saveState());
    expect(virtio9pStateSchema.parse(state)).toEqual(state);
    expect(state).toEqual({
      v: 1,
      tag: 'shared',
      server: {
        v: 1,
        msize: 65536,
        fids: [
          { fid: 0, path: [], kind: 'directory', openFlags: null },
          { fid: 1, path: ['f'], kind: 'file', openFlags: O_RDWR | O_CREAT },
        ],
      },
    });
    const other = setup();
    other.device.loadState(state);
    const read = await other.send(P9.Tread, [
      ['u32', 1],
      ['u64', 0n],
      ['u32', 10],
    ]);
    // The other machine's tree has no file f: the restored fid names it, and the backend answers ENOENT.
    expect([read.type, read.r.u32()]).toEqual([P9.Rlerror, 2]);
    expect(() => other.device.loadState({ ...state, tag: 'else' })).toThrow(/share "else"/);
    expect(() => other.device.loadState({ ...state, v: 2 } as unknown as Virtio9pState)).toThrow(/version/);
    device.reset();
    expect((throughJson(device.saveState()) as Virtio9pState).server.fids).toEqual([]);
    // Names a server would refuse are refused in a snapshot record too.
    const bad = {
      ...state,
      server: { ...state.server, fids: [{ fid: 1, path: ['..'], kind: 'file', openFlags: null }] },
    };
    expect(virtio9pStateSchema.safeParse(bad).success).toBe(false);
  });

  it('refuses to save with requests in flight', async () => {
    const { device, driver, io } = setup();
    driver.offer(0, [
      {
        read: ScriptedClient.encode(P9.Tversion, 1, [
          ['u32', 65536],
          ['s', '9P2000.L'],
        ]),
      },
      { write: 100 },
    ]);
    driver.notify(0);
    expect(() => device.saveState()).toThrow(/in flight/);
    await io.quiescent();
    expect(device.saveState().v).toBe(1);
  });

  it("refuses a restore without the snapshot's shares in one sentence naming the tag", async () => {
    const bios = new Uint8Array(new Uint32Array(64).fill(0x0000006f).buffer);
    const base = { bios, sharedMemory: true, coreModule: await coreModule() };
    const share = (tag: string) => ({ tag, port: new NinePServer(new MemoryTree()) });
    const ports = { console: { write() {} } };
    const machine = new Machine(
      { ...base, ramSize: MIN_RAM_MIB * MIB, bootargs: '', shares: [share('shared'), share('data')] },
      ports,
    );
    const file = await encodeSnapshot(captureSnapshot(machine));
    await expect(restoreSnapshot(file, base, ports)).rejects.toThrow(
      /^the snapshot's VM had a shared folder tagged "shared"; start it with --share DIR,tag=shared$/,
    );
    await expect(restoreSnapshot(file, { ...base, shares: [share('shared')] }, ports)).rejects.toThrow(
      /^the snapshot's VM had a shared folder tagged "data"; start it with --share DIR,tag=data$/,
    );
    await expect(
      restoreSnapshot(file, { ...base, shares: [share('shared'), share('data'), share('more')] }, ports),
    ).rejects.toThrow(/^the snapshot's VM had no shared folder tagged "more"; start it without that --share$/);
    await expect(restoreSnapshot(file, { ...base, shares: [share('data'), share('shared')] }, ports)).rejects.toThrow(
      /^the snapshot's VM had its shared folders in the order "shared", "data"; give --share in that order$/,
    );
    const { machine: restored } = await restoreSnapshot(
      file,
      { ...base, shares: [share('shared'), share('data')] },
      ports,
    );
    expect(restored.ram.length).toBe(MIN_RAM_MIB * MIB);
  });
});
