/**
 * Guest time: the CLINT's mtime, in ticks of TIMEBASE_FREQUENCY (10 MHz, as on QEMU virt). It follows
 * host real time while the VM runs and stands still while it is paused, so a guest never sees the
 * host's pauses (DESIGN.md §2: mtime must keep running correctly across pause, snapshot and restore).
 *
 * `ticks()` never goes backwards between two `setTicks` calls, even if the host clock does (Date-based
 * fakes, or a host clock with coarse, jittery resolution).
 */
import type { GuestTimeSource } from '../bus/time-source.ts';
import { TIMEBASE_FREQUENCY } from './memory-map.ts';

const TICKS_PER_MS = TIMEBASE_FREQUENCY / 1000;

export interface GuestClockState {
  v: 1;
  /** Guest time at save, decimal (bigint does not survive JSON). */
  ticks: string;
}

export class GuestClock implements GuestTimeSource {
  readonly frequency = TIMEBASE_FREQUENCY;
  readonly #now: () => number;
  /** Guest ticks at host time #baseMs (or frozen guest time while paused). */
  #baseTicks = 0n;
  #baseMs = 0;
  #running = false;
  /** The largest value ticks() returned since the last setTicks: the monotonic floor. */
  #floor = 0n;

  /**
   * `now` is host time in milliseconds. The default is wrapped in an arrow because a bare
   * `performance.now` called without its receiver throws "Illegal invocation" in browsers.
   * The clock starts paused at tick 0; call resume() when the VM starts running.
   */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  get running(): boolean {
    return this.#running;
  }

  ticks(): bigint {
    let t = this.#baseTicks;
    if (this.#running) {
      const elapsedMs = this.#now() - this.#baseMs;
      if (elapsedMs > 0) t += BigInt(Math.floor(elapsedMs * TICKS_PER_MS));
    }
    if (t < this.#floor) return this.#floor;
    this.#floor = t;
    return t;
  }

  /** Stops guest time (VM paused); idempotent. */
  pause(): void {
    if (!this.#running) return;
    this.#baseTicks = this.ticks();
    this.#running = false;
  }

  /** Restarts guest time from where it stopped; idempotent. */
  resume(): void {
    if (this.#running) return;
    this.#baseMs = this.#now();
    this.#running = true;
  }

  /** Sets guest time (mtime write, restore): ticks() returns `ticks` now and continues from there. */
  setTicks(ticks: bigint): void {
    const t = BigInt.asUintN(64, ticks);
    this.#baseTicks = t;
    this.#floor = t;
    this.#baseMs = this.#now();
  }

  /**
   * Host milliseconds until guest time reaches `ticks`: 0 if it already has, Infinity while paused
   * (time will not get there by waiting). Rounded up, so a sleeper that wakes after this many ms
   * finds the deadline reached.
   */
  msUntil(ticks: bigint): number {
    const now = this.ticks();
    if (ticks <= now) return 0;
    if (!this.#running) return Infinity;
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
}
