import { describe, expect, it } from 'vitest';
import { FakeDriver, FAKE_RAM_BASE } from './fake-driver.ts';
import {
  VIRTIO_F_EVENT_IDX,
  VIRTIO_F_INDIRECT_DESC,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  type VirtioDevice,
} from './mmio.ts';
import {
  VIRTQ_AVAIL_F_NO_INTERRUPT,
  VIRTQ_DESC_F_INDIRECT,
  VIRTQ_DESC_F_NEXT,
  VIRTQ_DESC_F_WRITE,
  type DescriptorChain,
  type Virtqueue,
} from './queue.ts';

/** A device that keeps the chains it is given, for the test to inspect and complete. */
class HoldingDevice implements VirtioDevice {
  readonly deviceId = 0x7f;
  readonly features = 0n;
  readonly queueSizes = [16];
  readonly config = new Uint8Array(0);
  readonly chains: DescriptorChain[] = [];
  queue: Virtqueue | undefined;
  attach(): void {}
  queueNotified(queue: Virtqueue): void {
    this.queue = queue;
    for (let c = queue.pop(); c; c = queue.pop()) this.chains.push(c);
  }
  reset(): void {}
  saveState(): { v: 1 } {
    return { v: 1 };
  }
  loadState(): void {}
}

const INDIRECT = 1n << BigInt(VIRTIO_F_INDIRECT_DESC);
const EVENT_IDX = 1n << BigInt(VIRTIO_F_EVENT_IDX);

