/**
 * The run loop's idle behaviour over an unshared doorbell (the browser fallback): an idle guest must not
 * make the loop spin, and input must still wake it at once. The machine is a stand-in that reports
 * idle (WFI with no timer) until the UART has received a byte.
 */
import { describe, expect, it } from 'vitest';
import { ByteRing, Doorbell } from '../protocol/ring.ts';
import { RingSink, RunLoop } from './run-loop.ts';
import type { Machine, MachineStatus } from './machine.ts';
import { IoTracker } from '../bus/io-tracker.ts';

function idleMachine() {
  const received: number[] = [];
  let slices = 0;
  let halt = false;
  const machine = {
    uart: { rxSpace: () => 16, receive: (byte: number) => received.push(byte) > 0 },
    clock: { pause() {}, resume() {} },
    io: new IoTracker(),
    runSlice(): MachineStatus {
      slices++;
      if (halt) return { kind: 'halted', exitCode: 0, reason: 'poweroff' };
      return { kind: 'idle', wakeInMs: null };
    },
  };
  return {
    machine: machine as unknown as Machine,
    io: machine.io,
    received,
    slices: () => slices,
    halt: () => {
      halt = true;
    },
  };
}

describe('RunLoop without shared memory', () => {
  it('waits instead of spinning while the guest idles, and wakes for input', async () => {
    const fake = idleMachine();
    const input = ByteRing.create(64, false);
    const doorbell = new Doorbell(new ArrayBuffer(4));
    let turns = 0;
    const loop = new RunLoop(fake.machine, {
      input,
      output: new RingSink(ByteRing.create(64, false)),
      doorbell,
      onTurn: () => turns++,
    });
    const done = loop.run();
    await new Promise((r) => setTimeout(r, 300));
    // One slice per 50 ms wait at most (plus the first); a spinning loop runs thousands.
    expect(fake.slices()).toBeLessThanOrEqual(12);
    expect(turns).toBeGreaterThan(0);

    const before = performance.now();
    input.write(Uint8Array.of(0x61));
    doorbell.ring();
    while (fake.received.length === 0 && performance.now() - before < 1000) await new Promise((r) => setTimeout(r, 1));
    expect(fake.received).toEqual([0x61]);
    expect(performance.now() - before).toBeLessThan(40);

    fake.halt();
    doorbell.ring();
    await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
  });

  it('while paused, leaves input in the ring and does not run the guest', async () => {
    const fake = idleMachine();
    const input = ByteRing.create(64, false);
    const doorbell = new Doorbell(new ArrayBuffer(4));
    const loop = new RunLoop(fake.machine, { input, output: new RingSink(ByteRing.create(64, false)), doorbell });
    loop.pause();
    const done = loop.run();
    await new Promise((r) => setTimeout(r, 50));
    const slicesWhilePaused = fake.slices();
    input.write(Uint8Array.of(0x62));
    doorbell.ring();
    await new Promise((r) => setTimeout(r, 120));
    expect(fake.slices()).toBe(slicesWhilePaused);
    expect(fake.received).toEqual([]);
    loop.resume();
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.received).toEqual([0x62]);
    loop.stop();
    await expect(done).resolves.toBeUndefined();
  });
});

describe('RunLoop with block I/O in flight', () => {
  it('never blocks in Atomics.wait while a request is pending, and runs the guest once it completes', async () => {
    const fake = idleMachine();
    const doorbell = new Doorbell(new SharedArrayBuffer(4));
    const sleptWhilePending: number[] = [];
    const sleep = doorbell.sleep.bind(doorbell);
    doorbell.sleep = (seen, ms) => {
      if (fake.io.pending > 0) sleptWhilePending.push(ms);
      sleep(seen, ms);
    };
    let complete!: () => void;
    // The guest (a stand-in) idles until its request completes, then powers off.
    fake.io.track(new Promise<void>((resolve) => (complete = resolve)).then(() => fake.halt()));
    const loop = new RunLoop(fake.machine, {
      input: ByteRing.create(64),
      output: new RingSink(ByteRing.create(64)),
      doorbell,
    });
    const done = loop.run();
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.slices()).toBeGreaterThan(0);
    complete();
    await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
    expect(sleptWhilePending).toEqual([]);
  });
});
