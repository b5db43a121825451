import { describe, expect, it } from 'vitest';
import { FakeDriver } from './fake-driver.ts';
import {
  MIN_FRAME_BYTES,
  VIRTIO_ID_NET,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_HDR_BYTES,
  VIRTIO_NET_RECEIVEQ,
  VIRTIO_NET_RX_BACKLOG,
  VIRTIO_NET_TRANSMITQ,
  VirtioNet,
  type NetLink,
} from './net.ts';
import {
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_CONFIG_GENERATION,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_INT_CONFIG,
  VIRTIO_MMIO_INT_VRING,
  VIRTIO_MMIO_STATUS,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
} from './mmio.ts';
import { BROADCAST_MAC, buildUdp, ipv4 } from '../../host/net/frames.ts';
import { MAX_FRAME_BYTES } from '../../host/net/link.ts';
import { GATEWAY_MAC } from '../../host/net/user-network.ts';
import { parseMacAddress } from '../../protocol/mac-address.ts';
import { virtioNetStateSchema } from '../../protocol/snapshot-records.ts';
import { throughJson } from '../test-support.ts';

const MAC = '52:54:00:12:34:56';
const MRG = 1n << BigInt(VIRTIO_NET_F_MRG_RXBUF);

/** A link that records what the device transmits, and can say it is full. */
class RecordingLink implements NetLink {
  readonly frames: Uint8Array[] = [];
  full = false;
  receive(frame: Uint8Array): void {
    this.frames.push(frame.slice());
  }
  ready(): boolean {
    return !this.full;
  }
}

function setup(features = 0n) {
  const link = new RecordingLink();
  const device = new VirtioNet(parseMacAddress(MAC), link);
  const driver = new FakeDriver(device);
  driver.start(2, 256, features);
  return { link, device, driver };
}

/** An Ethernet frame of `length` bytes whose bytes count up from `seed`. */
function frame(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (seed + i) & 0xff);
}

/** The 12-byte header a driver puts before a transmitted frame: all zero (no offloads). */
const txHeader = () => new Uint8Array(VIRTIO_NET_HDR_BYTES);

function numBuffers(driver: FakeDriver, address: number): number {
  const header = driver.bytes(address, VIRTIO_NET_HDR_BYTES);
  return header[10]! | (header[11]! << 8);
}

