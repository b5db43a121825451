/**
 * The run loop's idle behaviour over an unshared doorbell (the browser fallback): an idle guest must not
 * make the loop spin, and input must still wake it at once. The machine is a stand-in that reports
 * idle (WFI with no timer) until the UART has received a byte. Its host ports are the real console
 * port over the VM's channels, and a loopback frame channel whose far end echoes (both modes).
 */
import { describe, expect, it } from 'vitest';
import { Doorbell } from '../protocol/ring.ts';
import {
  FrameStream,
  createChannel,
  echoFrames,
  openChannel,
  vmDoorbell,
  type ChannelMode,
} from '../protocol/channels.ts';
import { createVmChannels, openVmChannels } from '../protocol/vm-channels.ts';
import { ConsolePort, StreamSink } from '../runtime/console-port.ts';
import { RunLoop, type Port } from './run-loop.ts';
import type { Machine, MachineStatus } from './machine.ts';
import { IoTracker } from '../bus/io-tracker.ts';

/** The VM's declared channels with their host ends on this thread, and the console port over them. */
function consoleOn(mode: ChannelMode, uart: Machine['uart']) {
  const host = createVmChannels(mode);
  const vm = openVmChannels(host.wires);
  const port = new ConsolePort(uart, vm.console, new StreamSink(vm.console));
  return { host, vm, port, doorbell: vm.doorbell };
}

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
    const { host, port, doorbell } = consoleOn('message', fake.machine.uart);
    expect(doorbell.canBlock).toBe(false);
    let turns = 0;
    const loop = new RunLoop(fake.machine, { ports: [port], doorbell, onTurn: () => turns++ });
    const done = loop.run();
    await new Promise((r) => setTimeout(r, 300));
    // One slice per 50 ms wait at most (plus the first); a spinning loop runs thousands.
    expect(fake.slices()).toBeLessThanOrEqual(12);
    expect(turns).toBeGreaterThan(0);

    const before = performance.now();
    expect(host.console.write(Uint8Array.of(0x61))).toBe(1);
    while (fake.received.length === 0 && performance.now() - before < 1000) await new Promise((r) => setTimeout(r, 1));
    expect(fake.received).toEqual([0x61]);
    expect(performance.now() - before).toBeLessThan(40);

    fake.halt();
    doorbell.ring();
    await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
  });

  it('while paused, leaves input in the ring and does not run the guest', async () => {
    const fake = idleMachine();
    const { host, port, doorbell } = consoleOn('message', fake.machine.uart);
    const loop = new RunLoop(fake.machine, { ports: [port], doorbell });
    loop.pause();
    const done = loop.run();
    await new Promise((r) => setTimeout(r, 50));
    const slicesWhilePaused = fake.slices();
    expect(host.console.write(Uint8Array.of(0x62))).toBe(1);
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
    const { port, doorbell } = consoleOn('shared', fake.machine.uart);
    expect(doorbell.canBlock).toBe(true);
    const sleptWhilePending: number[] = [];
    const sleep = doorbell.sleep.bind(doorbell);
    doorbell.sleep = (seen, ms) => {
      if (fake.io.pending > 0) sleptWhilePending.push(ms);
      sleep(seen, ms);
    };
    let complete!: () => void;
    // The guest (a stand-in) idles until its request completes, then powers off.
    fake.io.track(new Promise<void>((resolve) => (complete = resolve)).then(() => fake.halt()));
    const loop = new RunLoop(fake.machine, { ports: [port], doorbell });
    const done = loop.run();
    await new Promise((r) => setTimeout(r, 100));
    expect(fake.slices()).toBeGreaterThan(0);
    complete();
    await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
    expect(sleptWhilePending).toEqual([]);
  });

  it('lets the event loop run while the guest waits on one request after another', async () => {
    // The guest (a stand-in) submits a request in every slice and idles until it completes; the backend
    // answers from memory, as the disk overlay does, so every completion is a microtask. A loop that went
    // on after each completion without a task of its own would never let a control message through
    // (the page then says the worker is stuck).
    const fake = idleMachine();
    const { port, doorbell } = consoleOn('shared', fake.machine.uart);
    const runSlice = fake.machine.runSlice.bind(fake.machine);
    const started = performance.now();
    fake.machine.runSlice = () => {
      fake.io.track(Promise.resolve());
      // A loop that never lets the event loop in would otherwise hang the test: it ends after a second.
      if (performance.now() - started > 1000) fake.halt();
      return runSlice();
    };
    const loop = new RunLoop(fake.machine, { ports: [port], doorbell });
    const done = loop.run();
    const began = performance.now();
    await new Promise((r) => setTimeout(r, 0));
    const waited = performance.now() - began;
    fake.halt();
    await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
    expect(fake.slices()).toBeGreaterThan(1);
    expect(waited).toBeLessThan(100);
  });
});

