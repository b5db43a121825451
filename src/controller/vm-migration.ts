/**
 * "Move here": a running VM moves live from the tab that runs it to another tab of the app (issue 15
 * item 2; docs/migration.md). The source copies the guest's state while it runs, in pre-copy rounds of
 * snapshots (the first full, each next one a child holding only the pages and disk blocks changed since
 * the round before: the snapshot machinery of workers/machine/snapshot.ts), then pauses the guest for a
 * last, small round with the CPU and device state, flushes the disk's overlay to IndexedDB, and hands the
 * chain and the console's scrollback over a BroadcastChannel. The target restores it paused, and runs it
 * once it holds the VM's Web Lock (vm-lock.ts).
 *
 * The protocol, each step with a timeout; `abort` from either side ends it at any step:
 *
 *   target                               source (holds the VM's lock)
 *   offer ───────────────────────────▶
 *         ◀─────────────────────────── accept
 *         ◀─────────────────────────── round 1 (full), 2, … (child)     the guest runs on
 *   received ────────────────────────▶  (one per round)
 *         ◀─────────────────────────── final (child, scrollback)       the guest is paused
 *   (restores it, paused) ready ─────▶
 *         ◀─────────────────────────── commit                         the source lets the lock go
 *   (takes the lock, resumes) running ▶                                 the source ends its worker
 *
 * Never in both: a tab runs the guest only while it holds the VM's lock, and the source pauses before it
 * lets the lock go. Never in neither: until `commit` the source keeps the lock and resumes its guest on
 * any failure; after it, the source keeps its paused worker until it hears `running`, and if it does not,
 * it takes the lock back when it is free (the target is gone) and resumes. A target whose source vanished
 * after `ready` (its tab closed, freeing the lock) runs the VM it holds.
 */
import { z } from 'zod';
import { SCROLLBACK_BYTES } from './console-log.ts';

export const MIGRATION_CHANNEL = 'tabvm-vm-migration';

/** How long each step may take before the side waiting for it gives up (ms). */
export interface MigrationTimeouts {
  /** The tab running the VM answers an offer. */
  readonly offer: number;
  /** The target says it received a round (it only keeps the bytes). */
  readonly received: number;
  /** The source sends its next round (a capture and its compression: seconds for a Debian VM under load). */
  readonly round: number;
  /** The target has restored the final round, paused. */
  readonly ready: number;
  /** The source lets the VM's lock go and says so. */
  readonly commit: number;
  /** The target waits this long for the lock once told to take it. */
  readonly lock: number;
  /** The source hears that the target runs the VM; otherwise it takes the VM back if the lock is free. */
  readonly running: number;
}

export const MIGRATION_TIMEOUTS: MigrationTimeouts = {
  offer: 3_000,
  received: 15_000,
  round: 60_000,
  ready: 30_000,
  commit: 10_000,
  lock: 5_000,
  running: 15_000,
};

/**
 * Pre-copy ends once a round moved fewer than this many (compressed) bytes, or after MAX_PRECOPY_ROUNDS:
 * the final round, taken while the guest is paused, then holds about as much as one more would.
 */
export const CONVERGED_BYTES = 256 * 1024;
export const MAX_PRECOPY_ROUNDS = 4;

const migration = z.string().min(1).max(64);
const file = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'bytes');
const messageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('offer'), migration, vmId: z.string().min(1).max(200) }),
  z.object({ type: z.literal('accept'), migration }),
  z.object({
    type: z.literal('round'),
    migration,
    round: z.number().int().min(1),
    parent: z.string().nullable(),
    file,
  }),
  z.object({ type: z.literal('received'), migration, round: z.number().int().min(1) }),
  z.object({
    type: z.literal('final'),
    migration,
    round: z.number().int().min(1),
    parent: z.string().nullable(),
    file,
    scrollback: z.array(file).refine((chunks) => chunks.reduce((n, c) => n + c.length, 0) <= SCROLLBACK_BYTES * 2),
    /** When the source paused the guest (performance.timeOrigin + performance.now(): comparable across tabs). */
    pausedAt: z.number(),
    /** Whether the guest was running (a VM the person paused moves paused). */
    running: z.boolean(),
  }),
  z.object({ type: z.literal('ready'), migration }),
  z.object({ type: z.literal('commit'), migration }),
  z.object({ type: z.literal('running'), migration }),
  z.object({ type: z.literal('abort'), migration, reason: z.string().max(500) }),
]);
export type MigrationMessage = z.infer<typeof messageSchema>;
type MessageType = MigrationMessage['type'];

/** The tabs' channel (a BroadcastChannel; a test hands in one of its own). */
export interface MigrationPort {
  postMessage(message: MigrationMessage): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
}

/** The VMs' locks as the protocol uses them (VmLocks). */
export interface MigrationLocks {
  holds(vmId: string): boolean;
  claim(vmId: string, waitMs?: number): Promise<boolean>;
  release(vmId: string): void;
}

