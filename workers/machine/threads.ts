/**
 * A machine whose harts run in other threads than its devices, over one shared VM memory: the device
 * host's thread (DeviceHostLoop) and each hart's thread (runHart, runHartThread) find each other only
 * through the memory's shared block (layout.ts): the MMIO mailboxes, the device host's doorbell, each
 * hart's wake word, the machine control word and the guest clock's epoch. docs/harts.md describes the
 * protocol; the VM runtime runs VMs of several harts this way (workers/runtime/hart-threads.ts).
 */
import * as L from '../cpu/layout.ts';
import type { ByteRing, Doorbell } from '../protocol/ring.ts';
import { makeYield, TURN_MS, type Port } from './run-loop.ts';
import { GuestClock, hostEpochNow } from './clock.ts';
import type { DeviceHost, MachineStatus } from './device-host.ts';
import type { MachineState } from './machine.ts';
import { HartRunner } from './hart-runner.ts';
import { MailboxBus, MailboxServer, ringDeviceHost } from './mmio-mailbox.ts';
import { MEMORY_MAP } from './memory-map.ts';
import { SLICE_INSTRUCTIONS } from './machine.ts';

/** The longest the device host sleeps with nothing to do, so that a lost wake-up costs at most this. */
const MAX_DEVICE_SLEEP_MS = 50;

/** A GuestClock over the VM memory's shared epoch, the same guest time in every thread that makes one. */
export function sharedGuestClock(memory: WebAssembly.Memory, now: () => number = hostEpochNow): GuestClock {
  return new GuestClock(now, { buffer: memory.buffer, byteOffset: L.SHARED_BLOCK + L.CLOCK_EPOCH });
}

/** The machine control word (layout.ts CONTROL_*): the device host tells the harts to halt, reset or pause. */
function controlWord(memory: WebAssembly.Memory): { words: Int32Array; index: number } {
  return { words: new Int32Array(memory.buffer, L.SHARED_BLOCK, 0x1000 / 4), index: L.MACHINE_CONTROL / 4 };
}

/**
 * Asks every hart to stop for a reset or a pause (`request`): the harts count themselves in the acks
 * word as they stop, and the last one sets the acknowledgement.
 */
function requestStop(control: { words: Int32Array; index: number }, request: number, pins: DeviceHost['pins']): void {
  Atomics.store(control.words, L.CONTROL_ACKS / 4, 0);
  setControl(control, request);
  for (const hart of pins) hart.kick();
}

export interface DeviceHostThreadOptions {
  /** Host console input; the sender rings the device host's doorbell (ringDeviceHost) after writing. */
  readonly input?: ByteRing;
  /** Host ports (the VM runtime's channels), serviced every turn and flushed at its end, as the run loop does. */
  readonly ports?: readonly Port[];
  /** Another doorbell the loop also wakes for (the VM's channels' doorbell, which the host rings for input). */
  readonly wake?: Doorbell;
  /** Called once per turn of the loop, e.g. to pass the console's output on. */
  readonly onTurn?: () => void;
}

/** The machine's state at one moment with every hart stopped between slices, and its RAM then. */
export interface SavedThreadedMachine {
  readonly state: MachineState;
  readonly ram: Uint8Array;
}

/**
 * The device host's thread: answers the harts' MMIO, keeps timers and interrupt lines current, feeds
 * console input to the UART, handles the guest's poweroff and reboot, and pauses the machine on request,
 * until the machine halts or stop() is called. Sleeps in Atomics.waitAsync between events, so the
 * thread's event loop (block I/O, messages) keeps running. Run it with the images loaded and the clock
 * running; the harts may start before or after.
 */
export class DeviceHostLoop {
  readonly #host: DeviceHost;
  readonly #options: DeviceHostThreadOptions;
  readonly #control: { words: Int32Array; index: number };
  readonly #server: MailboxServer;
  /** Whether the owner wants the harts parked (pause()); `#paused` once they are, with guest time stopped. */
  #pauseWanted = false;
  #paused = false;
  #pauseWaiters: (() => void)[] = [];
  #stopped = false;

