import { describe, expect, it } from 'vitest';
import { FakeDriver } from './fake-driver.ts';
import {
  VIRTIO_CONSOLE_F_SIZE,
  VIRTIO_CONSOLE_RECEIVEQ,
  VIRTIO_CONSOLE_TRANSMITQ,
  VIRTIO_ID_CONSOLE,
  VirtioConsole,
  type ConsoleInput,
} from './console.ts';
import {
  VIRTIO_MMIO_CONFIG,
  VIRTIO_MMIO_CONFIG_GENERATION,
  VIRTIO_MMIO_DEVICE_ID,
  VIRTIO_MMIO_INT_CONFIG,
  VIRTIO_MMIO_INT_VRING,
  VIRTIO_MMIO_STATUS,
} from './mmio.ts';

const F_SIZE = 1n << BigInt(VIRTIO_CONSOLE_F_SIZE);

function setup(size = { cols: 100, rows: 30 }) {
  const out: number[] = [];
  const device = new VirtioConsole({ write: (byte) => out.push(byte) }, size);
  const driver = new FakeDriver(device);
  return { out, device, driver };
}

function input(text: string): ConsoleInput & { readonly rest: number } {
  let bytes = new TextEncoder().encode(text);
  return {
    available: () => bytes.length,
    read(max) {
      const taken = bytes.subarray(0, max);
      bytes = bytes.subarray(taken.length);
      return taken;
    },
    get rest() {
      return bytes.length;
    },
  };
}

/** cols and rows as Linux reads them (§5.3.4: le16 cols at offset 0, le16 rows at offset 2). */
function configSize(driver: FakeDriver): { cols: number; rows: number } {
  return {
    cols: Number(driver.transport.read(VIRTIO_MMIO_CONFIG, 2)),
    rows: Number(driver.transport.read(VIRTIO_MMIO_CONFIG + 2, 2)),
  };
}

