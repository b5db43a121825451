/**
 * The device host's loop (DeviceHostLoop) on its own, over a stand-in for the devices: while harts keep
 * asking it for something, its waits settle at once, as microtasks; the thread's event loop (the VM's
 * control messages, timers) must still get through.
 */
import { describe, expect, it } from 'vitest';
import { IoTracker } from '../bus/io-tracker.ts';
import type { DeviceHost } from './device-host.ts';
import { ringDeviceHost } from './mmio-mailbox.ts';
import { DeviceHostLoop } from './threads.ts';

/** Devices whose every turn finds the doorbell rung again, as under harts that never stop doing MMIO. */
function busyHost(memory: WebAssembly.Memory) {
  let turns = 0;
  let halted = false;
  const began = performance.now();
  const host = {
    memory,
    pins: [],
    physicalBus: {},
    io: new IoTracker(),
    clock: { pause() {}, resume() {} },
    update() {
      turns++;
      ringDeviceHost(memory);
      // A loop that never lets the event loop in would otherwise hang the test: it ends after a second.
      if (performance.now() - began > 1000) halted = true;
    },
    checkTohost() {},
    get status() {
      return halted ? { kind: 'halted', exitCode: 0, reason: 'poweroff' } : { kind: 'running' };
    },
    takeResetRequest: () => false,
    msUntilNextEvent: () => null,
  };
  return {
    host: host as unknown as DeviceHost,
    turns: () => turns,
    halt: () => {
      halted = true;
    },
  };
}

describe('DeviceHostLoop', () => {
  it('lets the event loop run while the harts keep ringing', async () => {
    // The shared block (layout.ts SHARED_BLOCK) lies below 16 MiB.
    const memory = new WebAssembly.Memory({ initial: 256, maximum: 256, shared: true });
    const fake = busyHost(memory);
    const loop = new DeviceHostLoop(fake.host);
    const done = loop.run();
    const began = performance.now();
    await new Promise((r) => setTimeout(r, 0));
    const waited = performance.now() - began;
    fake.halt();
    await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
    expect(fake.turns()).toBeGreaterThan(1);
    expect(waited).toBeLessThan(100);
  });
});