describe('virtio-net', () => {
  it('is device 1 with MAC, STATUS and MRG_RXBUF, its address and link up in the config space', () => {
    const { driver } = setup();
    expect(driver.reg(VIRTIO_MMIO_DEVICE_ID)).toBe(VIRTIO_ID_NET);
    const features = driver.deviceFeatures();
    for (const bit of [VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MRG_RXBUF])
      expect((features >> BigInt(bit)) & 1n).toBe(1n);
    // No checksum (0) or segmentation (7, 11) offload is offered.
    expect(features & 0xfffn & ~(1n << BigInt(VIRTIO_NET_F_MAC))).toBe(0n);
    const config = Array.from({ length: 8 }, (_, i) => Number(driver.transport.read(VIRTIO_MMIO_CONFIG + i, 1)));
    expect(config).toEqual([0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 1, 0]);
    expect(Number(driver.transport.read(VIRTIO_MMIO_CONFIG + 6, 2))).toBe(1);
  });

  it('transmits the frame after the header, over split buffers, and returns each chain unwritten', () => {
    const { link, driver, device } = setup();
    const a = frame(60, 1);
    const b = frame(MAX_FRAME_BYTES, 7);
    const first = driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: a }]);
    // Header and frame in one buffer, as Linux's any_header_sg sends them.
    const second = driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: Uint8Array.of(...txHeader(), ...b) }]);
    driver.notify(VIRTIO_NET_TRANSMITQ);
    expect(link.frames).toEqual([a, b]);
    expect(driver.used(VIRTIO_NET_TRANSMITQ, 0)).toEqual({ id: first.head, len: 0 });
    expect(driver.used(VIRTIO_NET_TRANSMITQ, 1)).toEqual({ id: second.head, len: 0 });
    expect(device.counters).toMatchObject({ txFrames: 2, txDropped: 0 });
    expect(driver.irq.level).toBe(true);
  });

  it('drops short and oversized transmitted frames and offloads it did not offer, and goes on', () => {
    const { link, driver, device } = setup();
    const gso = txHeader();
    gso[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: frame(MIN_FRAME_BYTES - 1) }]);
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: frame(MAX_FRAME_BYTES + 1) }]);
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: Uint8Array.of(1, 2, 3) }]);
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: gso }, { read: frame(100) }]);
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: frame(MIN_FRAME_BYTES, 3) }]);
    driver.notify(VIRTIO_NET_TRANSMITQ);
    expect(link.frames).toEqual([frame(MIN_FRAME_BYTES, 3)]);
    expect(device.counters).toMatchObject({ txFrames: 1, txDropped: 4 });
    expect(driver.usedIdx(VIRTIO_NET_TRANSMITQ)).toBe(5);
    expect(driver.reg(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBe(0);
    expect(driver.logged.some((line) => /gso_type 1/.test(line))).toBe(true);
  });

  it('holds transmit buffers in the ring while the link is full, and sends them when it has room', () => {
    const { link, driver, device } = setup();
    link.full = true;
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: frame(64, 1) }]);
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: frame(64, 2) }]);
    driver.notify(VIRTIO_NET_TRANSMITQ);
    expect(link.frames).toEqual([]);
    expect(driver.usedIdx(VIRTIO_NET_TRANSMITQ)).toBe(0);
    expect(device.transmitStalled).toBe(true);
    link.full = false;
    device.resumeTransmit();
    expect(link.frames).toEqual([frame(64, 1), frame(64, 2)]);
    expect(driver.usedIdx(VIRTIO_NET_TRANSMITQ)).toBe(2);
    expect(device.transmitStalled).toBe(false);
  });

  it('receives into one buffer without mergeable buffers: header with num_buffers 1, then the frame', () => {
    const { driver, device } = setup();
    const { head, addresses } = driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: VIRTIO_NET_HDR_BYTES + 1514 }]);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    driver.acknowledge();
    const f = frame(98, 5);
    device.receive(f);
    expect(driver.used(VIRTIO_NET_RECEIVEQ, 0)).toEqual({ id: head, len: VIRTIO_NET_HDR_BYTES + 98 });
    const header = [...driver.bytes(addresses[0]!, VIRTIO_NET_HDR_BYTES)];
    expect(header).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(driver.bytes(addresses[0]! + VIRTIO_NET_HDR_BYTES, 98)).toEqual(f);
    expect(driver.acknowledge() & VIRTIO_MMIO_INT_VRING).toBe(VIRTIO_MMIO_INT_VRING);
    expect(device.counters.rxFrames).toBe(1);
  });

  it('without mergeable buffers drops a frame its one buffer cannot hold and keeps the buffer', () => {
    const { driver, device } = setup();
    const { head, addresses } = driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 200 }]);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    device.receive(frame(500));
    expect(driver.usedIdx(VIRTIO_NET_RECEIVEQ)).toBe(0);
    expect(device.counters.rxDropped).toBe(1);
    device.receive(frame(100, 9));
    expect(driver.used(VIRTIO_NET_RECEIVEQ, 0)).toEqual({ id: head, len: 112 });
    expect(driver.bytes(addresses[0]! + VIRTIO_NET_HDR_BYTES, 100)).toEqual(frame(100, 9));
  });

  it('spreads a frame larger than one buffer over mergeable buffers, published together', () => {
    const { driver, device } = setup(MRG);
    const buffers = [0, 1, 2].map(() => driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 512 }]));
    driver.notify(VIRTIO_NET_RECEIVEQ);
    const f = frame(1000, 3);
    device.receive(f);
    expect(driver.usedIdx(VIRTIO_NET_RECEIVEQ)).toBe(2);
    expect(driver.used(VIRTIO_NET_RECEIVEQ, 0)).toEqual({ id: buffers[0]!.head, len: 512 });
    expect(driver.used(VIRTIO_NET_RECEIVEQ, 1)).toEqual({ id: buffers[1]!.head, len: 500 });
    const first = buffers[0]!.addresses[0]!;
    expect(numBuffers(driver, first)).toBe(2);
    const got = Uint8Array.of(
      ...driver.bytes(first + VIRTIO_NET_HDR_BYTES, 500),
      ...driver.bytes(buffers[1]!.addresses[0]!, 500),
    );
    expect(got).toEqual(f);
    // The third buffer takes the next frame whole.
    device.receive(frame(60, 8));
    expect(driver.used(VIRTIO_NET_RECEIVEQ, 2)).toEqual({ id: buffers[2]!.head, len: 72 });
    expect(numBuffers(driver, buffers[2]!.addresses[0]!)).toBe(1);
  });

  it('keeps frames in a bounded backlog while the guest posts no buffers, and delivers them in order', () => {
    const { driver, device } = setup(MRG);
    const frames = Array.from({ length: VIRTIO_NET_RX_BACKLOG + 3 }, (_, i) => frame(60 + i, i));
    for (const f of frames) device.receive(f);
    expect(device.backlog).toBe(VIRTIO_NET_RX_BACKLOG);
    expect(device.acceptsFrame).toBe(false);
    expect(device.counters.rxDropped).toBe(3);
    // One buffer too few for a 1000-byte frame is given back; the frame waits for the next.
    const { addresses } = driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 4096 }]);
    const posted = [addresses[0]!];
    for (let i = 1; i < 8; i++) posted.push(driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 4096 }]).addresses[0]!);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    expect(driver.usedIdx(VIRTIO_NET_RECEIVEQ)).toBe(8);
    expect(device.backlog).toBe(VIRTIO_NET_RX_BACKLOG - 8);
    posted.forEach((address, i) => expect(driver.bytes(address + VIRTIO_NET_HDR_BYTES, 60 + i)).toEqual(frames[i]));
  });

  it('gives back buffers that cannot hold a whole frame yet, and fills them once the guest adds more', () => {
    const { driver, device } = setup(MRG);
    const a = driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 512 }]);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    device.receive(frame(1000));
    expect(driver.usedIdx(VIRTIO_NET_RECEIVEQ)).toBe(0);
    expect(device.backlog).toBe(1);
    const b = driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 1024 }]);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    expect(driver.usedIdx(VIRTIO_NET_RECEIVEQ)).toBe(2);
    expect(driver.used(VIRTIO_NET_RECEIVEQ, 0)).toEqual({ id: a.head, len: 512 });
    expect(driver.used(VIRTIO_NET_RECEIVEQ, 1)).toEqual({ id: b.head, len: 500 });
    expect(numBuffers(driver, a.addresses[0]!)).toBe(2);
  });

  it('drops frames from the link that are too short or long, or arrive before the driver is up', () => {
    const link = new RecordingLink();
    const device = new VirtioNet(parseMacAddress(MAC), link);
    const driver = new FakeDriver(device);
    device.receive(frame(60)); // no driver yet
    driver.start(2, 256, MRG);
    device.receive(frame(MIN_FRAME_BYTES - 1));
    device.receive(frame(MAX_FRAME_BYTES + 1));
    expect(device.backlog).toBe(0);
    expect(device.counters.rxDropped).toBe(3);
  });

  it('a receive buffer smaller than the header is a guest error: DEVICE_NEEDS_RESET, not a throw', () => {
    const { driver, device } = setup(MRG);
    driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 4 }]);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    expect(() => device.receive(frame(60))).not.toThrow();
    expect(driver.reg(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET).not.toBe(0);
  });

  it('reports a link change with a config-change interrupt, and drops frames while the link is down', () => {
    const { driver, device } = setup(MRG);
    driver.acknowledge();
    device.setLinkUp(false);
    expect(Number(driver.transport.read(VIRTIO_MMIO_CONFIG + 6, 2))).toBe(0);
    expect(driver.reg(VIRTIO_MMIO_CONFIG_GENERATION)).toBe(1);
    expect(driver.acknowledge()).toBe(VIRTIO_MMIO_INT_CONFIG);
    driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 2048 }]);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    device.receive(frame(60));
    expect(driver.usedIdx(VIRTIO_NET_RECEIVEQ)).toBe(0);
    device.setLinkUp(true);
    expect(driver.acknowledge()).toBe(VIRTIO_MMIO_INT_CONFIG);
    device.receive(frame(60));
    expect(driver.usedIdx(VIRTIO_NET_RECEIVEQ)).toBe(1);
  });

  it('saves its address; a restored device takes the saved one and its schema refuses a bad one', () => {
    const { device } = setup();
    const state = throughJson(device.saveState());
    expect(state).toEqual({ v: 2, mac: MAC, linkUp: true, address: null });
    expect(virtioNetStateSchema.parse(state)).toEqual(state);
    const other = new VirtioNet(parseMacAddress('02:00:00:00:00:01'), new RecordingLink());
    other.loadState(state);
    expect(other.mac).toBe(MAC);
    expect(virtioNetStateSchema.safeParse({ ...state, mac: '52:54:00:12:34' }).success).toBe(false);
    expect(virtioNetStateSchema.safeParse({ ...state, mac: '01:00:5e:00:00:01' }).success).toBe(false);
    expect(virtioNetStateSchema.safeParse({ ...state, address: '10.0.2.256' }).success).toBe(false);
    expect(virtioNetStateSchema.safeParse({ ...state, address: '10.0.02.15' }).success).toBe(false);
    expect(virtioNetStateSchema.safeParse({ ...state, v: 3 }).error?.issues[0]?.message).toBe(
      'unknown state version 3',
    );
    expect(() => other.loadState({ v: 3 })).toThrow(/unknown state version 3/);
    // A record from before the address was saved (version 1) still restores, with none.
    const old = { v: 1, mac: MAC, linkUp: true };
    expect(virtioNetStateSchema.parse(old)).toEqual(old);
    other.loadState(old);
    expect(other.saveState()).toEqual({ v: 2, mac: MAC, linkUp: true, address: null });
  });

  it('saves the IPv4 address the guest uses: from a DHCPACK to it, then from what it sends', () => {
    const { device, driver } = setup(MRG);
    driver.acknowledge();
    for (let i = 0; i < 4; i++) driver.offer(VIRTIO_NET_RECEIVEQ, [{ write: 2048 }]);
    driver.notify(VIRTIO_NET_RECEIVEQ);
    const dhcp = (type: number, mac: Uint8Array, yiaddr: number[]) => {
      const bootp = new Uint8Array(300);
      bootp[0] = 2; // BOOTREPLY
      bootp.set(yiaddr, 16);
      bootp.set(mac, 28);
      bootp.set([0x63, 0x82, 0x53, 0x63, 53, 1, type, 255], 236);
      return buildUdp(mac, GATEWAY_MAC, ipv4('10.0.2.2'), 67, 0xffffffff, 68, bootp);
    };
    device.receive(dhcp(2, parseMacAddress(MAC), [10, 0, 2, 15])); // an OFFER binds nothing
    device.receive(dhcp(5, parseMacAddress('52:54:00:00:00:01'), [10, 0, 2, 16])); // another card's ACK
    expect(device.saveState().address).toBeNull();
    device.receive(dhcp(5, parseMacAddress(MAC), [10, 0, 2, 15]));
    expect(device.saveState().address).toBe('10.0.2.15');
    // The guest sends from another address (set by hand): that is the one it uses.
    const sent = buildUdp(
      GATEWAY_MAC,
      parseMacAddress(MAC),
      ipv4('10.0.2.99'),
      5000,
      ipv4('10.0.2.2'),
      7,
      new Uint8Array(4),
    );
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: sent }]);
    // A DHCPDISCOVER's source 0.0.0.0 changes nothing.
    const discover = buildUdp(BROADCAST_MAC, parseMacAddress(MAC), 0, 68, 0xffffffff, 67, new Uint8Array(300));
    driver.offer(VIRTIO_NET_TRANSMITQ, [{ read: txHeader() }, { read: discover }]);
    driver.notify(VIRTIO_NET_TRANSMITQ);
    const state = throughJson(device.saveState());
    expect(state.address).toBe('10.0.2.99');
    expect(virtioNetStateSchema.parse(state)).toEqual(state);
    const restored = new VirtioNet(parseMacAddress(MAC), new RecordingLink());
    restored.loadState(state);
    expect(restored.saveState().address).toBe('10.0.2.99');
  });
});
