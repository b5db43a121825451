import { describe, expect, it } from 'vitest';
import { throughJson } from '../test-support.ts';
import {
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_CONFIG_GENERATION,
  VIRTIO_MMIO_DEVICE_FEATURES,
  VIRTIO_MMIO_DEVICE_FEATURES_SEL,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_DRIVER_FEATURES,
  VIRTIO_MMIO_DRIVER_FEATURES_SEL,
  VIRTIO_MMIO_INT_CONFIG,
  VIRTIO_MMIO_INT_VRING,
  VIRTIO_MMIO_INTERRUPT_ACK,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_MAGIC_VALUE,
  VIRTIO_MMIO_QUEUE_DESC_HIGH,
  VIRTIO_MMIO_QUEUE_DESC_LOW,
  VIRTIO_MMIO_QUEUE_NUM,
  VIRTIO_MMIO_QUEUE_NUM_MAX,
  VIRTIO_MMIO_QUEUE_READY,
  VIRTIO_MMIO_QUEUE_SEL,
  VIRTIO_MMIO_STATUS,
  VIRTIO_MMIO_VENDOR_ID,
  VIRTIO_MMIO_VERSION,
  VIRTIO_STATUS_DEVICE_NEEDS_RESET,
  VirtioMmioTransport,
  type VirtioDevice,
  type VirtioDeviceContext,
} from './mmio.ts';
import { FakeDriver } from './fake-driver.ts';
import type { Virtqueue } from './queue.ts';

describe('virtio-mmio transport, empty slot', () => {
  it('identifies as a version 2 transport with no device', () => {
    const slot = new VirtioMmioTransport();
    expect(slot.read(0x000, 4)).toBe(0x7472_6976n); // "virt"
    expect(slot.read(0x004, 4)).toBe(2n);
    expect(slot.read(0x008, 4)).toBe(0n);
    expect(slot.read(0x00c, 4)).toBe(0x554d_4551n); // "QEMU"
  });

  it('reads 0 elsewhere and ignores writes', () => {
    const slot = new VirtioMmioTransport();
    for (const offset of [0x010, 0x034, 0x060, 0x070, 0x0fc, 0x100]) expect(slot.read(offset, 4)).toBe(0n);
    slot.write(0x070, 0xffn, 4); // Status
    slot.write(0x008, 5n, 4);
    expect(slot.read(0x070, 4)).toBe(0n);
    expect(slot.read(0x008, 4)).toBe(0n);
  });

  it("round-trips its (empty) state and refuses another device's", () => {
    const slot = new VirtioMmioTransport();
    const saved = throughJson(slot.saveState());
    expect(saved.deviceId).toBe(0);
    slot.loadState(saved);
    expect(() => slot.loadState({ ...saved, deviceId: 2 })).toThrow(/device 2/);
  });
});

/** A device with a 6-byte config space and two queues, which returns each chain at once. */
class EchoDevice implements VirtioDevice {
  readonly deviceId = 0x7e;
  readonly features = 1n << 3n;
  readonly queueSizes = [8, 4];
  readonly config = Uint8Array.of(0x11, 0x22, 0x33, 0x44, 0x55, 0x66);
  readonly notified: number[] = [];
  resets = 0;
  context: VirtioDeviceContext | undefined;
  attach(context: VirtioDeviceContext): void {
    this.context = context;
  }
  queueNotified(queue: Virtqueue): void {
    this.notified.push(queue.index);
    for (let c = queue.pop(); c; c = queue.pop()) queue.complete(c, 0);
  }
  reset(): void {
    this.resets++;
  }
  saveState(): { v: 1; echo: string } {
    return { v: 1, echo: 'yes' };
  }
  loadState(state: unknown): void {
    if ((state as { echo?: string }).echo !== 'yes') throw new Error('echo: bad state');
  }
}

const VERSION_1 = 1n << 32n;

