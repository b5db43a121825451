/**
 * Drives a Machine inside its worker: runs instruction slices, services the VM's host ports between
 * slices (the console, and any device that talks to the host through a channel), and sleeps in
 * Atomics.wait while the guest idles in WFI, so an idle VM costs no CPU. It returns to the worker's
 * event loop every few milliseconds so that control messages get through.
 *
 * Without shared memory (a page that is not cross-origin isolated) Atomics.wait cannot be woken by
 * anyone, so the loop instead ends its turn and awaits the doorbell asynchronously: input then arrives
 * as a message on the same event loop and rings the doorbell there. The same holds while block requests
 * are in flight: their backends complete them on this event loop, so the loop awaits the first of the
 * doorbell and a completion.
 */
import type { Doorbell } from '../protocol/ring.ts';
import type { Machine, MachineStatus } from './machine.ts';

/** How long the loop runs before it lets the worker's event loop breathe. */
export const TURN_MS = 10;
/** The longest single Atomics.wait, so that control messages are seen even when nobody rings. */
const MAX_SLEEP_MS = 50;

/**
 * A host port as the run loop sees it: a device's end of a channel (workers/protocol/channels.ts). The
 * loop names no device; a new device adds a port to the list. All three are called on the hot path, so
 * they must not allocate when there is nothing to move.
 */
export interface Port {
  /** Before every slice: moves what has arrived to the device, and what the device produced to the channel. */
  service(): void;
  /** Whether the device has input waiting that it has not taken yet: the loop does not sleep then. */
  busy(): boolean;
  /** At the end of every turn and before a halt: makes the port's output visible to the host. */
  flush(): void;
}

export interface RunLoopOptions {
  /** The host ports, serviced in order. */
  readonly ports: readonly Port[];
  /** What the host (or an arriving message) rings for input: the loop sleeps on it. */
  readonly doorbell: Doorbell;
  /** Called after every slice (statistics). */
  readonly onSlice?: () => void;
  /** Called at the end of every turn, before the loop yields. */
  readonly onTurn?: () => void;
}

export type HaltedStatus = Extract<MachineStatus, { kind: 'halted' }>;

export class RunLoop {
  readonly #machine: Machine;
  readonly #ports: readonly Port[];
  readonly #doorbell: Doorbell;
  readonly #onSlice: (() => void) | undefined;
  readonly #onTurn: (() => void) | undefined;
  #paused = false;
  #stopped = false;
  #yield: () => Promise<void>;
  #busyMs = 0;

  constructor(machine: Machine, options: RunLoopOptions) {
    this.#machine = machine;
    this.#ports = options.ports;
    this.#doorbell = options.doorbell;
    this.#onSlice = options.onSlice;
    this.#onTurn = options.onTurn;
    this.#yield = makeYield();
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#machine.clock.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#machine.clock.resume();
    this.#doorbell.ring();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Milliseconds this thread spent in the loop's turns, its sleeps (Atomics.wait) excluded: the host CPU
   * the VM used, for the page's CPU figure. Time between turns (the event loop's, awaiting the doorbell) is not in it.
   */
  get busyMs(): number {
    return this.#busyMs;
  }

  /** Ends run() at the next turn without a guest halt. */
  stop(): void {
    this.#stopped = true;
    this.#doorbell.ring();
  }

  /** Runs until the guest halts (or stop()); resolves with the halt, or undefined when stopped. */
  async run(): Promise<HaltedStatus | undefined> {
    const machine = this.#machine;
    const ports = this.#ports;
    const doorbell = this.#doorbell;
    let lastTask = performance.now();
    while (!this.#stopped) {
      const turnStart = performance.now();
      const turnEnd = turnStart + TURN_MS;
      let sleptMs = 0;
      // Set when the guest idles (or the VM is paused) and the doorbell cannot block: wait asynchronously.
      // `io`: block requests were in flight, so a completion also ends the wait (even one during the yield).
      let idle: { seen: number; ms: number; io: boolean } | undefined;
      while (!this.#stopped && performance.now() < turnEnd) {
        if (this.#paused) {
          if (doorbell.canBlock) sleptMs += this.#sleep(doorbell.value(), MAX_SLEEP_MS);
          else idle = { seen: doorbell.value(), ms: MAX_SLEEP_MS, io: false };
          break;
        }
        const seen = doorbell.value();
        for (let i = 0; i < ports.length; i++) ports[i]!.service();
        const status = machine.runSlice();
        this.#onSlice?.();
        if (status.kind === 'halted') {
          this.#endTurn();
          this.#busyMs += performance.now() - turnStart - sleptMs;
          return status;
        }
        if (status.kind === 'idle' && !this.#busy()) {
          const ms = Math.min(status.wakeInMs ?? MAX_SLEEP_MS, MAX_SLEEP_MS);
          if (ms > 0) {
            // Block completions arrive on this thread's event loop, which Atomics.wait would hold up.
            if (doorbell.canBlock && machine.io.pending === 0) sleptMs += this.#sleep(seen, ms);
            else {
              idle = { seen, ms, io: machine.io.pending > 0 };
              break;
            }
          }
        }
      }
      this.#endTurn();
      this.#busyMs += performance.now() - turnStart - sleptMs;
      // A request the backend answers from memory (the disk overlay) completes as a microtask, and so does
      // a wait on a doorbell rung meanwhile: a guest that waits on one after another would hold the event
      // loop, and the control messages on it, for as long as it does (the page calls the worker stuck).
      // So every TURN_MS the loop lets a task through, after the guest's turn rather than before it.
      if (!idle || performance.now() - lastTask >= TURN_MS) {
        await this.#yield();
        lastTask = performance.now();
      }
      if (idle && !this.#stopped) {
        const wake = doorbell.wait(idle.seen, idle.ms);
        await (idle.io ? Promise.race([wake, machine.io.nextCompletion()]) : wake);
      }
    }
    return undefined;
  }

  /** Sleeps on the doorbell; returns how long it slept. */
  #sleep(seen: number, ms: number): number {
    const began = performance.now();
    this.#doorbell.sleep(seen, ms);
    return performance.now() - began;
  }

  #busy(): boolean {
    const ports = this.#ports;
    for (let i = 0; i < ports.length; i++) if (ports[i]!.busy()) return true;
    return false;
  }

  #endTurn(): void {
    const ports = this.#ports;
    for (let i = 0; i < ports.length; i++) ports[i]!.flush();
    this.#onTurn?.();
  }
}

/** A zero-delay macrotask (setTimeout clamps nested timers to 4 ms in browsers; a message does not). */
export function makeYield(): () => Promise<void> {
  // Node drains a MessagePort in one go while its handler keeps posting, so there a message ping-pong
  // would starve I/O, timers and parentPort messages; setImmediate runs after them.
  const setImmediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  if (setImmediate) return () => new Promise<void>((resolve) => void setImmediate(resolve));
  const channel = new MessageChannel();
  let resolve: (() => void) | undefined;
  channel.port1.onmessage = () => resolve?.();
  return () =>
    new Promise<void>((r) => {
      resolve = r;
      channel.port2.postMessage(0);
    });
}
