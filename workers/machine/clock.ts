/**
 * Guest time: the CLINT's mtime, in ticks of TIMEBASE_FREQUENCY (10 MHz, as on QEMU virt). It follows
 * host real time while the VM runs and stands still while it is paused, so a guest never sees the
 * host's pauses (DESIGN.md §2: mtime must keep running correctly across pause, snapshot and restore).
 *
 * `ticks()` never goes backwards between two `setTicks` calls, even if the host clock does (Date-based
 * fakes, or a host clock with coarse, jittery resolution).
 *
 * The clock's epoch (guest ticks at a host instant, and whether time runs) lives in a small block of
 * memory: by default its own, or the VM memory's shared block (layout.ts CLOCK_EPOCH) when harts run in
 * other threads than the devices. Then every thread has its own GuestClock over the same epoch: the
 * device host's changes it (pause, resume, a guest write to mtime, restore), each hart's only reads it,
 * so every thread computes the same guest time. The writer publishes under a seqlock (an odd sequence
 * number while it writes), so a reader never sees half an update. Their `now` must then count from one
 * origin in every thread: hostEpochNow, not performance.now, whose origin is each thread's start.
 */
import type { GuestTimeSource } from '../bus/time-source.ts';
import { TIMEBASE_FREQUENCY } from './memory-map.ts';

const TICKS_PER_MS = TIMEBASE_FREQUENCY / 1000;

export interface GuestClockState {
  v: 1;
  /** Guest time at save, decimal (bigint does not survive JSON). */
  ticks: string;
}

/** Host time in ms from one origin in every thread of the process (performance.now counts from each
 * thread's own start). */
export const hostEpochNow = (): number => performance.timeOrigin + performance.now();

/** Bytes of a clock epoch: seq, running, set-generation (i32) and a pad, guest ticks (i64), host ms (f64). */
export const CLOCK_EPOCH_BYTES = 32;
const SEQ = 0;
const RUNNING = 1;
/** Bumped by every setTicks: each reader's monotonic floor holds only within one generation. */
const GENERATION = 2;
const BASE_TICKS = 2; // BigInt64Array index (byte 16)
const BASE_MS = 3; // Float64Array index (byte 24)

export class GuestClock implements GuestTimeSource {
  readonly frequency = TIMEBASE_FREQUENCY;
  readonly #now: () => number;
  readonly #words: Int32Array;
  readonly #ticks: BigInt64Array;
  readonly #ms: Float64Array;
  /** The largest value ticks() returned in generation #floorGeneration: the monotonic floor. */
  #floor = 0n;
  #floorGeneration = 0;

  /**
   * `now` is host time in milliseconds. The default is wrapped in an arrow because a bare
   * `performance.now` called without its receiver throws "Illegal invocation" in browsers.
   * Without `epoch`, the clock keeps its own and starts paused at tick 0; call resume() when the VM
   * starts running. With `epoch` (CLOCK_EPOCH_BYTES at `byteOffset`, 8-aligned), it follows that one.
   */
  constructor(now: () => number = () => performance.now(), epoch?: { buffer: ArrayBufferLike; byteOffset: number }) {
    this.#now = now;
    const buffer = epoch?.buffer ?? new ArrayBuffer(CLOCK_EPOCH_BYTES);
    const offset = epoch?.byteOffset ?? 0;
    this.#words = new Int32Array(buffer, offset, 4);
    this.#ticks = new BigInt64Array(buffer, offset, 4);
    this.#ms = new Float64Array(buffer, offset, 4);
    this.#floorGeneration = Atomics.load(this.#words, GENERATION);
  }

  get running(): boolean {
    return Atomics.load(this.#words, RUNNING) !== 0;
  }

  ticks(): bigint {
    let baseTicks: bigint;
    let baseMs: number;
    let running: boolean;
    let generation: number;
    for (;;) {
      const seq = Atomics.load(this.#words, SEQ);
      baseTicks = BigInt.asUintN(64, Atomics.load(this.#ticks, BASE_TICKS));
      baseMs = this.#ms[BASE_MS]!;
      running = Atomics.load(this.#words, RUNNING) !== 0;
      generation = Atomics.load(this.#words, GENERATION);
      if ((seq & 1) === 0 && Atomics.load(this.#words, SEQ) === seq) break;
    }
    let t = baseTicks;
    if (running) {
      const elapsedMs = this.#now() - baseMs;
      if (elapsedMs > 0) t += BigInt(Math.floor(elapsedMs * TICKS_PER_MS));
    }
    if (generation !== this.#floorGeneration) {
      this.#floorGeneration = generation;
      this.#floor = t;
      return t;
    }
    if (t < this.#floor) return this.#floor;
    this.#floor = t;
    return t;
  }

  /** Stops guest time (VM paused); idempotent. */
  pause(): void {
    if (!this.running) return;
    const ticks = this.ticks();
    this.#write(() => {
      Atomics.store(this.#ticks, BASE_TICKS, ticks);
      Atomics.store(this.#words, RUNNING, 0);
    });
  }

  /** Restarts guest time from where it stopped; idempotent. */
  resume(): void {
    if (this.running) return;
    const now = this.#now();
    this.#write(() => {
      this.#ms[BASE_MS] = now;
      Atomics.store(this.#words, RUNNING, 1);
    });
  }

  /** Sets guest time (mtime write, restore): ticks() returns `ticks` now and continues from there. */
  setTicks(ticks: bigint): void {
    const t = BigInt.asUintN(64, ticks);
    const now = this.#now();
    this.#write(() => {
      Atomics.store(this.#ticks, BASE_TICKS, BigInt.asIntN(64, t));
      this.#ms[BASE_MS] = now;
      Atomics.add(this.#words, GENERATION, 1);
    });
    this.#floor = t;
    this.#floorGeneration = Atomics.load(this.#words, GENERATION);
  }

  /**
   * Host milliseconds until guest time reaches `ticks`: 0 if it already has, Infinity while paused
   * (time will not get there by waiting). Rounded up, so a sleeper that wakes after this many ms
   * finds the deadline reached.
   */
  msUntil(ticks: bigint): number {
    const now = this.ticks();
    if (ticks <= now) return 0;
    if (!this.running) return Infinity;
    return Math.ceil(Number(ticks - now) / TICKS_PER_MS);
  }

  saveState(): GuestClockState {
    return { v: 1, ticks: this.ticks().toString() };
  }

  /** Restores guest time; the running/paused state is the caller's (restore paused, then resume). */
  loadState(state: GuestClockState): void {
    if (state.v !== 1) throw new Error(`clock: unknown state version ${String(state.v)}`);
    this.setTicks(BigInt(state.ticks));
  }

  /** One change of the epoch under the seqlock (one writer: the thread that owns the devices). */
  #write(change: () => void): void {
    Atomics.add(this.#words, SEQ, 1);
    change();
    Atomics.add(this.#words, SEQ, 1);
  }
}
