/**
 * The channel kinds in both modes, with the host end and the VM end on this thread: the shared mode over
 * SharedArrayBuffer rings, the message mode over a real MessageChannel. The VM end flushes only when told
 * (its run loop does so at the end of each turn), as in the worker.
 */
import { describe, expect, it } from 'vitest';
import { Doorbell } from './ring.ts';
import {
  ByteStream,
  FrameStream,
  RemoteRequestError,
  RequestChannel,
  createChannel,
  echoFrames,
  openChannel,
  vmDoorbell,
  type ChannelKind,
  type ChannelMode,
} from './channels.ts';

function pair(mode: ChannelMode, kind: ChannelKind, toVmBytes = 64, fromVmBytes = 64) {
  const doorbell = vmDoorbell(mode === 'shared' ? (new Doorbell().buffer as SharedArrayBuffer) : undefined);
  const { host, wire } = createChannel(mode, { kind, toVmBytes, fromVmBytes }, doorbell);
  const vm = openChannel(wire, doorbell);
  return { host, vm, doorbell };
}

/** Lets messages (and Atomics.waitAsync wake-ups) through. */
const settle = (ms = 5) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await settle(1);
  }
}

describe.each(['shared', 'message'] as const)('channels in the %s mode', (mode) => {
  it('bytes: host to VM rings the doorbell; VM to host arrives after the VM flushes', async () => {
    const { host, vm, doorbell } = pair(mode, 'bytes');
    const hostStream = new ByteStream(host);
    const vmStream = new ByteStream(vm);
    const received: number[] = [];
    const stop = hostStream.listen((bytes) => received.push(...bytes));

    const rung = doorbell.value();
    expect(hostStream.write(Uint8Array.of(1, 2, 3))).toBe(3);
    await until(() => doorbell.value() !== rung, 'the doorbell');
    expect([...vmStream.read()]).toEqual([1, 2, 3]);

    expect(vmStream.write(Uint8Array.of(7, 8))).toBe(2);
    if (mode === 'message') {
      await settle(20);
      expect(received).toEqual([]); // batched until the turn ends
    }
    vm.flush();
    await until(() => received.length === 2, 'the VM output');
    expect(received).toEqual([7, 8]);
    stop();
    host.close();
    vm.close();
  });

  it('bytes: a full VM ring takes no more, in either mode, until the VM reads', async () => {
    const { host, vm } = pair(mode, 'bytes', 16, 16);
    const hostStream = new ByteStream(host);
    const vmStream = new ByteStream(vm);
    const data = Uint8Array.from({ length: 40 }, (_, i) => i);
    expect(hostStream.write(data)).toBe(16);
    expect(hostStream.write(data.subarray(16))).toBe(0);
    await until(() => vm.rx.available() === 16, 'the first 16 bytes');
    expect([...vmStream.read()]).toEqual([...data.subarray(0, 16)]);
    vm.flush(); // returns the credit (message mode)
    await until(() => hostStream.write(data.subarray(16, 24)) === 8, 'room again');
    await until(() => vm.rx.available() === 8, 'the next 8 bytes');
    expect([...vmStream.read()]).toEqual([...data.subarray(16, 24)]);
    host.close();
    vm.close();
  });

  it('frames: the loopback far end echoes whole frames in order, more than the ring holds at once', async () => {
    const { host, vm } = pair(mode, 'frames', 64, 64);
    const stop = echoFrames(new FrameStream(host));
    const vmFrames = new FrameStream(vm);
    const sent = Array.from({ length: 20 }, (_, i) => Uint8Array.from({ length: 1 + ((i * 7) % 30) }, (_, j) => i + j));
    const echoed: Uint8Array[] = [];
    let next = 0;
    const deadline = performance.now() + 3000;
    while (echoed.length < sent.length) {
      if (performance.now() > deadline) throw new Error(`only ${echoed.length} frames came back`);
      while (next < sent.length && vmFrames.send(sent[next]!)) next++;
      vm.flush();
      for (let frame = vmFrames.receive(); frame; frame = vmFrames.receive()) echoed.push(frame);
      vm.flush();
      await settle(1);
    }
    expect(echoed).toEqual(sent);
    expect(() => vmFrames.send(new Uint8Array(61))).toThrow(RangeError);
    stop();
    host.close();
    vm.close();
  });

  it('requests: a page-side server answers the VM, out of order, and its errors reach the VM', async () => {
    const { host, vm } = pair(mode, 'requests', 256, 256);
    const server = new RequestChannel(host);
    let releaseSlow!: () => void;
    const slow = new Promise<void>((r) => (releaseSlow = r));
    server.serve(async (payload) => {
      if (payload[0] === 0xff) throw new Error('no such file');
      if (payload[0] === 1) await slow;
      return payload.map((b) => b * 2);
    });
    const stop = server.listen();
    const device = new RequestChannel(vm);
    const first = device.request(Uint8Array.of(1, 10));
    const second = device.request(Uint8Array.of(2, 20));
    const failing = device.request(Uint8Array.of(0xff));
    const order: string[] = [];
    void first.then(() => order.push('first'));
    void second.then(() => order.push('second'));
    const service = setInterval(() => {
      device.service(); // the run loop's port does this every slice
      vm.flush();
    }, 1);
    try {
      expect([...(await second)]).toEqual([4, 40]);
      await expect(failing).rejects.toEqual(new RemoteRequestError('no such file'));
      releaseSlow();
      expect([...(await first)]).toEqual([2, 20]);
      expect(order).toEqual(['second', 'first']);
      expect(device.pending).toBe(0);
      await expect(device.request(new Uint8Array(300))).rejects.toThrow(RangeError);
    } finally {
      clearInterval(service);
      stop();
      host.close();
      vm.close();
    }
  });

  it('requests: the VM end serves the host (migration pulls state from the worker)', async () => {
    const { host, vm } = pair(mode, 'requests', 256, 256);
    const device = new RequestChannel(vm);
    device.serve((payload) => Uint8Array.of(payload.length));
    const page = new RequestChannel(host);
    const stop = page.listen();
    const reply = page.request(new Uint8Array(9));
    const service = setInterval(() => {
      device.service();
      vm.flush();
    }, 1);
    try {
      expect([...(await reply)]).toEqual([9]);
    } finally {
      clearInterval(service);
      stop();
      host.close();
      vm.close();
    }
  });

  it('a channel of one kind cannot be used as another', () => {
    const { host, vm } = pair(mode, 'bytes');
    expect(() => new FrameStream(host)).toThrow(/bytes channel used as frames/);
    host.close();
    vm.close();
  });
});
