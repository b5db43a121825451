/**
 * The "Move here" protocol between two tabs, each with its own channel ends and locks over one stand-in
 * lock manager: a move that succeeds, and moves that fail half-way (a tab closed before or after the
 * final round, the source gone, a restore that fails, no tab answering), which must leave the VM running
 * in exactly one tab, never in both and never in neither.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  CONVERGED_BYTES,
  MigrationError,
  TabMigrations,
  type ArrivingVm,
  type MigratingVm,
  type MigrationMessage,
  type MigrationPort,
  type MigrationTimeouts,
} from './vm-migration.ts';
import { VmLocks, type LockApi } from './vm-lock.ts';
import { lockManager } from './test-support/lock-manager.ts';

const FAST: MigrationTimeouts = {
  offer: 300,
  received: 300,
  round: 300,
  ready: 300,
  commit: 300,
  lock: 300,
  running: 600,
};
const VM = 'vm-1';

/** The VM as its source tab runs it: `guest` counts while it runs, as a shell loop would. */
class SourceVm implements MigratingVm {
  state: 'running' | 'paused' | 'handed-over' = 'running';
  guest = 0;
  readonly captures: { id: string; parent: string | null; guest: number; paused: boolean }[] = [];
  flushed = false;
  readonly #timer = setInterval(() => {
    if (this.state === 'running') this.guest++;
  }, 2);

  running(): boolean {
    return this.state === 'running';
  }
  async capture(parent: string | undefined) {
    const id = `capture-${this.captures.length + 1}`;
    this.captures.push({ id, parent: parent ?? null, guest: this.guest, paused: this.state === 'paused' });
    // A full round is large, children small (the pages changed since), so pre-copy converges.
    const bytes = new Uint8Array(parent === undefined ? CONVERGED_BYTES * 4 : 1000);
    new DataView(bytes.buffer).setUint32(0, this.guest, true);
    return { bytes, id, parent: parent ?? null };
  }
  async pause() {
    this.state = 'paused';
  }
  async resume() {
    if (this.state === 'paused') this.state = 'running';
  }
  async flushDisks() {
    this.flushed = true;
  }
  scrollback() {
    return [new TextEncoder().encode('# echo before\r\nbefore\r\n')];
  }
  handOver() {
    this.state = 'handed-over';
    clearInterval(this.#timer);
  }
  dispose() {
    clearInterval(this.#timer);
  }
}

/** The VM as the target tab brings it in. */
class TargetVm implements ArrivingVm {
  state: 'stopped' | 'paused' | 'running' | 'discarded' = 'stopped';
  chain: readonly Uint8Array[] = [];
  scrollback = '';
  /** Set to make restore hang (the tab is closed meanwhile) or fail (a storage error). */
  restoreHangs = false;
  restoreFails = false;
  everRan = false;
  /** The pre-copy rounds handed over as they arrived (the final one comes with restore). */
  readonly rounds: (string | null)[] = [];

  received(_file: Uint8Array, parent: string | null) {
    this.rounds.push(parent);
  }

  async restore(chain: readonly Uint8Array[], scrollback: readonly Uint8Array[]) {
    if (this.restoreFails) throw new Error('the disk overlay could not be stored');
    if (this.restoreHangs) await new Promise(() => {});
    this.chain = chain;
    this.scrollback = scrollback.map((c) => new TextDecoder().decode(c)).join('');
    this.state = 'paused';
  }
  async resume() {
    this.state = 'running';
    this.everRan = true;
  }
  discard() {
    this.state = 'discarded';
  }
  /** The guest counter the last round carried. */
  get guest(): number {
    const last = this.chain.at(-1)!;
    return new DataView(last.buffer, last.byteOffset).getUint32(0, true);
  }
}

/**
 * One tab: its migration channel, its locks (with their own notice channel), and a close() that does
 * what closing a tab does: its channels go silent and the browser frees its locks.
 */
class Tab {
  readonly #channel: BroadcastChannel;
  readonly #lockChannel: BroadcastChannel;
  readonly locks: VmLocks;
  readonly migrations: TabMigrations;
  closed = false;
  /** Called with each message this tab posts (a test closes the tab at a chosen step). */
  onPost: (message: MigrationMessage) => void = () => {};
  sendError: Error | undefined;

  constructor(name: string, api: LockApi, vm: SourceVm | undefined, timeouts = FAST) {
    this.#channel = new BroadcastChannel(name);
    this.#lockChannel = new BroadcastChannel(`${name}-locks`);
    // A closed tab's code runs no more: in the test its timers still fire, but it can take no lock.
    const tabApi: LockApi = {
      request: (name, options, callback) =>
        this.closed ? Promise.resolve(callback(null)) : api.request(name, options, callback),
      query: () => api.query(),
    };
    this.locks = new VmLocks(tabApi, this.#lockChannel);
    const channel = this.#channel;
    const port: MigrationPort = {
      postMessage: (message) => {
        if (this.closed) return;
        channel.postMessage(message);
        this.onPost(message);
      },
      addEventListener: (type, listener) =>
        channel.addEventListener(type, (event) => {
          if (!this.closed) listener(event);
        }),
      removeEventListener: () => {},
    };
    this.migrations = new TabMigrations(
      port,
      this.locks,
      (vmId, send) => {
        if (vmId !== VM || !vm || vm.state === 'handed-over') return false;
        send(vm).catch((error: Error) => (this.sendError = error));
        return true;
      },
      timeouts,
    );
  }

  close(): void {
    this.closed = true;
    this.locks.release(VM);
    this.migrations.dispose();
    this.#channel.close();
    this.#lockChannel.close();
  }
}

let tabs: Tab[] = [];
let vms: SourceVm[] = [];
let names = 0;

/** A source tab that runs the VM (and holds its lock) and a target tab that shows it as elsewhere. */
async function twoTabs(): Promise<{ source: Tab; target: Tab; sourceVm: SourceVm; targetVm: TargetVm }> {
  const name = `test-migration-${++names}`;
  const api = lockManager();
  const sourceVm = new SourceVm();
  const source = new Tab(name, api, sourceVm);
  const target = new Tab(name, api, undefined);
  tabs.push(source, target);
  vms.push(sourceVm);
  expect(await source.locks.claim(VM)).toBe(true);
  return { source, target, sourceVm, targetVm: new TargetVm() };
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => {
  for (const tab of tabs) if (!tab.closed) tab.close();
  for (const vm of vms) vm.dispose();
  tabs = [];
  vms = [];
});

describe('Move here', () => {
  it('moves the running VM: pre-copy rounds while it runs, the final one paused, then the lock', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    await settle(20);
    const report = await target.migrations.moveHere(VM, targetVm);
    await settle(50);

    expect(targetVm.state).toBe('running');
    expect(sourceVm.state).toBe('handed-over');
    expect(target.locks.holds(VM)).toBe(true);
    expect(source.locks.holds(VM)).toBe(false);
    // A full round, then children, each of the one before; only the last taken while the guest was paused.
    const captures = sourceVm.captures;
    expect(captures.length).toBeGreaterThanOrEqual(3);
    expect(captures[0]!.parent).toBeNull();
    for (let i = 1; i < captures.length; i++) expect(captures[i]!.parent).toBe(captures[i - 1]!.id);
    expect(captures.map((c) => c.paused)).toEqual([...captures.slice(1).map(() => false), true]);
    expect(sourceVm.flushed).toBe(true);
    // The target restored the whole chain, whose last round holds the guest as it was paused.
    expect(targetVm.chain.length).toBe(captures.length);
    expect(targetVm.rounds).toEqual(captures.slice(0, -1).map((c) => c.parent));
    expect(targetVm.guest).toBe(captures.at(-1)!.guest);
    expect(targetVm.scrollback).toContain('before');
    expect(report.rounds).toBe(captures.length);
    expect(report.bytes).toBe(targetVm.chain.reduce((n, c) => n + c.length, 0));
    expect(report.finalBytes).toBe(1000);
    expect(report.pauseMs).toBeGreaterThanOrEqual(0);
    expect(report.totalMs).toBeGreaterThanOrEqual(report.pauseMs);
    expect(source.sendError).toBeUndefined();
  });

  it('keeps a VM the person paused paused where it moves', async () => {
    const { target, sourceVm, targetVm } = await twoTabs();
    await sourceVm.pause();
    await target.migrations.moveHere(VM, targetVm);
    await settle(50);
    expect(targetVm.state).toBe('paused');
    expect(sourceVm.state).toBe('handed-over');
  });

  it('leaves the VM running in the source when the target tab closes before the final round', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    target.onPost = (message) => {
      if (message.type === 'received') target.close();
    };
    void target.migrations.moveHere(VM, targetVm).catch(() => {});
    await settle(FAST.received + 200);
    expect(source.sendError).toBeInstanceOf(MigrationError);
    expect(source.sendError!.message).toMatch(/did not take a pre-copy round/);
    expect(sourceVm.state).toBe('running');
    expect(sourceVm.captures.every((c) => !c.paused)).toBe(true);
    expect(source.locks.holds(VM)).toBe(true);
    expect(targetVm.state).toBe('stopped');
  });

  it('resumes the VM in the source when the target tab closes after the final round, before it is ready', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    targetVm.restoreHangs = true;
    source.onPost = (message) => {
      if (message.type === 'final') setTimeout(() => target.close(), 10);
    };
    void target.migrations.moveHere(VM, targetVm).catch(() => {});
    await settle(FAST.ready + 200);
    expect(source.sendError?.message).toMatch(/did not restore the VM/);
    expect(sourceVm.state).toBe('running');
    expect(source.locks.holds(VM)).toBe(true);
    const before = sourceVm.guest;
    await settle(20);
    expect(sourceVm.guest).toBeGreaterThan(before);
  });

  it('takes the VM back in the source when the target tab closes after it was ready, before it ran', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    source.onPost = (message) => {
      if (message.type === 'commit') target.close();
    };
    void target.migrations.moveHere(VM, targetVm).catch(() => {});
    await settle(FAST.running + 300);
    expect(source.sendError?.message).toMatch(/did not run the VM/);
    expect(sourceVm.state).toBe('running');
    expect(source.locks.holds(VM)).toBe(true);
    // The target had restored it, paused, and never ran it.
    expect(targetVm.chain.length).toBe(sourceVm.captures.length);
    expect(targetVm.everRan).toBe(false);
  });

  it('runs the VM in the target when the source tab closes after the final round', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    source.onPost = (message) => {
      if (message.type === 'final') source.close();
    };
    const report = await target.migrations.moveHere(VM, targetVm);
    expect(targetVm.state).toBe('running');
    expect(target.locks.holds(VM)).toBe(true);
    expect(targetVm.guest).toBe(sourceVm.captures.at(-1)!.guest);
    expect(report.rounds).toBe(sourceVm.captures.length);
  });

  it('moves nothing when the source tab closes during pre-copy', async () => {
    const { source, target, targetVm } = await twoTabs();
    source.onPost = (message) => {
      if (message.type === 'round') source.close();
    };
    await expect(target.migrations.moveHere(VM, targetVm)).rejects.toThrow(/did not send the VM/);
    expect(targetVm.state).toBe('stopped');
    expect(target.locks.holds(VM)).toBe(false);
  });

  it('leaves the VM running in the source when the target cannot restore it', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    targetVm.restoreFails = true;
    await expect(target.migrations.moveHere(VM, targetVm)).rejects.toThrow(/could not be stored/);
    await settle(50);
    expect(source.sendError?.message).toMatch(/stopped the move: the disk overlay could not be stored/);
    expect(sourceVm.state).toBe('running');
    expect(source.locks.holds(VM)).toBe(true);
    expect(target.locks.holds(VM)).toBe(false);
  });

  it('says so when no tab runs the VM, and refuses a move the source cannot make now', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    await expect(target.migrations.moveHere('vm-other', targetVm)).rejects.toThrow(/did not answer/);
    sourceVm.handOver();
    await expect(target.migrations.moveHere(VM, targetVm)).rejects.toThrow(/does not run there any more/);
    expect(targetVm.state).toBe('stopped');
    expect(source.locks.holds(VM)).toBe(true);
  });

  it('ignores messages that are not of the protocol', async () => {
    const { source, target, sourceVm, targetVm } = await twoTabs();
    const stranger = new BroadcastChannel(`test-migration-${names}`);
    stranger.postMessage({ type: 'offer', migration: 7, vmId: VM });
    stranger.postMessage({ type: 'commit' });
    stranger.postMessage('offer');
    stranger.close();
    await settle(20);
    expect(sourceVm.captures).toEqual([]);
    await target.migrations.moveHere(VM, targetVm);
    await settle(50);
    expect(targetVm.state).toBe('running');
    expect(sourceVm.state).toBe('handed-over');
    expect(source.locks.holds(VM)).toBe(false);
  });
});