/** The running VM in the source tab, as the protocol moves it. */
export interface MigratingVm {
  /** Whether the guest runs (rather than being paused by the person). */
  running(): boolean;
  /**
   * A snapshot file of the VM: full without `parent`, else (when the worker still has it) a child of
   * `parent` holding only what changed since. The guest stands still only for the copy.
   */
  capture(
    parent: string | undefined,
  ): Promise<{ readonly bytes: Uint8Array; readonly id: string; readonly parent: string | null }>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** The disk's held-back writes are stored before this resolves. */
  flushDisks(): Promise<void>;
  scrollback(): Uint8Array[];
  /** The target runs the VM now: the worker here ends (not a power off: the VM lives on there). */
  handOver(): void;
}

/** The VM in the target tab, as the protocol brings it in. */
export interface ArrivingVm {
  /** A pre-copy round arrived (it may unpack it now, while the guest still runs in the other tab). */
  received?(file: Uint8Array, parent: string | null): void;
  /** Restores the chain of snapshot files (full first), paused, with the source's console scrollback. */
  restore(chain: readonly Uint8Array[], scrollback: readonly Uint8Array[]): Promise<void>;
  resume(): Promise<void>;
  /** The move failed after the restore: the paused worker here ends, and nothing is recorded. */
  discard(): void;
}

/** What a move cost, as the target measured it. */
export interface MigrationReport {
  /** Rounds sent, the final one included. */
  readonly rounds: number;
  /** Bytes of snapshot files moved, all rounds; and of the final round alone. */
  readonly bytes: number;
  readonly finalBytes: number;
  /** From the source pausing the guest to the guest running here. */
  readonly pauseMs: number;
  /** From the offer to the guest running here. */
  readonly totalMs: number;
}

export class MigrationError extends Error {
  override readonly name: string = 'MigrationError';
}

/** The other tab did not take its step in time. */
class MigrationTimeout extends MigrationError {
  override readonly name = 'MigrationTimeout';
}

const wallClock = (): number => performance.timeOrigin + performance.now();
const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;

/** Messages of one migration, waited for one at a time; an `abort` fails the wait. */
class Mailbox {
  readonly #queue: MigrationMessage[] = [];
  #wake: (() => void) | undefined;

  push(message: MigrationMessage): void {
    this.#queue.push(message);
    this.#wake?.();
  }