describe('virtio-console', () => {
  it('offers VIRTIO_CONSOLE_F_SIZE with cols then rows in its config space', () => {
    const { driver } = setup();
    expect(driver.reg(VIRTIO_MMIO_DEVICE_ID)).toBe(VIRTIO_ID_CONSOLE);
    expect(driver.deviceFeatures() & F_SIZE).toBe(F_SIZE);
    expect(configSize(driver)).toEqual({ cols: 100, rows: 30 });
    expect(Number(driver.transport.read(VIRTIO_MMIO_CONFIG, 4))).toBe(100 | (30 << 16));
  });

  it('sends a configuration change notification at DRIVER_OK, since the driver reads the size only then', () => {
    const { driver } = setup();
    driver.negotiate((1n << 32n) | F_SIZE);
    driver.setupQueue(0, 16);
    driver.setupQueue(1, 16);
    expect(driver.irq.level).toBe(false);
    driver.driverOk();
    expect(driver.irq.level).toBe(true);
    expect(driver.acknowledge()).toBe(VIRTIO_MMIO_INT_CONFIG);
    expect(driver.irq.level).toBe(false);
  });

  it('on resize: new size in the config, a new generation and a configuration change interrupt', () => {
    const { device, driver } = setup();
    driver.start(2, 16, F_SIZE);
    driver.acknowledge();
    const generation = driver.reg(VIRTIO_MMIO_CONFIG_GENERATION);
    device.resize(120, 40);
    expect(configSize(driver)).toEqual({ cols: 120, rows: 40 });
    expect(driver.reg(VIRTIO_MMIO_CONFIG_GENERATION)).not.toBe(generation);
    expect(driver.acknowledge()).toBe(VIRTIO_MMIO_INT_CONFIG);
    // The same size again changes nothing, and so tells the guest nothing.
    device.resize(120, 40);
    expect(driver.irq.level).toBe(false);
    // Sizes beyond the le16 fields are clamped, never wrapped.
    device.resize(70000, 0);
    expect(configSize(driver)).toEqual({ cols: 65535, rows: 1 });
  });

  it('keeps a resize before the driver is up in the config without an interrupt', () => {
    const { device, driver } = setup();
    device.resize(132, 43);
    expect(driver.irq.level).toBe(false);
    expect(configSize(driver)).toEqual({ cols: 132, rows: 43 });
  });

  it('writes every byte of each transmitq chain to the sink and returns the chain', () => {
    const { out, driver } = setup();
    driver.start(2, 16, F_SIZE);
    driver.acknowledge();
    const a = driver.offer(VIRTIO_CONSOLE_TRANSMITQ, [{ read: new TextEncoder().encode('he') }, { read: new TextEncoder().encode('llo') }]);
    driver.offer(VIRTIO_CONSOLE_TRANSMITQ, [{ read: new TextEncoder().encode('!') }]);
    driver.notify(VIRTIO_CONSOLE_TRANSMITQ);
    expect(new TextDecoder().decode(Uint8Array.from(out))).toBe('hello!');
    expect(driver.usedIdx(VIRTIO_CONSOLE_TRANSMITQ)).toBe(2);
    expect(driver.used(VIRTIO_CONSOLE_TRANSMITQ, 0)).toEqual({ id: a.head, len: 0 });
    expect(driver.acknowledge()).toBe(VIRTIO_MMIO_INT_VRING);
  });

  it('delivers input only into posted receive buffers and leaves the rest waiting', () => {
    const { device, driver } = setup();
    const typed = input('ls -l\n');
    // Before the driver is up the port is not open: input stays with the host (for the UART).
    expect(device.open).toBe(false);
    expect(device.receive(typed)).toBe(0);
    driver.start(2, 16, F_SIZE);
    driver.acknowledge();
    expect(device.open).toBe(true);
    // No buffers posted yet: nothing moves, and the device says it is starved.
    expect(device.receive(typed)).toBe(0);
    expect(device.starved).toBe(true);
    const first = driver.offer(VIRTIO_CONSOLE_RECEIVEQ, [{ write: 4 }]);
    driver.notify(VIRTIO_CONSOLE_RECEIVEQ);
    expect(device.starved).toBe(false);
    expect(device.receive(typed)).toBe(4);
    expect(typed.rest).toBe(2);
    expect(new TextDecoder().decode(driver.bytes(first.addresses[0]!, 4))).toBe('ls -');
    expect(driver.used(VIRTIO_CONSOLE_RECEIVEQ, 0)).toEqual({ id: first.head, len: 4 });
    expect(driver.acknowledge()).toBe(VIRTIO_MMIO_INT_VRING);
    const second = driver.offer(VIRTIO_CONSOLE_RECEIVEQ, [{ write: 64 }]);
    driver.notify(VIRTIO_CONSOLE_RECEIVEQ);
    expect(device.receive(typed)).toBe(2);
    expect(driver.used(VIRTIO_CONSOLE_RECEIVEQ, 1)).toEqual({ id: second.head, len: 2 });
    expect(new TextDecoder().decode(driver.bytes(second.addresses[0]!, 2))).toBe('l\n');
    expect(typed.rest).toBe(0);
  });

  it('closes the port when the driver resets the device', () => {
    const { device, driver } = setup();
    driver.start(2, 16, F_SIZE);
    expect(device.open).toBe(true);
    driver.setReg(VIRTIO_MMIO_STATUS, 0);
    expect(device.open).toBe(false);
  });

  it('a receive buffer outside guest RAM is a guest error: the device needs a reset, the emulator goes on', () => {
    const { device, driver } = setup();
    driver.start(2, 16, F_SIZE);
    driver.acknowledge();
    driver.writeDescriptor(driver.queues[0]!.desc, 0, 0x1000, 8, 2, 0);
    driver.publish(VIRTIO_CONSOLE_RECEIVEQ, 0);
    expect(device.receive(input('x'))).toBe(0);
    expect(driver.reg(VIRTIO_MMIO_STATUS) & 64).toBe(64);
    expect(device.open).toBe(false);
    expect(driver.logged.join('\n')).toMatch(/receiveq: .*outside guest RAM/);
  });

  it('saves and restores its size', () => {
    const { device } = setup();
    device.resize(90, 20);
    const restored = new VirtioConsole({ write: () => {} });
    restored.loadState(JSON.parse(JSON.stringify(device.saveState())));
    expect([restored.cols, restored.rows]).toEqual([90, 20]);
    expect(() => restored.loadState({ v: 2 })).toThrow(/unknown state version/);
  });
});