describe('virtio-mmio transport with a device', () => {
  it('identifies the device and offers its features with the transport features', () => {
    const driver = new FakeDriver(new EchoDevice());
    expect(driver.reg(VIRTIO_MMIO_MAGIC_VALUE)).toBe(0x7472_6976);
    expect(driver.reg(VIRTIO_MMIO_VERSION)).toBe(2);
    expect(driver.reg(VIRTIO_MMIO_DEVICE_ID)).toBe(0x7e);
    expect(driver.reg(VIRTIO_MMIO_VENDOR_ID)).toBe(0x554d_4551);
    // Bit 3 from the device; INDIRECT_DESC (28), EVENT_IDX (29) and VERSION_1 (32) from the transport.
    expect(driver.deviceFeatures()).toBe((1n << 3n) | (1n << 28n) | (1n << 29n) | VERSION_1);
    driver.setReg(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    expect(driver.reg(VIRTIO_MMIO_DEVICE_FEATURES)).toBe(0);
  });

  it('accepts a subset of the offered features with VERSION_1', () => {
    const driver = new FakeDriver(new EchoDevice());
    expect(driver.negotiate(VERSION_1 | (1n << 3n))).toBe(true);
    expect(driver.transport.negotiatedFeatures).toBe(VERSION_1 | (1n << 3n));
  });

  it('refuses FEATURES_OK for a feature it did not offer, or without VERSION_1', () => {
    const driver = new FakeDriver(new EchoDevice());
    expect(driver.negotiate(VERSION_1 | (1n << 4n))).toBe(false);
    expect(driver.negotiate(1n << 3n)).toBe(false);
    expect(driver.logged.join('\n')).toMatch(/refused driver features/);
  });

  it('ignores DriverFeatures written after FEATURES_OK', () => {
    const driver = new FakeDriver(new EchoDevice());
    driver.negotiate(VERSION_1);
    driver.setReg(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    driver.setReg(VIRTIO_MMIO_DRIVER_FEATURES, 1 << 3);
    expect(driver.transport.negotiatedFeatures).toBe(VERSION_1);
  });

  it('sets up queues: QueueNumMax per queue, 0 past the last, ready only with a power-of-two size', () => {
    const driver = new FakeDriver(new EchoDevice());
    driver.negotiate(VERSION_1);
    driver.setReg(VIRTIO_MMIO_QUEUE_SEL, 0);
    expect(driver.reg(VIRTIO_MMIO_QUEUE_NUM_MAX)).toBe(8);
    driver.setReg(VIRTIO_MMIO_QUEUE_SEL, 1);
    expect(driver.reg(VIRTIO_MMIO_QUEUE_NUM_MAX)).toBe(4);
    driver.setReg(VIRTIO_MMIO_QUEUE_SEL, 2);
    expect(driver.reg(VIRTIO_MMIO_QUEUE_NUM_MAX)).toBe(0);
    driver.setReg(VIRTIO_MMIO_QUEUE_SEL, 0);
    driver.setReg(VIRTIO_MMIO_QUEUE_NUM, 6);
    driver.setReg(VIRTIO_MMIO_QUEUE_READY, 1);
    expect(driver.reg(VIRTIO_MMIO_QUEUE_READY)).toBe(0);
    driver.setReg(VIRTIO_MMIO_QUEUE_NUM, 16);
    driver.setReg(VIRTIO_MMIO_QUEUE_READY, 1);
    expect(driver.reg(VIRTIO_MMIO_QUEUE_READY)).toBe(0);
    driver.setupQueue(0, 8);
    expect(driver.reg(VIRTIO_MMIO_QUEUE_READY)).toBe(1);
    const queue = driver.transport.queues[0]!;
    expect([queue.size, queue.descriptorArea, queue.driverArea, queue.deviceArea]).toEqual([
      8,
      driver.queues[0]!.desc,
      driver.queues[0]!.avail,
      driver.queues[0]!.used,
    ]);
    // 64-bit addresses from their two halves; a ready queue's registers do not change.
    driver.setReg(VIRTIO_MMIO_QUEUE_READY, 0);
    driver.setReg(VIRTIO_MMIO_QUEUE_DESC_HIGH, 1);
    expect(queue.descriptorArea).toBe(2 ** 32 + driver.queues[0]!.desc);
    driver.setReg(VIRTIO_MMIO_QUEUE_READY, 1);
    driver.setReg(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
    expect(queue.descriptorArea).toBe(2 ** 32 + driver.queues[0]!.desc);
  });

  it('passes notifications to the device only after DRIVER_OK, raises and acknowledges the interrupt', () => {
    const device = new EchoDevice();
    const driver = new FakeDriver(device);
    driver.negotiate(VERSION_1);
    driver.setupQueue(0, 8);
    driver.setupQueue(1, 4);
    driver.offer(1, [{ write: 4 }]);
    driver.notify(1);
    expect(device.notified).toEqual([]);
    driver.driverOk();
    driver.notify(1);
    expect(device.notified).toEqual([1]);
    expect(driver.usedIdx(1)).toBe(1);
    expect(driver.irq.level).toBe(true);
    expect(driver.reg(VIRTIO_MMIO_INTERRUPT_STATUS)).toBe(VIRTIO_MMIO_INT_VRING);
    driver.setReg(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    expect(driver.reg(VIRTIO_MMIO_INTERRUPT_STATUS)).toBe(0);
    expect(driver.irq.level).toBe(false);
  });

  it('reads the config space in 1-, 2- and 4-byte accesses, little-endian; past its end reads 0', () => {
    const driver = new FakeDriver(new EchoDevice());
    const t = driver.transport;
    expect(t.read(VIRTIO_MMIO_CONFIG + 1, 1)).toBe(0x22n);
    expect(t.read(VIRTIO_MMIO_CONFIG + 2, 2)).toBe(0x4433n);
    expect(t.read(VIRTIO_MMIO_CONFIG, 4)).toBe(0x44332211n);
    expect(t.read(VIRTIO_MMIO_CONFIG + 4, 4)).toBe(0n);
  });

  it('counts config changes in ConfigGeneration and sends a config-change interrupt', () => {
    const device = new EchoDevice();
    const driver = new FakeDriver(device);
    expect(driver.reg(VIRTIO_MMIO_CONFIG_GENERATION)).toBe(0);
    device.context!.configChanged();
    expect(driver.reg(VIRTIO_MMIO_CONFIG_GENERATION)).toBe(1);
    expect(driver.reg(VIRTIO_MMIO_INTERRUPT_STATUS)).toBe(VIRTIO_MMIO_INT_CONFIG);
    expect(driver.irq.level).toBe(true);
  });

  it('control registers take 32-bit accesses only', () => {
    const driver = new FakeDriver(new EchoDevice());
    expect(driver.transport.read(VIRTIO_MMIO_MAGIC_VALUE, 2)).toBe(0n);
    driver.transport.write(VIRTIO_MMIO_STATUS, 1n, 1);
    expect(driver.reg(VIRTIO_MMIO_STATUS)).toBe(0);
    expect(driver.logged).toHaveLength(2);
  });

  it('resets everything when 0 is written to Status', () => {
    const device = new EchoDevice();
    const driver = new FakeDriver(device);
    driver.start(2, 4);
    driver.offer(0, [{ write: 1 }]);
    driver.notify(0);
    expect(driver.irq.level).toBe(true);
    const resets = device.resets;
    driver.setReg(VIRTIO_MMIO_STATUS, 0);
    expect(driver.reg(VIRTIO_MMIO_STATUS)).toBe(0);
    expect(driver.reg(VIRTIO_MMIO_INTERRUPT_STATUS)).toBe(0);
    expect(driver.irq.level).toBe(false);
    expect(driver.transport.negotiatedFeatures).toBe(0n);
    expect(driver.transport.queues.map((q) => [q.ready, q.size])).toEqual([
      [false, 0],
      [false, 0],
    ]);
    expect(device.resets).toBe(resets + 1);
  });

  it('keeps DEVICE_NEEDS_RESET until a reset, whatever the driver writes', () => {
    const driver = new FakeDriver(new EchoDevice());
    driver.start(1, 8);
    driver.transport.needsReset('test');
    driver.setReg(VIRTIO_MMIO_STATUS, 0x0f);
    expect(driver.reg(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET).toBeTruthy();
    driver.setReg(VIRTIO_MMIO_STATUS, 0);
    expect(driver.reg(VIRTIO_MMIO_STATUS)).toBe(0);
  });

  it('round-trips its state through JSON, queues and device record included', () => {
    const driver = new FakeDriver(new EchoDevice());
    driver.start(2, 4, 1n << 29n);
    driver.offer(0, [{ write: 1 }]);
    driver.notify(0);
    const saved = throughJson(driver.transport.saveState());
    expect(saved).toMatchObject({
      v: 2,
      deviceId: 0x7e,
      status: 0x0f,
      interruptStatus: 1,
      device: { v: 1, echo: 'yes' },
    });
    const copy = new FakeDriver(new EchoDevice());
    copy.transport.loadState(saved);
    expect(copy.transport.saveState()).toEqual(saved);
    expect(copy.transport.negotiatedFeatures).toBe(VERSION_1 | (1n << 29n));
    expect(copy.transport.queues[0]!.eventIdx).toBe(true);
    expect(copy.irq.level).toBe(true);
    expect(() => copy.transport.loadState({ ...saved, device: { v: 1 } })).toThrow(/echo: bad state/);
  });
});
