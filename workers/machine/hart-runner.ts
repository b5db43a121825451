/**
 * A hart runner: one hart's core (with its TLBs and JIT cache, all in its state block and JIT region of
 * the VM memory), its view of guest time, and the bus its MMIO goes to — the device host's bus directly
 * when both share a thread (Machine), or a mailbox to it when they do not (mmio-mailbox.ts). It knows
 * no device: interrupts reach it as mip bits the device host sets in its state block (HartPins), and a
 * runner asleep in WFI waits on its wake word until one of them changes (docs/harts.md).
 */
import { Hart, type PhysicalBus } from '../cpu/core.ts';
import * as L from '../cpu/layout.ts';
import type { GuestClock } from './clock.ts';

export interface HartRunnerOptions {
  /** The compiled CPU core (workers/cpu/build/core.wasm). */
  readonly coreModule: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly hartId: number;
  /** Bytes of guest RAM. */
  readonly ramSize: number;
  /** Where the core's accesses outside RAM go. */
  readonly bus: PhysicalBus;
  /** This runner's view of guest time (the `time` CSR); in another thread, one over the shared epoch. */
  readonly clock: GuestClock;
  /** How many harts share the memory (FENCE then orders memory across threads); default 1. */
  readonly harts?: number;
  /** See HartOptions.jitThreshold. */
  readonly jitThreshold?: number;
}

export class HartRunner {
  readonly hart: Hart;
  readonly hartId: number;
  readonly clock: GuestClock;

  constructor(options: HartRunnerOptions) {
    const clock = options.clock;
    this.hartId = options.hartId;
    this.clock = clock;
    this.hart = new Hart(
      options.coreModule,
      options.memory,
      options.hartId,
      options.ramSize,
      options.bus,
      () => Number(clock.ticks()),
      {
        ...(options.jitThreshold !== undefined ? { jitThreshold: options.jitThreshold } : {}),
        ...(options.harts !== undefined ? { harts: options.harts } : {}),
      },
    );
  }

  /** Resets the hart into M-mode at `pc`, as power-on and a guest reboot do. */
  reset(pc: bigint, tohost: number | undefined): void {
    this.hart.reset(pc);
    if (tohost !== undefined) this.hart.setField(L.TOHOST_ADDR, BigInt(tohost));
  }

  /** Runs up to `budget` instructions; returns why it stopped (layout.ts STOP_*). */
  run(budget: number): number {
    this.hart.mtime = this.clock.ticks();
    this.hart.run(budget);
    return this.hart.stopReason;
  }

  /** Whether the hart sleeps in WFI with no enabled interrupt pending. */
  get waiting(): boolean {
    return this.hart.waiting;
  }

  /** The wake word's count: read it before run(), and sleep() on it after a WFI stop. */
  get wakeCount(): number {
    return this.hart.pins.wakeCount;
  }

  /**
   * Blocks the thread until an interrupt line of this hart changes after `seen` was read, or
   * `timeoutMs` passed (a worker thread only: the main thread of a page may not block).
   */
  sleep(seen: number, timeoutMs = Infinity): void {
    const pins = this.hart.pins;
    Atomics.wait(pins.wakeWord, pins.wakeIndex, seen, timeoutMs);
  }
}