describe.each(['shared', 'message'] as const)('RunLoop with a loopback frame channel (%s mode)', (mode) => {
  it('services the port from its list: frames go out, their echoes wake the idle loop and come back', async () => {
    const fake = idleMachine();
    const doorbell = vmDoorbell(mode === 'shared' ? (new Doorbell().buffer as SharedArrayBuffer) : undefined);
    const { host, wire } = createChannel(mode, { kind: 'frames', toVmBytes: 256, fromVmBytes: 256 }, doorbell);
    const stopEcho = echoFrames(new FrameStream(host));
    const frames = new FrameStream(openChannel(wire, doorbell));
    const sent = Array.from({ length: 12 }, (_, i) =>
      Uint8Array.from({ length: 20 + i }, (_, j) => (i * 31 + j) & 0xff),
    );
    const echoed: Uint8Array[] = [];
    let next = 0;
    // A stand-in device (virtio-net to be): sends what fits, takes what came back, powers off when all did.
    const device: Port = {
      service() {
        while (next < sent.length && frames.send(sent[next]!)) next++;
        for (let frame = frames.receive(); frame; frame = frames.receive()) echoed.push(frame);
        if (echoed.length === sent.length) fake.halt();
      },
      busy: () => false,
      flush: () => frames.end.flush(),
    };
    const loop = new RunLoop(fake.machine, { ports: [device], doorbell });
    const done = loop.run();
    const timeout = setTimeout(() => loop.stop(), 5000);
    try {
      await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
    } finally {
      clearTimeout(timeout);
      stopEcho();
      host.close();
      frames.end.close();
    }
    expect(echoed).toEqual(sent);
  });
});

describe('RunLoop CPU time', () => {
  it('counts the time it runs the guest, not the time it sleeps in WFI', async () => {
    let mode: 'busy' | 'idle' | 'halt' = 'busy';
    const machine = {
      uart: { rxSpace: () => 16, receive: () => true },
      clock: { pause() {}, resume() {} },
      io: new IoTracker(),
      runSlice(): MachineStatus {
        if (mode === 'halt') return { kind: 'halted', exitCode: 0, reason: 'poweroff' };
        if (mode === 'idle') return { kind: 'idle', wakeInMs: 20 };
        // A slice of guest work: 1 ms of this thread's time.
        const end = performance.now() + 1;
        while (performance.now() < end);
        return { kind: 'running' };
      },
    } as unknown as Machine;
    const doorbell = new Doorbell();
    expect(doorbell.canBlock).toBe(true);
    const loop = new RunLoop(machine, { ports: [], doorbell });
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // run() begins its first turn at once: the wall time starts before it.
    let began = performance.now();
    const done = loop.run();
    await sleep(200);
    const busy = loop.busyMs;
    let wall = performance.now() - began;
    expect(busy).toBeGreaterThan(wall * 0.5);
    expect(busy).toBeLessThanOrEqual(wall);

    // Idle in WFI: the loop sleeps in Atomics.wait, which is not counted.
    mode = 'idle';
    await sleep(30);
    const before = loop.busyMs;
    began = performance.now();
    await sleep(300);
    wall = performance.now() - began;
    expect(loop.busyMs - before).toBeLessThan(wall * 0.2);

    mode = 'halt';
    doorbell.ring();
    await expect(done).resolves.toEqual({ kind: 'halted', exitCode: 0, reason: 'poweroff' });
  });
});
