/**
 * A VM with several harts inside the VM runtime (docs/harts.md): the runtime's thread is the device host
 * (its bus and devices, the host ports, the panic watch, statistics) and each hart runs in a worker of its
 * own over the one shared VM memory, started through the runner's `spawnHart` (a nested Worker in the
 * browser, a worker thread in Node). `ThreadedMachine` is what the runtime holds instead of a one-thread
 * Machine, and `ThreadedRunLoop` what it runs instead of a RunLoop: the same surface, so pause, snapshot,
 * reset and statistics read the same in vm-runtime.ts.
 */
import { createVmMemory } from '../cpu/core.ts';
import * as L from '../cpu/layout.ts';
import type { IoTracker } from '../bus/io-tracker.ts';
import type { Uart16550 } from '../devices/uart16550.ts';
import type { GuestClock } from '../machine/clock.ts';
import { DeviceHost, type MachineStatus } from '../machine/device-host.ts';
import type { MemoryLoad } from '../machine/loader.ts';
import type { MachineConfig, MachinePorts, MachineState } from '../machine/machine.ts';
import type { HaltedStatus, RunLoopOptions } from '../machine/run-loop.ts';
import {
  DeviceHostLoop,
  hartBusyMs,
  hartStateBlock,
  sharedGuestClock,
  type HartThreadData,
} from '../machine/threads.ts';

/** A hart's worker as the runtime holds it. */
export interface HartWorker {
  terminate(): void;
}

/**
 * Starts a worker that runs `runHartThread(data)` (workers/machine/threads.ts); `onError` is called once
 * with one line if the worker dies (an exception, a failed load).
 */
export type SpawnHart = (data: HartThreadData, onError: (message: string) => void) => HartWorker;

export class ThreadedMachine {
  readonly config: MachineConfig;
  readonly memory: WebAssembly.Memory;
  readonly devices: DeviceHost;
  readonly harts: number;
  readonly #spawn: SpawnHart;
  /** Whether the harts' state blocks came from a snapshot (their workers continue them) rather than power-on. */
  readonly #restored: boolean;
  readonly #instret: BigUint64Array[];

  /** Powers on (or, with `restore`, builds in that state) a machine of `harts` harts; none runs until run(). */
  constructor(config: MachineConfig, ports: MachinePorts, harts: number, spawn: SpawnHart, restore?: MachineState) {
    this.config = config;
    this.harts = harts;
    this.#spawn = spawn;
    this.memory = createVmMemory(config.ramSize, true);
    this.devices = new DeviceHost({ config, ports, memory: this.memory, harts, clock: sharedGuestClock(this.memory) });
    this.#instret = Array.from(
      { length: harts },
      (_, hart) => new BigUint64Array(this.memory.buffer, L.HART_BASE + hart * L.HART_STRIDE, L.HART_STRIDE / 8),
    );
    this.#restored = restore !== undefined;
    if (restore) {
      if (restore.cpu.length !== harts)
        throw new Error(`the snapshot's VM has ${restore.cpu.length} CPUs, this VM has ${harts}`);
      restore.cpu.forEach((block, hart) => {
        if (block.length !== L.HART_STRIDE)
          throw new Error(`machine: hart state is ${block.length} bytes, expected ${L.HART_STRIDE}`);
        // The state blocks first: the devices re-drive the harts' interrupt lines as they load.
        hartStateBlock(this.memory, hart).set(block);
      });
      this.devices.loadState(restore.devices);
    } else this.devices.loadImages();
    this.devices.clock.resume();
  }

  /** The harts taken together, as the runtime's statistics read one hart. */
  get hart(): { readonly instret: bigint; readonly waiting: boolean } {
    let instret = 0n;
    let waiting = true;
    for (const words of this.#instret) {
      instret += words[L.INSTRET / 8]!;
      if (words[L.WFI_STATE / 8] === 0n) waiting = false;
    }
    return { instret, waiting };
  }

  get ram(): Uint8Array {
    return this.devices.ram;
  }

  get io(): IoTracker {
    return this.devices.io;
  }

  get clock(): GuestClock {
    return this.devices.clock;
  }

  get uart(): Uart16550 {
    return this.devices.uart;
  }

  get bootLoads(): readonly MemoryLoad[] {
    return this.devices.bootLoads;
  }

  get resets(): number {
    return this.devices.resets;
  }

  get status(): MachineStatus {
    return this.devices.status;
  }

  /** Every hart's state block and the devices' records: call it with the harts parked (ThreadedRunLoop.pause). */
  saveState(): MachineState {
    const cpu = Array.from({ length: this.harts }, (_, hart) => hartStateBlock(this.memory, hart).slice());
    return { cpu, devices: this.devices.saveState() };
  }

  /** The loop that runs this machine: the device host here, the harts in their workers. */
  loop(options: RunLoopOptions): ThreadedRunLoop {
    return new ThreadedRunLoop(this, options, this.#spawn, this.#restored);
  }
}

/** How long a pause waits for every hart to stop before it gives up: a hart that never ends its slice is stuck. */
const PAUSE_TIMEOUT_MS = 20_000;
/**
 * How long a hart may stay in one slice before the VM stops with an error: a slice is SLICE_INSTRUCTIONS,
 * milliseconds of work even on a loaded host, so a hart still in it after this long has stopped answering.
 */
