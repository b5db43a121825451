/**
 * The network card's frames over the VM's `net` channel in both modes, with the host end and the VM end on
 * this thread: the card (under the fake driver) behind its NetPort on the VM end, a peer plugged into the
 * host end with plugNetwork. The VM end is serviced and flushed by hand, as its run loop does.
 */
import { describe, expect, it } from 'vitest';
import { FakeDriver } from '../devices/virtio/fake-driver.ts';
import {
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_HDR_BYTES,
  VIRTIO_NET_RECEIVEQ,
  VIRTIO_NET_TRANSMITQ,
  VirtioNet,
} from '../devices/virtio/net.ts';
import { parseMacAddress } from '../protocol/mac-address.ts';
import { createVmChannels, NET_FRAMES_BYTES, openVmChannels } from '../protocol/vm-channels.ts';
import { HOST_NET_BACKLOG_FRAMES, plugNetwork, type FrameReceiver } from '../protocol/net-link.ts';
import { NetPort } from './net-port.ts';

const settle = (ms = 2) => new Promise((r) => setTimeout(r, ms));

async function until(condition: () => boolean, what: string, tick?: () => void): Promise<void> {
  const deadline = performance.now() + 3000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    tick?.();
    await settle(1);
  }
}

function frame(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed * 7 + i) & 0xff);
}

function setup(mode: 'shared' | 'message') {
  const host = createVmChannels(mode, { net: true });
  const vm = openVmChannels(host.wires);
  const port = new NetPort(vm.net!);
  const device = new VirtioNet(parseMacAddress('52:54:00:00:00:01'), port);
  port.attach(device);
  const driver = new FakeDriver(device);
  driver.start(2, 256, 1n << BigInt(VIRTIO_NET_F_MRG_RXBUF));
  /** One run-loop turn: service before a slice, flush at the end. */
  const turn = () => {
    port.service();
    port.flush();
  };
  const close = () => {
    host.close();
    vm.net!.end.close();
    vm.console.end.close();
    vm.disks.end.close();
  };
  return { host, vm, port, device, driver, turn, close };
}

describe.each(['shared', 'message'] as const)('the net channel in the %s mode', (mode) => {
  it('is declared only for a VM with a network card', () => {
    const plain = createVmChannels(mode);
    expect(plain.net).toBeUndefined();
    expect(plain.wires.net).toBeUndefined();
    expect(openVmChannels(plain.wires).net).toBeUndefined();
    plain.close();
  });

  it('carries the guest frames to the peer and the peer frames into the guest buffers', async () => {
    const { driver, turn, host, close } = setup(mode);
    const fromGuest: Uint8Array[] = [];
    let toGuest: FrameReceiver | undefined;
    const plug = plugNetwork(host.net!, (link) => {
      toGuest = link.toGuest;
      return { receive: (f) => fromGuest.push(f.slice()) };
    });
    try {
      const sent = [frame(60, 1), frame(1514, 2)];
      for (const f of sent)
        driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: new Uint8Array(VIRTIO_NET_HDR_BYTES) }, { read: f }]);
      driver.notify(VIRTIO_NET_TRANSMITQ);
      turn();
      await until(() => fromGuest.length === 2, "the guest's frames");
      expect(fromGuest).toEqual(sent);
      expect(plug.sentBytes).toBe(60 + 1514);
      expect(plug.receivedBytes).toBe(0);

      const buffers = Array.from({ length: 4 }, () => driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 2048 }]));
      driver.notify(VIRTIO_NET_RECEIVEQ);
      const replies = [frame(42, 3), frame(1000, 4), frame(98, 5)];
      for (const f of replies) toGuest!.receive(f);
      await until(() => driver.usedIdx(VIRTIO_NET_RECEIVEQ) === 3, 'the frames in the guest', turn);
      replies.forEach((f, i) => {
        expect(driver.used(VIRTIO_NET_RECEIVEQ, i).len).toBe(VIRTIO_NET_HDR_BYTES + f.length);
        expect(driver.bytes(buffers[i]!.addresses[0]! + VIRTIO_NET_HDR_BYTES, f.length)).toEqual(f);
      });
      expect(plug.dropped).toBe(0);
      expect(plug.receivedBytes).toBe(42 + 1000 + 98);
      expect(plug.sentBytes).toBe(60 + 1514);
    } finally {
      plug.unplug();
      close();
    }
  });

  it('keeps back-pressure both ways: nothing is lost while the guest posts no buffers, up to the backlogs', async () => {
    const { driver, turn, host, device, close } = setup(mode);
    let toGuest: FrameReceiver | undefined;
    const plug = plugNetwork(host.net!, (link) => {
      toGuest = link.toGuest;
      return { receive() {} };
    });
    try {
      // More than the card's backlog, the ring and the host's backlog hold together: the rest is dropped.
      const ringFrames = Math.floor(NET_FRAMES_BYTES / (4 + 1514));
      const total = 64 + ringFrames + HOST_NET_BACKLOG_FRAMES + 10;
      for (let i = 0; i < total; i++) toGuest!.receive(frame(1514, i));
      for (let i = 0; i < 20; i++) {
        turn();
        await settle(2);
      }
      expect(device.backlog).toBe(64);
      expect(plug.dropped).toBeGreaterThanOrEqual(10);
      expect(device.counters.rxDropped).toBe(0);
      const dropped = plug.dropped;
      // Only the frames kept for the guest count as received.
      expect(plug.receivedBytes).toBe((total - dropped) * 1514);
      // The guest now posts buffers, and reposts each as it is used: every frame kept arrives, in order.
      const delivered = total - dropped;
      const address = new Map<number, number>();
      for (let i = 0; i < 128; i++) {
        const { head, addresses } = driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 2048 }]);
        address.set(head, addresses[0]!);
      }
      driver.notify(VIRTIO_NET_RECEIVEQ);
      const order: number[] = [];
      let seen = 0;
      await until(
        () => seen === delivered,
        'every kept frame',
        () => {
          turn();
          for (const used = driver.usedIdx(VIRTIO_NET_RECEIVEQ); seen !== used; seen = (seen + 1) & 0xffff) {
            const { id } = driver.used(VIRTIO_NET_RECEIVEQ, seen);
            order.push(driver.bytes(address.get(id)! + VIRTIO_NET_HDR_BYTES, 1)[0]!);
            driver.publish(VIRTIO_NET_RECEIVEQ, id);
          }
          driver.notify(VIRTIO_NET_RECEIVEQ);
        },
      );
      // Frame i starts with byte 7i: the first 64 + ring + backlog frames came, in the order sent.
      expect(order).toEqual(Array.from({ length: delivered }, (_, i) => (i * 7) & 0xff));
      expect(seen).toBe(delivered);
      expect(device.counters.rxFrames).toBe(delivered);
    } finally {
      plug.unplug();
      close();
    }
  });
});