  constructor(host: DeviceHost, options: DeviceHostThreadOptions = {}) {
    this.#host = host;
    this.#options = options;
    this.#control = controlWord(host.memory);
    this.#server = new MailboxServer(host.memory, host.pins.length);
  }

  /** Whether the harts are parked and guest time stands still. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Stops every hart at the end of its slice (a hart asleep in WFI is woken to stop) and guest time;
   * resolves once all are parked, each with its state block complete. They stay parked until resume().
   */
  pause(): Promise<void> {
    this.#pauseWanted = true;
    if (this.#paused) return Promise.resolve();
    const parked = new Promise<void>((resolve) => this.#pauseWaiters.push(resolve));
    ringDeviceHost(this.#host.memory);
    return parked;
  }

  /** Lets paused harts run on (or cancels a pause not yet reached). */
  resume(): void {
    this.#pauseWanted = false;
    ringDeviceHost(this.#host.memory);
  }

  /** Ends run() at its next turn without a guest halt: the harts are told to halt. */
  stop(): void {
    this.#stopped = true;
    ringDeviceHost(this.#host.memory);
  }

  /**
   * Pauses, copies every hart's state block, the devices' records and RAM, and resumes: the same
   * MachineState a one-thread Machine saves, so a Machine can be built from it.
   */
  async pauseAndSave(): Promise<SavedThreadedMachine> {
    await this.pause();
    const host = this.#host;
    const cpu = host.pins.map((_, hart) => hartStateBlock(host.memory, hart).slice());
    const saved = { state: { cpu, devices: host.saveState() }, ram: host.ram.slice() };
    this.resume();
    return saved;
  }

  /** Runs until the guest halts (resolves with the halt) or stop() (resolves with undefined). */
  async run(): Promise<Extract<MachineStatus, { kind: 'halted' }> | undefined> {
    const host = this.#host;
    const control = this.#control;
    const server = this.#server;
    const ports = this.#options.ports ?? [];
    const wake = this.#options.wake;
    let pending: Uint8Array = new Uint8Array(0);
    const taskYield = makeYield();
    let lastTask = performance.now();
    for (;;) {
      const seen = server.doorbell;
      const seenWake = wake?.value() ?? 0;
      for (const port of ports) port.service();
      server.serve(host.physicalBus);
      host.update();
      if (this.#options.input) {
        if (pending.length === 0) pending = this.#options.input.read();
        pending = pending.subarray(host.receiveInput(pending));
      }
      host.checkTohost();
      for (const port of ports) port.flush();
      this.#options.onTurn?.();
      const status = host.status;
      if (status.kind === 'halted' || this.#stopped) {
        setControl(control, L.CONTROL_HALT);
        for (const pins of host.pins) pins.kick();
        return status.kind === 'halted' ? status : undefined;
      }
      if (host.takeResetRequest()) {
        // The harts stop at the end of their slices and acknowledge; until then they may still need MMIO.
        requestStop(control, L.CONTROL_RESET, host.pins);
      }
      const state = Atomics.load(control.words, control.index);
      if (state === L.CONTROL_RESET_ACK) {
        host.reboot();
        setControl(control, L.CONTROL_RUN);
      } else if (state === L.CONTROL_RUN && this.#pauseWanted) {
        requestStop(control, L.CONTROL_PAUSE, host.pins);
      } else if (state === L.CONTROL_PAUSED && !this.#paused && this.#pauseWanted) {
        host.clock.pause();
        this.#paused = true;
        const waiters = this.#pauseWaiters;
        this.#pauseWaiters = [];
        for (const resolve of waiters) resolve();
      } else if ((state === L.CONTROL_PAUSED || state === L.CONTROL_PAUSE) && !this.#pauseWanted) {
        // Resumed, or a pause cancelled before every hart stopped: the parked harts go on.
        if (this.#paused) host.clock.resume();
        this.#paused = false;
        setControl(control, L.CONTROL_RUN);
      }
      // A doorbell rung again since `seen`, or a block request answered from memory, settles the wait below
      // as a microtask: harts that keep asking would hold the event loop and its control messages. So
      // every TURN_MS the loop lets a task through, after serving rather than before. A completion during
      // that yield ends the wait at once (nextCompletion with nothing in flight).
      const io = host.io.pending > 0;
      if (performance.now() - lastTask >= TURN_MS) {
        await taskYield();
        lastTask = performance.now();
      }
      // A byte the UART's full FIFO refused is offered again when the guest reads one: that read is an
      // MMIO request, which rings the doorbell.
      const ms = Math.min(host.msUntilNextEvent() ?? MAX_DEVICE_SLEEP_MS, MAX_DEVICE_SLEEP_MS);
      const sleep = server.sleep(seen, ms);
      const waits = [sleep];
      if (wake) waits.push(wake.wait(seenWake, ms));
      if (io) waits.push(host.io.nextCompletion());
      await (waits.length === 1 ? sleep : Promise.race(waits));
    }
  }
}

/** Hart `hart`'s state block in the VM memory (registers, CSRs, TLBs): what a snapshot copies. */
export function hartStateBlock(memory: WebAssembly.Memory, hart: number): Uint8Array {
  return new Uint8Array(memory.buffer, L.HART_BASE + hart * L.HART_STRIDE, L.HART_STRIDE);
}

function setControl(control: { words: Int32Array; index: number }, value: number): void {
  Atomics.store(control.words, control.index, value);
  Atomics.notify(control.words, control.index);
}

/**
 * A hart's thread: runs the hart in slices until the device host halts the machine. Blocks the thread
 * (MMIO round trips, WFI sleeps), so it must run in a worker of its own. On a guest reboot it stops,
 * acknowledges, waits for the device host to load the images again and resets to the boot ROM; asked to
 * pause, it parks between slices until the device host has saved the machine. With several harts
 * (`harts`, each in its own thread), the last to stop acknowledges for all.
 * Call after the device host loaded the images and `runner` was reset.
 */
export function runHart(
  runner: HartRunner,
  memory: WebAssembly.Memory,
  tohost?: number,
  budget = SLICE_INSTRUCTIONS,
  harts = 1,
  fault?: HartFault,
): void {
  const control = controlWord(memory);
  /** Counts this hart in; the last hart to stop for `request` acknowledges it, then every hart parks. */
  const stopFor = (request: number, ack: number): void => {
    if (Atomics.add(control.words, L.CONTROL_ACKS / 4, 1) + 1 === harts) {
      Atomics.store(control.words, control.index, ack);
      ringDeviceHost(memory);
    }
    for (;;) {
      const state = Atomics.load(control.words, control.index);
      if (state !== request && state !== ack) return;
      Atomics.wait(control.words, control.index, state);
    }
  };
  // Time spent running the hart (an MMIO round trip included, a WFI sleep or a parked pause not),
  // published in whole ms for the VM's CPU figure (hartBusyMs).
  const busyIndex = L.HART_BUSY_MS / 4 + runner.hartId;
  let busyMs = Atomics.load(control.words, busyIndex);
  // Odd while a slice runs: the device host's watch (hart-threads.ts) tells a hart that stopped answering
  // inside one from one asleep in WFI or parked, which are between slices.
  const slicesIndex = L.HART_SLICES / 4 + runner.hartId;
  for (;;) {
    const state = Atomics.load(control.words, control.index);
    if (state === L.CONTROL_HALT) return;
    if (state === L.CONTROL_PAUSE) {
      // Between slices the state block is complete (pc, instret): the device host copies it now.
      stopFor(L.CONTROL_PAUSE, L.CONTROL_PAUSED);
      continue;
    }
    if (state === L.CONTROL_RESET) {
      stopFor(L.CONTROL_RESET, L.CONTROL_RESET_ACK);
      runner.reset(BigInt(MEMORY_MAP.bootRom.base), tohost);
      continue;
    }
    const seen = runner.wakeCount;
    const began = performance.now();
    Atomics.add(control.words, slicesIndex, 1);
    const reason = runner.run(budget);
    if (fault && runner.hart.instret >= BigInt(fault.afterInstructions)) injectFault(fault);
    Atomics.add(control.words, slicesIndex, 1);
    busyMs += performance.now() - began;
    Atomics.store(control.words, busyIndex, Math.floor(busyMs));
    // A bare-metal program's tohost word is read by the device host: let it look now.
    if (reason === L.STOP_TOHOST) ringDeviceHost(memory);
    // The device host bumps the wake word after any line change, halt or reset: if that happened since
    // `seen` was read (before run() looked at mip), the sleep returns at once.
    if (reason === L.STOP_WFI && runner.waiting) runner.sleep(seen);
  }
}

/**
 * A fault to inject into a hart's thread, for the tests of what the VM does when a hart's worker fails
 * (docs/harts.md): after `afterInstructions` guest instructions the thread throws (`crash`, as an exception
 * in the core would) or stops answering in the middle of a slice (`hang`, as a host-side endless loop would).
 */
export interface HartFault {
  readonly kind: 'crash' | 'hang';
  readonly afterInstructions: number;
}

function injectFault(fault: HartFault): void {
  if (fault.kind === 'crash')
    throw new Error(`a crash injected for a test after ${fault.afterInstructions} instructions`);
  // Blocks this thread for good without spending a host core on it; terminate() ends it.
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}

/** Milliseconds the threads of the machine's `harts` harts have spent running them, summed (runHart publishes them). */
export function hartBusyMs(memory: WebAssembly.Memory, harts: number): number {
  const control = controlWord(memory);
  let sum = 0;
  for (let hart = 0; hart < harts; hart++) sum += Atomics.load(control.words, L.HART_BUSY_MS / 4 + hart);
  return sum;
}

/** What a hart's worker gets (workers/hart.worker.ts in the browser, scripts/smp/hart-thread.ts in Node). */
export interface HartThreadData {
  readonly memory: WebAssembly.Memory;
  /** The CPU core's shared-memory build. */
  readonly coreModule: WebAssembly.Module;
  readonly hartId: number;
  /** How many harts the machine has. */
  readonly harts: number;
  /** Bytes of guest RAM. */
  readonly ramSize: number;
  /** A bare-metal program's tohost word, as the device host found it. */
  readonly tohost?: number;
  /** Continue from the state block as it stands in the memory (a restored snapshot) instead of the boot ROM. */
  readonly restored: boolean;
  /** See HartOptions.jitThreshold (0 = interpreter only); absent = the core's default. */
  readonly jitThreshold?: number;
  /** Tests only: a fault this hart's thread injects into itself (HartFault). */
  readonly debugFault?: HartFault;
}

/**
 * A hart's worker: builds its runner over a mailbox to the device host and runs it until the machine
 * halts. The core runs afterStateLoad in this thread for a restored hart: the JIT's translations and the
 * core's own caches belong to the thread that runs it.
 */
export function runHartThread(data: HartThreadData): void {
  const runner = new HartRunner({
    coreModule: data.coreModule,
    memory: data.memory,
    hartId: data.hartId,
    ramSize: data.ramSize,
    bus: new MailboxBus(data.memory, data.hartId),
    clock: sharedGuestClock(data.memory),
    harts: data.harts,
    ...(data.jitThreshold !== undefined ? { jitThreshold: data.jitThreshold } : {}),
  });
  if (data.restored) runner.hart.loadState(hartStateBlock(data.memory, data.hartId).slice());
  else runner.reset(BigInt(MEMORY_MAP.bootRom.base), data.tohost);
  runHart(runner, data.memory, data.tohost, SLICE_INSTRUCTIONS, data.harts, data.debugFault);
}