function setup(features = 0n): { driver: FakeDriver; device: HoldingDevice } {
  const device = new HoldingDevice();
  const driver = new FakeDriver(device);
  driver.start(1, 16, features);
  return { driver, device };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('split virtqueue', () => {
  it('pops a chain of readable then writable buffers and returns it through the used ring', () => {
    const { driver, device } = setup();
    const { head, addresses } = driver.offer(0, [
      { read: text('abc') },
      { read: text('defg') },
      { write: 8 },
      { write: 2 },
    ]);
    driver.notify(0);
    expect(device.chains).toHaveLength(1);
    const chain = device.chains[0]!;
    expect(chain.head).toBe(head);
    expect(chain.readableLength).toBe(7);
    expect(chain.writableLength).toBe(10);
    expect(new TextDecoder().decode(chain.read(1, 5))).toBe('bcdef');
    chain.write(6, text('WXYZ')); // straddles the two writable buffers
    expect(new TextDecoder().decode(driver.bytes(addresses[2]!, 8).subarray(6))).toBe('WX');
    expect(new TextDecoder().decode(driver.bytes(addresses[3]!, 2))).toBe('YZ');
    expect(driver.usedIdx(0)).toBe(0);
    device.queue!.complete(chain, 10);
    expect(driver.usedIdx(0)).toBe(1);
    expect(driver.used(0, 0)).toEqual({ id: head, len: 10 });
    expect(driver.irq.level).toBe(true);
    expect(driver.acknowledge()).toBe(1);
    expect(driver.irq.level).toBe(false);
  });

  it('takes every chain made available since the last notification, in order', () => {
    const { driver, device } = setup();
    const heads = [0, 1, 2].map((i) => driver.offer(0, [{ read: Uint8Array.of(i) }, { write: 1 }]).head);
    driver.notify(0);
    expect(device.chains.map((c) => c.head)).toEqual(heads);
    expect(device.chains.map((c) => c.read(0, 1)[0])).toEqual([0, 1, 2]);
  });

  it('follows indirect descriptor tables once VIRTIO_F_INDIRECT_DESC is negotiated', () => {
    const { driver, device } = setup(INDIRECT);
    driver.offer(0, [{ read: text('header') }, { read: text('data') }, { write: 3 }], { indirect: true });
    driver.notify(0);
    const chain = device.chains[0]!;
    expect(chain.head).toBe(0);
    expect(new TextDecoder().decode(chain.read(0, 10))).toBe('headerdata');
    expect(chain.writableLength).toBe(3);
  });

  it('refuses an indirect descriptor that was not negotiated: DEVICE_NEEDS_RESET and a config interrupt', () => {
    const { driver, device } = setup();
    driver.offer(0, [{ read: text('x') }, { write: 1 }], { indirect: true });
    driver.notify(0);
    expect(device.chains).toHaveLength(0);
    expect(driver.transport.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBeTruthy();
    expect(driver.acknowledge()).toBe(2);
    expect(driver.logged.join('\n')).toMatch(/INDIRECT_DESC was not negotiated/);
  });

  it.each([
    ['an indirect table inside an indirect table', 'nested'],
    ['INDIRECT together with NEXT', 'next'],
    ['an indirect table of a length that is not a multiple of 16', 'length'],
  ])('refuses %s', (_what, kind) => {
    const { driver, device } = setup(INDIRECT);
    const inner = driver.alloc(32);
    const outer = driver.alloc(32);
    const data = driver.alloc(4);
    driver.writeDescriptor(inner, 0, data, 4, 0, 0);
    if (kind === 'nested') {
      driver.writeDescriptor(outer, 0, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
      driver.writeDescriptor(driver.queues[0]!.desc, 0, outer, 16, VIRTQ_DESC_F_INDIRECT, 0);
    } else if (kind === 'next') {
      driver.writeDescriptor(driver.queues[0]!.desc, 0, inner, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    } else {
      driver.writeDescriptor(driver.queues[0]!.desc, 0, inner, 24, VIRTQ_DESC_F_INDIRECT, 0);
    }
    driver.publish(0, 0);
    driver.notify(0);
    expect(device.chains).toHaveLength(0);
    expect(driver.transport.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBeTruthy();
  });

  it.each([
    ['a buffer outside guest RAM', 'outside'],
    ['a chain that loops', 'loop'],
    ['a head index past the table', 'head'],
    ['a readable buffer after a writable one', 'order'],
    ['an available index far ahead of the device', 'ahead'],
  ])('treats %s as a guest error, not a crash', (_what, kind) => {
    const { driver, device } = setup();
    const desc = driver.queues[0]!.desc;
    const data = driver.alloc(16);
    if (kind === 'outside') {
      driver.writeDescriptor(desc, 0, FAKE_RAM_BASE + (1 << 20) - 8, 16, 0, 0);
      driver.publish(0, 0);
    } else if (kind === 'loop') {
      driver.writeDescriptor(desc, 0, data, 4, VIRTQ_DESC_F_NEXT, 1);
      driver.writeDescriptor(desc, 1, data, 4, VIRTQ_DESC_F_NEXT, 0);
      driver.publish(0, 0);
    } else if (kind === 'head') {
      driver.publish(0, 16);
    } else if (kind === 'order') {
      driver.writeDescriptor(desc, 0, data, 4, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
      driver.writeDescriptor(desc, 1, data, 4, 0, 0);
      driver.publish(0, 0);
    } else {
      driver.view.setUint16(driver.queues[0]!.avail - FAKE_RAM_BASE + 2, 40, true);
    }
    driver.notify(0);
    expect(device.chains).toHaveLength(0);
    expect(driver.transport.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBeTruthy();
    expect(driver.irq.level).toBe(true);
    expect(driver.logged).toHaveLength(1);
    // The device stays stopped until the driver resets it.
    driver.offer(0, [{ read: text('x') }]);
    driver.notify(0);
    expect(device.chains).toHaveLength(0);
  });

  it('honours VIRTQ_AVAIL_F_NO_INTERRUPT without event indices', () => {
    const { driver, device } = setup();
    driver.setAvailFlags(0, VIRTQ_AVAIL_F_NO_INTERRUPT);
    driver.offer(0, [{ write: 1 }]);
    driver.notify(0);
    device.queue!.complete(device.chains[0]!, 1);
    expect(driver.usedIdx(0)).toBe(1);
    expect(driver.irq.level).toBe(false);
  });

  it('with VIRTIO_F_EVENT_IDX, interrupts only when the used index passes used_event, and publishes avail_event', () => {
    const { driver, device } = setup(EVENT_IDX);
    driver.setAvailFlags(0, VIRTQ_AVAIL_F_NO_INTERRUPT); // must be ignored with EVENT_IDX
    for (let i = 0; i < 3; i++) driver.offer(0, [{ write: 1 }]);
    driver.notify(0);
    expect(driver.availEvent(0)).toBe(3);
    driver.setUsedEvent(0, 1); // "interrupt me once entry 1 is used"
    device.queue!.complete(device.chains[0]!, 1);
    expect(driver.irq.level).toBe(false);
    device.queue!.complete(device.chains[1]!, 1);
    expect(driver.irq.level).toBe(true);
    driver.acknowledge();
    device.queue!.complete(device.chains[2]!, 1);
    expect(driver.irq.level).toBe(false);
    expect(driver.usedIdx(0)).toBe(3);
  });

  it('wraps the 16-bit available and used indices', () => {
    const { driver, device } = setup();
    const queue = driver.transport.queues[0]!;
    const start = 0xfffe;
    queue.loadState({ ...queue.saveState(), lastAvailIdx: start, usedIdx: start });
    driver.queues[0]!.availIdx = start;
    for (let i = 0; i < 4; i++) driver.offer(0, [{ read: Uint8Array.of(i) }, { write: 1 }]);
    driver.notify(0);
    expect(device.chains.map((c) => c.read(0, 1)[0])).toEqual([0, 1, 2, 3]);
    for (const chain of device.chains) device.queue!.complete(chain, 1);
    expect(driver.usedIdx(0)).toBe(2); // 0xfffe + 4, modulo 2^16
    expect([0xfffe, 0xffff, 0, 1].map((i) => driver.used(0, i).id)).toEqual(device.chains.map((c) => c.head));
  });

  it('drops the completion of a chain popped before a reset', () => {
    const { driver, device } = setup();
    driver.offer(0, [{ write: 1 }]);
    driver.notify(0);
    const stale = device.chains[0]!;
    const queue = device.queue!;
    driver.start(1, 16);
    queue.complete(stale, 1);
    expect(driver.usedIdx(0)).toBe(0);
    expect(driver.irq.level).toBe(false);
  });

  it('saves and restores its position in the rings', () => {
    const { driver, device } = setup();
    driver.offer(0, [{ write: 1 }]);
    driver.notify(0);
    device.queue!.complete(device.chains[0]!, 1);
    const saved = JSON.parse(JSON.stringify(driver.transport.queues[0]!.saveState())) as ReturnType<
      Virtqueue['saveState']
    >;
    expect(saved).toMatchObject({ v: 1, size: 16, ready: true, lastAvailIdx: 1, usedIdx: 1 });
    const other = new FakeDriver(new HoldingDevice());
    other.transport.queues[0]!.loadState(saved);
    expect(other.transport.queues[0]!.saveState()).toEqual(saved);
  });
});