  async next<T extends MessageType>(
    types: readonly T[],
    timeoutMs: number,
    waitingFor: string,
  ): Promise<Extract<MigrationMessage, { type: T }>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const at = this.#queue.findIndex((m) => m.type === 'abort' || (types as readonly string[]).includes(m.type));
      if (at >= 0) {
        const message = this.#queue.splice(at, 1)[0]!;
        if (message.type === 'abort') throw new MigrationError(`the other tab stopped the move: ${message.reason}`);
        return message as Extract<MigrationMessage, { type: T }>;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new MigrationTimeout(`the other tab did not ${waitingFor} within ${seconds(timeoutMs)}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }
}

/**
 * One tab's end of the migrations: it answers offers for the VMs it runs (`source`), and moves VMs
 * here (`moveHere`).
 */
export class TabMigrations {
  readonly #port: MigrationPort;
  readonly #locks: MigrationLocks;
  readonly #timeouts: MigrationTimeouts;
  /**
   * Asked when another tab offers to take `vmId`: false if this tab cannot send it (it does not run
   * it); otherwise it runs `send` with the VM (once the operation on it under way is done, and keeping
   * others away meanwhile) and returns true.
   */
  readonly #source: (vmId: string, send: (vm: MigratingVm) => Promise<void>) => boolean;
  readonly #mailboxes = new Map<string, Mailbox>();
  readonly #listener = (event: MessageEvent): void => this.#receive(event.data);

  constructor(
    port: MigrationPort,
    locks: MigrationLocks,
    source: (vmId: string, send: (vm: MigratingVm) => Promise<void>) => boolean,
    timeouts: MigrationTimeouts = MIGRATION_TIMEOUTS,
  ) {
    this.#port = port;
    this.#locks = locks;
    this.#source = source;
    this.#timeouts = timeouts;
    port.addEventListener('message', this.#listener);
  }

  dispose(): void {
    this.#port.removeEventListener('message', this.#listener);
  }

  #receive(data: unknown): void {
    const parsed = messageSchema.safeParse(data);
    if (!parsed.success) return;
    const message = parsed.data;
    if (message.type === 'offer') {
      if (this.#mailboxes.has(message.migration) || !this.#locks.holds(message.vmId)) return;
      const mailbox = new Mailbox();
      this.#mailboxes.set(message.migration, mailbox);
      const accepted = this.#source(message.vmId, (vm) => this.#send(message.migration, message.vmId, vm, mailbox));
      if (!accepted) {
        this.#mailboxes.delete(message.migration);
        this.#post({ type: 'abort', migration: message.migration, reason: 'the VM does not run there any more' });
      }
      return;
    }
    this.#mailboxes.get(message.migration)?.push(message);
  }

  #post(message: MigrationMessage): void {
    this.#port.postMessage(message);
  }

  /** The source's side: pre-copy rounds, the final round, then the handover. Throws if the VM stays here. */
  async #send(id: string, vmId: string, vm: MigratingVm, mailbox: Mailbox): Promise<void> {
    const t = this.#timeouts;
    let paused = false;
    const running = vm.running();
    try {
      this.#post({ type: 'accept', migration: id });
      let parent: string | undefined;
      let round = 1;
      for (; ; round++) {
        const capture = await vm.capture(parent);
        this.#post({ type: 'round', migration: id, round, parent: capture.parent, file: capture.bytes });
        await mailbox.next(['received'], t.received, 'take a pre-copy round');
        parent = capture.id;
        if (round >= MAX_PRECOPY_ROUNDS || (round > 1 && capture.bytes.length < CONVERGED_BYTES)) break;
      }
      const pausedAt = wallClock();
      if (running) {
        await vm.pause();
        paused = true;
      }
      const final = await vm.capture(parent);
      await vm.flushDisks();
      this.#post({
        type: 'final',
        migration: id,
        round: round + 1,
        parent: final.parent,
        file: final.bytes,
        scrollback: vm.scrollback(),
        pausedAt,
        running,
      });
      await mailbox.next(['ready'], t.ready, 'restore the VM');
    } catch (error) {
      this.#mailboxes.delete(id);
      this.#post({ type: 'abort', migration: id, reason: (error as Error).message });
      if (paused) await vm.resume();
      throw error;
    }
    // The point of no return for this tab's lock: from here whoever holds it runs the VM.
    this.#locks.release(vmId);
    this.#post({ type: 'commit', migration: id });
    try {
      await mailbox.next(['running'], t.running, 'run the VM');
      vm.handOver();
    } catch (error) {
      // The target is gone, or could not take the lock: the VM comes back here if the lock is free.
      if (await this.#locks.claim(vmId)) {
        this.#post({ type: 'abort', migration: id, reason: 'the VM went back to the tab it came from' });
        if (paused) await vm.resume();
        throw error;
      }
      vm.handOver();
    } finally {
      this.#mailboxes.delete(id);
    }
  }

  /**
   * Moves the VM `vmId`, which another tab runs, into `vm` here; resolves once it runs here, with what
   * the move cost. Throws a MigrationError if it did not move (the VM runs on in the other tab).
   */
  async moveHere(vmId: string, vm: ArrivingVm): Promise<MigrationReport> {
    const t = this.#timeouts;
    const id = crypto.randomUUID();
    const mailbox = new Mailbox();
    this.#mailboxes.set(id, mailbox);
    const began = wallClock();
    let restored = false;
    let claimed = false;
    try {
      this.#post({ type: 'offer', migration: id, vmId });
      await mailbox.next(['accept'], t.offer, 'answer');
      let chain: Uint8Array[] = [];
      let bytes = 0;
      let rounds = 0;
      let final: Extract<MigrationMessage, { type: 'final' }> | undefined;
      while (!final) {
        const message = await mailbox.next(['round', 'final'], t.round, 'send the VM');
        // A round that came back full (the source lost its base) starts the chain again.
        chain = message.parent === null ? [message.file] : [...chain, message.file];
        bytes += message.file.length;
        rounds++;
        if (message.type === 'final') final = message;
        else {
          this.#post({ type: 'received', migration: id, round: message.round });
          vm.received?.(message.file, message.parent);
        }
      }
      await vm.restore(chain, final.scrollback);
      restored = true;
      this.#post({ type: 'ready', migration: id });
      let committed = true;
      try {
        await mailbox.next(['commit'], t.commit, 'let the VM go');
      } catch (error) {
        // No word from the source: if its tab closed, the lock is free and the VM lives only here.
        if (!(error instanceof MigrationTimeout)) throw error;
        committed = false;
      }
      claimed = await this.#locks.claim(vmId, committed ? t.lock : 0);
      if (!claimed) throw new MigrationError('the VM could not be taken over: the other tab still holds it');
      if (final.running) await vm.resume();
      this.#post({ type: 'running', migration: id });
      const now = wallClock();
      return {
        rounds,
        bytes,
        finalBytes: final.file.length,
        pauseMs: now - final.pausedAt,
        totalMs: now - began,
      };
    } catch (error) {
      if (restored) vm.discard();
      if (claimed) this.#locks.release(vmId);
      this.#post({ type: 'abort', migration: id, reason: (error as Error).message });
      throw error instanceof MigrationError ? error : new MigrationError((error as Error).message);
    } finally {
      this.#mailboxes.delete(id);
    }
  }
}
