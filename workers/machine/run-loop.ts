/**
 * Drives a Machine inside its worker: runs instruction slices, moves console bytes between the rings and
 * the UART, and sleeps in Atomics.wait while the guest idles in WFI, so an idle VM costs no CPU. It
 * returns to the worker's event loop every few milliseconds so that control messages get through.
 *
 * Without shared memory (a page that is not cross-origin isolated) Atomics.wait cannot be woken by
 * anyone, so the loop instead ends its turn and awaits the doorbell asynchronously: input then arrives
 * as a message on the same event loop and rings the doorbell there. The same holds while block requests
 * are in flight: their backends complete them on this event loop, so the loop awaits the first of the
 * doorbell and a completion.
 */
import type { CharSink } from '../host/char-port.ts';
import type { ByteRing, Doorbell } from '../protocol/ring.ts';
import type { Machine, MachineStatus } from './machine.ts';

/** How long the loop runs before it lets the worker's event loop breathe. */
const TURN_MS = 10;
/** The longest single Atomics.wait, so that control messages are seen even when nobody rings. */
const MAX_SLEEP_MS = 50;

/** The guest→host console: bytes go into the output ring; what does not fit waits here, in order. */
export class RingSink implements CharSink {
  readonly #ring: ByteRing;
  readonly #backlog: number[] = [];

  constructor(ring: ByteRing) {
    this.#ring = ring;
  }

  write(byte: number): void {
    if (this.#backlog.length > 0 || !this.#ring.writeByte(byte)) this.#backlog.push(byte);
  }

  /** Moves the backlog into the ring as room appears. */
  flush(): void {
    if (this.#backlog.length === 0) return;
    const n = this.#ring.write(Uint8Array.from(this.#backlog));
    this.#backlog.splice(0, n);
  }

  get pending(): number {
    return this.#backlog.length;
  }
}

export interface RunLoopPorts {
  readonly input: ByteRing;
  readonly output: RingSink;
  readonly doorbell: Doorbell;
  /** Called after every slice (statistics). */
  readonly onSlice?: () => void;
  /** Called at the end of every turn, before the loop yields (fallback mode ships the output ring). */
  readonly onTurn?: () => void;
}

export type HaltedStatus = Extract<MachineStatus, { kind: 'halted' }>;

export class RunLoop {
  readonly #machine: Machine;
  readonly #ports: RunLoopPorts;
  #paused = false;
  #stopped = false;
  #yield: () => Promise<void>;

  constructor(machine: Machine, ports: RunLoopPorts) {
    this.#machine = machine;
    this.#ports = ports;
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
    this.#ports.doorbell.ring();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Ends run() at the next turn without a guest halt. */
  stop(): void {
    this.#stopped = true;
    this.#ports.doorbell.ring();
  }

  /** Runs until the guest halts (or stop()); resolves with the halt, or undefined when stopped. */
  async run(): Promise<HaltedStatus | undefined> {
    const machine = this.#machine;
    const { input, output, doorbell } = this.#ports;
    while (!this.#stopped) {
      const turnEnd = performance.now() + TURN_MS;
      // Set when the guest idles (or the VM is paused) and the doorbell cannot block: wait asynchronously.
      let idle: { seen: number; ms: number } | undefined;
      while (!this.#stopped && performance.now() < turnEnd) {
        if (this.#paused) {
          if (doorbell.canBlock) doorbell.sleep(doorbell.value(), MAX_SLEEP_MS);
          else idle = { seen: doorbell.value(), ms: MAX_SLEEP_MS };
          break;
        }
        output.flush();
        const seen = doorbell.value();
        while (machine.uart.rxSpace() > 0) {
          const byte = input.readByte();
          if (byte < 0) break;
          machine.uart.receive(byte);
        }
        const status = machine.runSlice();
        this.#ports.onSlice?.();
        if (status.kind === 'halted') {
          output.flush();
          this.#ports.onTurn?.();
          return status;
        }
        if (status.kind === 'idle' && input.available() === 0) {
          const ms = Math.min(status.wakeInMs ?? MAX_SLEEP_MS, MAX_SLEEP_MS);
          if (ms > 0) {
            // Block completions arrive on this thread's event loop, which Atomics.wait would hold up.
            if (doorbell.canBlock && machine.io.pending === 0) doorbell.sleep(seen, ms);
            else {
              idle = { seen, ms };
              break;
            }
          }
        }
      }
      this.#ports.onTurn?.();
      if (idle && !this.#stopped) {
        const wake = doorbell.wait(idle.seen, idle.ms);
        await (machine.io.pending > 0 ? Promise.race([wake, machine.io.nextCompletion()]) : wake);
      } else await this.#yield();
    }
    return undefined;
  }
}

/** A zero-delay macrotask (setTimeout clamps nested timers to 4 ms in browsers; a message does not). */
function makeYield(): () => Promise<void> {
  const channel = new MessageChannel();
  let resolve: (() => void) | undefined;
  channel.port1.onmessage = () => resolve?.();
  return () =>
    new Promise<void>((r) => {
      resolve = r;
      channel.port2.postMessage(0);
    });
}