export const HART_STUCK_MS = 30_000;
/** How often the device host looks at the harts' slice counters. */
export const HART_WATCH_INTERVAL_MS = 1_000;

/**
 * Watches the harts' slice counters (HART_SLICES, odd inside a slice) from the device host's thread.
 * Only time this thread saw pass counts: a look that comes much later than asked (the machine was
 * suspended, or so loaded that this thread did not run either) counts as at most two intervals, so a
 * host that is merely slow never makes a hart look stuck.
 */
export class HartWatch {
  readonly #words: Int32Array;
  readonly #last: number[];
  readonly #stuckMs: number[];
  readonly #now: () => number;
  #lastLook: number;

  constructor(memory: WebAssembly.Memory, harts: number, now: () => number = () => performance.now()) {
    this.#now = now;
    this.#lastLook = now();
    this.#words = new Int32Array(memory.buffer, L.SHARED_BLOCK + L.HART_SLICES, harts);
    this.#last = Array.from(this.#words);
    this.#stuckMs = new Array<number>(harts).fill(0);
  }

  /** The first hart that has been inside one slice for HART_STUCK_MS, if any. */
  look(): number | undefined {
    const now = this.#now();
    const elapsed = Math.min(Math.max(0, now - this.#lastLook), 2 * HART_WATCH_INTERVAL_MS);
    this.#lastLook = now;
    for (let hart = 0; hart < this.#words.length; hart++) {
      const slices = Atomics.load(this.#words, hart);
      const inSlice = (slices & 1) === 1;
      this.#stuckMs[hart] = inSlice && slices === this.#last[hart] ? this.#stuckMs[hart]! + elapsed : 0;
      this.#last[hart] = slices;
      if (this.#stuckMs[hart]! >= HART_STUCK_MS) return hart;
    }
    return undefined;
  }
}

export class ThreadedRunLoop {
  readonly #machine: ThreadedMachine;
  readonly #loop: DeviceHostLoop;
  readonly #spawn: SpawnHart;
  readonly #restored: boolean;
  #pauseWanted = false;
  #started = false;

  constructor(machine: ThreadedMachine, options: RunLoopOptions, spawn: SpawnHart, restored: boolean) {
    this.#machine = machine;
    this.#spawn = spawn;
    this.#restored = restored;
    this.#loop = new DeviceHostLoop(machine.devices, {
      ports: options.ports,
      wake: options.doorbell,
      onTurn: () => {
        options.onSlice?.();
        options.onTurn?.();
      },
    });
  }

  get paused(): boolean {
    return this.#pauseWanted;
  }

  /** Milliseconds the harts' threads spent running them, all harts summed (the device host's thread mostly sleeps). */
  get busyMs(): number {
    return hartBusyMs(this.#machine.memory, this.#machine.harts);
  }

  /** Parks every hart and stops guest time; resolves once they are parked (refuses a hart that does not stop). */
  pause(): Promise<void> {
    this.#pauseWanted = true;
    const parked = this.#loop.pause();
    if (!this.#started) return parked;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`a CPU did not stop within ${PAUSE_TIMEOUT_MS / 1000} s`)),
        PAUSE_TIMEOUT_MS,
      );
    });
    return Promise.race([parked, stuck]).finally(() => clearTimeout(timer));
  }

  resume(): void {
    this.#pauseWanted = false;
    this.#loop.resume();
  }

  stop(): void {
    this.#loop.stop();
  }

  /**
   * Starts the harts' workers and serves them until the guest halts (its status) or stop() (undefined);
   * rejects when a hart's worker dies or stops answering (HART_STUCK_MS). The workers are terminated when it ends.
   */
  async run(): Promise<HaltedStatus | undefined> {
    const machine = this.#machine;
    this.#started = true;
    const workers: HartWorker[] = [];
    let crash: (error: Error) => void = () => {};
    const crashed = new Promise<never>((_, reject) => (crash = reject));
    let watchTimer: ReturnType<typeof setInterval> | undefined;
    try {
      const common = {
        memory: machine.memory,
        coreModule: machine.config.coreModule,
        harts: machine.harts,
        ramSize: machine.config.ramSize,
        ...(machine.devices.tohost !== undefined ? { tohost: machine.devices.tohost } : {}),
        restored: this.#restored,
      };
      for (let hartId = 0; hartId < machine.harts; hartId++) {
        workers.push(
          this.#spawn({ ...common, hartId }, (message) => crash(new Error(`CPU ${hartId} stopped: ${message}`))),
        );
      }
      const watch = new HartWatch(machine.memory, machine.harts);
      watchTimer = setInterval(() => {
        const stuck = watch.look();
        if (stuck !== undefined)
          crash(new Error(`CPU ${stuck} stopped answering: its worker has been stuck for ${HART_STUCK_MS / 1000} s`));
      }, HART_WATCH_INTERVAL_MS);
      return await Promise.race([this.#loop.run(), crashed]);
    } finally {
      clearInterval(watchTimer);
      this.#loop.stop();
      for (const worker of workers) worker.terminate();
    }
  }
}
