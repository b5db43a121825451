/**
 * The snapshots of every VM, as the UI sees them: the stored records (src/storage/snapshot-store.ts)
 * and the operations that join storage to a VM's controller: take, restore, delete, rename, export,
 * import, clone; and what keeps a VM's work across a reload (docs/snapshots.md, "Nothing lost"): the
 * automatic snapshots, taken every AUTOSAVE_INTERVAL_MS while the guest changes (and not while it
 * idles) and when the page is hidden or left; each VM's resume point, the newest state it has, which a
 * restore moves at once; and the VMs that were running resuming by themselves when the page comes back.
 * A VM runs in one tab at a time (src/controller/vm-lock.ts), and moves live to another on "Move here"
 * (src/controller/vm-migration.ts). React reads it through useSyncExternalStore.
 */
import { SnapshotStore, SnapshotStoreError, type ResumePoint, type SnapshotRecord } from '../storage/snapshot-store.ts';
import {
  SnapshotError,
  decodeSnapshotFile,
  encodeContents,
  mergeSnapshots,
  type SnapshotContents,
} from '../../workers/protocol/snapshot-container.ts';
import { SNAPSHOT_FILE_EXTENSION } from '../../workers/protocol/snapshot-format.ts';
import { checkSnapshotMachine } from '../../workers/protocol/snapshot-records.ts';
import { bootImageMismatch, diskImageMismatch } from '../../workers/protocol/snapshot-identity.ts';
import { CUSTOM_IMAGE_ID, IMAGE_CATALOG, loadManifest } from '../controller/images.ts';
import { chunkedDiskIdentity, describeDiskIdentity } from '../../workers/protocol/disk-image.ts';
import { ObservableState } from '../controller/observable-state.ts';
import { ActivityMeter } from '../controller/auto-snapshot.ts';
import { isTerminalReport } from '../controller/console-log.ts';
import { VmLocks } from '../controller/vm-lock.ts';
import {
  MIGRATION_CHANNEL,
  TabMigrations,
  type MigratingVm,
  type MigrationPort,
  type MigrationReport,
} from '../controller/vm-migration.ts';
import type { VmPhase } from '../controller/vm-controller.ts';
import type { VmSnapshotResult } from '../../workers/protocol/vm-api.ts';
import type { Library, VmEntry } from './library.ts';
import { loadDefinitionIds } from '../storage/vm-store.ts';

/**
 * How often a running VM that changed gets a new automatic snapshot: the work a killed browser loses
 * is at most this plus the time one takes to capture and store (docs/snapshots.md, "Nothing lost").
 */
export const AUTOSAVE_INTERVAL_MS = 2_000;
/** Automatic snapshots in a chain before the next is a full one (which replaces the chain). */
export const AUTOSAVE_CHAIN_LENGTH = 30;
/** How long a VM resuming at page load waits for its lock (the reloaded page's old document may still hold it). */
export const RESUME_LOCK_WAIT_MS = 3_000;

/** The per-app setting: VMs that were running when the page went away resume when it comes back. */
const RESUME_SETTING_KEY = 'tabvm.resumeOnLoad';

export function resumeOnLoadEnabled(storage: Pick<Storage, 'getItem'> = localStorage): boolean {
  return storage.getItem(RESUME_SETTING_KEY) !== '0';
}

export function setResumeOnLoad(on: boolean, storage: Pick<Storage, 'setItem'> = localStorage): void {
  storage.setItem(RESUME_SETTING_KEY, on ? '1' : '0');
}

export interface ShelfSnapshot {
  readonly loaded: boolean;
  readonly records: readonly SnapshotRecord[];
  /** VM ids with a snapshot operation under way (the UI disables its snapshot buttons). */
  readonly busy: ReadonlySet<string>;
  /** The last failure per VM id ('' for the library: import), for an alert. */
  readonly errors: ReadonlyMap<string, string>;
  /** Each VM's resume point: the snapshot of its newest state, and whether it was running. */
  readonly points: ReadonlyMap<string, ResumePoint>;
  /** Per VM, what its last automatic snapshot cost: the guest's pause, and the time until it was stored. */
  readonly captures: ReadonlyMap<string, { readonly pausedMs: number; readonly storedMs: number }>;
  /** Per VM moving here from another tab (`moving`), or moved here: what the move cost. */
  readonly moves: ReadonlyMap<string, { readonly moving: boolean; readonly report?: MigrationReport }>;
}

const MIB = 1024 * 1024;

export class SnapshotShelf {
  readonly store: SnapshotStore;
  readonly #library: Library;
  readonly #state = new ObservableState<ShelfSnapshot>({
    loaded: false,
    records: [],
    busy: new Set(),
    errors: new Map(),
    points: new Map(),
    captures: new Map(),
    moves: new Map(),
  });
  #loading: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly locks: VmLocks;
  /** Per VM: what it did since its last automatic snapshot, and the end of its watch on the controller. */
  readonly #watched = new Map<string, { meter: ActivityMeter; stop: () => void }>();
  /** VMs being started or restored in this tab (#withLock). */
  readonly #starting = new Set<string>();
  /** Per VM: what changed since its last snapshot was taken or restored (changedSinceSnapshot). */
  readonly #sinceSnapshot = new Map<string, ChangeMeter>();
  /** Per VM: the operation under way (#exclusive), which a power off's bookkeeping waits for. */
  readonly #operations = new Map<string, Promise<unknown>>();
  /** Moves of VMs between this tab and others. */
  readonly migrations: TabMigrations;
  /** VMs whose worker here ended because they run in another tab: their stop is not a power off. */
  readonly #handedOver = new Set<string>();

  constructor(library: Library, store = new SnapshotStore(), locks = new VmLocks(), migrationPort?: MigrationPort) {
    this.#library = library;
    this.store = store;
    this.locks = locks;
    this.migrations = new TabMigrations(migrationPort ?? defaultMigrationPort(), locks, (vmId, send) =>
      this.#sendAway(vmId, send),
    );
    library.onDelete((vmId) => {
      this.#unwatch(vmId);
      this.locks.release(vmId);
      return this.#removeVm(vmId);
    });
  }

  readonly subscribe = this.#state.subscribe;
  readonly getSnapshot = this.#state.get;

  get #snapshot(): ShelfSnapshot {
    return this.#state.get();
  }

  #set(patch: Partial<ShelfSnapshot>): void {
    this.#state.update(patch);
  }

  /**
   * Reads the records once. Removed first: chunks of saves a closed tab interrupted, and snapshots of
   * VMs that are no longer stored (whose deletion an earlier tabvm, without the library's mark for
   * deletions in progress, did not finish).
   */
  load(): Promise<void> {
    this.#loading ??= (async () => {
      try {
        await this.#removeOrphans();
        await this.store.collectGarbage();
        await this.#refresh();
      } catch (error) {
        this.#setError('', `The saved snapshots could not be read: ${(error as Error).message}`);
      }
      this.#set({ loaded: true });
    })();
    return this.#loading;
  }

  /**
   * Records are listed before the library is read: a VM's definition is stored before its first
   * snapshot, so a VM missing from the library then has been deleted (here or in another tab), not
   * created.
   */
  async #removeOrphans(): Promise<void> {
    const records = await this.store.list();
    const vms = await loadDefinitionIds();
    if (!vms) return;
    const orphaned = new Set(records.filter((r) => !vms.has(r.vmId)).map((r) => r.vmId));
    for (const vmId of orphaned) await this.store.deleteVm(vmId);
  }

  async #refresh(): Promise<void> {
    this.#set({ records: await this.store.list(), points: await this.store.resumePoints() });
  }

  /** The name of a VM of the library (a linked clone names its base's). */
  vmName(vmId: string): string | undefined {
    return this.#library.getSnapshot().entries.find((e) => e.definition.id === vmId)?.definition.name;
  }

  /** Whether a VM of the library has this name (Clone… checks the name it is given). */
  isNameTaken(name: string): boolean {
    return this.#library.isNameTaken(name);
  }

  /** The VM's snapshots in the tree (manual ones), oldest first. */
  treeOf(vmId: string): SnapshotRecord[] {
    return this.#snapshot.records.filter((r) => r.vmId === vmId && r.kind === 'manual');
  }

  /** The VM's newest automatic snapshot (the head of its automatic chain). */
  autosaveOf(vmId: string): SnapshotRecord | undefined {
    return this.#snapshot.records.filter((r) => r.vmId === vmId && r.kind === 'auto').at(-1);
  }

  /**
   * The snapshot holding the VM's newest state, which Resume restores: its resume point's (an
   * automatic snapshot, or the one last restored); for storage from before resume points, the newest
   * automatic snapshot. Undefined when the VM has none (never run, powered off, or started afresh).
   */
  resumeOf(vmId: string): SnapshotRecord | undefined {
    const point = this.#snapshot.points.get(vmId);
    if (point) return this.#snapshot.records.find((r) => r.id === point.snapshotId);
    return this.autosaveOf(vmId);
  }

  #setError(vmId: string, message: string | undefined): void {
    const errors = new Map(this.#snapshot.errors);
    if (message === undefined) errors.delete(vmId);
    else errors.set(vmId, message);
    this.#set({ errors });
  }

  clearError(vmId: string): void {
    this.#setError(vmId, undefined);
  }

  /**
   * Runs one operation per VM at a time, dropped if one is under way (what the person asks for goes
   * through #queued instead, and waits); its failure becomes the VM's alert message. An operation the
   * person started clears the alert of the one before; `automatic` (an automatic snapshot, every few
   * seconds) leaves it, or the alert would vanish before it is read.
   */
  #exclusive<T>(vmId: string, work: () => Promise<T>, automatic = false): Promise<T | undefined> {
    if (this.#snapshot.busy.has(vmId)) return Promise.resolve(undefined);
    this.#set({ busy: new Set([...this.#snapshot.busy, vmId]) });
    if (!automatic) this.#setError(vmId, undefined);
    const done = this.#run(vmId, work);
    this.#operations.set(vmId, done);
    return done;
  }

  /**
   * Like #exclusive, but waits for the operation under way instead of being dropped: what the person
   * asks for (Start, Restore, Clone, Delete…) must not be lost to an automatic snapshot begun just before.
   */
  async #queued<T>(vmId: string, work: () => Promise<T>): Promise<T | undefined> {
    while (this.#operations.has(vmId)) await this.#operations.get(vmId);
    return this.#exclusive(vmId, work);
  }

  async #run<T>(vmId: string, work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work();
    } catch (error) {
      this.#setError(vmId, describe(error));
      return undefined;
    } finally {
      const busy = new Set(this.#snapshot.busy);
      busy.delete(vmId);
      this.#set({ busy });
      this.#operations.delete(vmId);
      await this.#refresh().catch(() => {});
    }
  }

  /** The name Take snapshot offers: the first free "Snapshot n" of the VM's tree. */
  nextSnapshotName(vmId: string): string {
    const taken = new Set(this.treeOf(vmId).map((r) => r.name));
    let n = 1;
    while (taken.has(`Snapshot ${n}`)) n++;
    return `Snapshot ${n}`;
  }

  /**
   * Takes a snapshot of a running VM into its tree: a child of the last one it took or came from, when
   * that is still stored. Without a name it gets nextSnapshotName's. It waits for an operation under way
   * (an automatic snapshot begun while the person typed the name) instead of being dropped.
   */
  take(entry: VmEntry, about: { name?: string; description?: string } = {}): Promise<SnapshotRecord | undefined> {
    const vmId = entry.definition.id;
    return this.#queued(vmId, async () => {
      const head = entry.controller.head;
      const parentRecord = head === undefined ? undefined : await this.store.record(head);
      const parent = parentRecord?.kind === 'manual' ? head : undefined;
      // The guest stands still for the capture at the start of the call: that is the moment the snapshot holds.
      const takenAt = Date.now();
      const consoleLine = entry.controller.consoleLine();
      const meter = this.#sinceSnapshotOf(entry);
      meter.captured();
      let result: VmSnapshotResult;
      try {
        result = await whileLive(entry, entry.controller.snapshot(parent !== undefined ? { parent } : {}));
      } catch (error) {
        meter.failed();
        throw error;
      }
      const name = about.name?.trim() || this.nextSnapshotName(vmId);
      const description = about.description?.trim();
      // It holds the VM's newest state: the resume point names it, committed with it, and the automatic
      // snapshots, all older, go (none is its parent: a snapshot in the tree is a child of one in the tree).
      const saved = await this.#saveOf(
        vmId,
        {
          id: result.id,
          vmId,
          parent: result.parent,
          name,
          ...(description ? { description } : {}),
          consoleLine,
          createdAt: takenAt,
          kind: 'manual',
        },
        result.bytes,
        { snapshotId: result.id, running: true, at: takenAt },
      );
      if (saved) await this.#dropAutomatic(vmId, new Set());
      return saved;
    });
  }

  /**
   * Per VM, what changed since its last snapshot was taken or restored (Current state's "changed"):
   * bytes typed into its console, and its disk's written bytes then.
   */
  #sinceSnapshotOf(entry: VmEntry): ChangeMeter {
    const vmId = entry.definition.id;
    let meter = this.#sinceSnapshot.get(vmId);
    if (!meter) {
      const { controller } = entry;
      const created: ChangeMeter = {
        typed: 0,
        written: 0,
        captured: () => {
          created.typed = 0;
          created.written = controller.getView().disk?.writtenBytes ?? 0;
        },
        failed: () => {
          created.typed += 1;
        },
        // The terminal's answers to the guest's queries (cursor position) are no one's typing.
        dispose: controller.onInput((bytes) => {
          if (!isTerminalReport(bytes)) created.typed += bytes.length;
        }),
      };
      meter = created;
      this.#sinceSnapshot.set(vmId, meter);
    }
    return meter;
  }

  /**
   * Whether the VM's current state differs from the snapshot it last took or was restored from, so
   * that a restore would lose something: a live VM that was typed into or wrote to its disk since, or
   * one that runs on no snapshot at all; a stopped VM whose disk was written in this
   * page (the restore puts the snapshot's disk back).
   */
  changedSinceSnapshot(entry: VmEntry): boolean {
    const view = entry.controller.getView();
    if (!isLive(view.phase)) return view.disk !== undefined;
    const meter = this.#sinceSnapshot.get(entry.definition.id);
    return (
      entry.controller.head === undefined ||
      meter === undefined ||
      meter.typed > 0 ||
      (view.disk?.writtenBytes ?? 0) !== meter.written
    );
  }

  /**
   * Stores a snapshot the VM took. If the VM was deleted meanwhile, the deletion may have listed its
   * snapshots before this one was committed: then it is removed here, so none outlives its VM.
   */
  async #saveOf(
    vmId: string,
    record: Parameters<SnapshotStore['save']>[0],
    bytes: Uint8Array,
    point?: ResumePoint,
  ): Promise<SnapshotRecord | undefined> {
    const saved = await this.store.save(record, bytes, 0, point);
    if (this.#library.getSnapshot().entries.some((entry) => entry.definition.id === vmId)) return saved;
    await this.store.deleteVm(vmId);
    return undefined;
  }

  /**
   * Replaces the VM's state with the snapshot's (a fresh worker; the running VM goes once that has
   * started). The snapshot becomes the VM's resume point at once: a reload after it resumes the
   * restored state, never the one before.
   */
  restore(entry: VmEntry, id: string): Promise<void> {
    return this.#queued(entry.definition.id, async () => {
      const record = await this.store.record(id);
      await this.#restoreInto(entry, id, () => this.store.contents(id), record);
    }).then(() => undefined);
  }

  /**
   * Restores `id` into the VM in this tab, once it holds the VM's lock (waiting up to `waitMs` for it),
   * and makes it the resume point. Automatic snapshots that are not its chain are stale then, and go.
   */
  async #restoreInto(
    entry: VmEntry,
    id: string,
    contents: () => Promise<SnapshotContents>,
    record: Pick<SnapshotRecord, 'name' | 'kind' | 'consoleLine'> | undefined,
    waitMs = 0,
  ): Promise<void> {
    const vmId = entry.definition.id;
    const label = record?.kind === 'auto' ? 'automatic snapshot' : record?.name;
    await this.#withLock(entry, waitMs, async () => {
      await entry.controller.restore(
        await contents(),
        label,
        record?.consoleLine ? { consoleLine: record.consoleLine } : {},
      );
      this.#sinceSnapshotOf(entry).captured();
      await this.store.setResumePoint(vmId, { snapshotId: id, running: true, at: Date.now() });
    });
    const keep = new Set<string>();
    const records = new Map((await this.store.list()).map((r) => [r.id, r]));
    for (let at: string | null | undefined = id; at; at = records.get(at)?.parent) keep.add(at);
    await this.#dropAutomatic(vmId, keep);
  }

  /** Deletes the VM's automatic snapshots except `keep`, newest first (so that none needs re-basing). */
  async #dropAutomatic(vmId: string, keep: ReadonlySet<string>): Promise<void> {
    const stale = (await this.store.list()).filter((r) => r.vmId === vmId && r.kind === 'auto' && !keep.has(r.id));
    for (const record of stale.reverse()) await this.store.delete(record.id);
  }

  /**
   * Runs `work` (which makes the VM live) once this tab holds the VM's lock; throws if another tab
   * runs it. The lock goes again if the VM is not live afterwards (the start failed).
   */
  async #withLock(entry: VmEntry, waitMs: number, work: () => Promise<void>): Promise<void> {
    const vmId = entry.definition.id;
    this.#watch(entry);
    if (!(await this.locks.claim(vmId, waitMs))) {
      throw new SnapshotStoreError(
        `${entry.definition.name} is running in another tab of tabvm. A VM runs in one tab at a time: power it off or close that tab to run it here.`,
      );
    }
    this.#starting.add(vmId);
    try {
      await work();
    } finally {
      this.#starting.delete(vmId);
      if (!isLive(entry.controller.getView().phase)) this.locks.release(vmId);
    }
  }

  /**
   * Starts the VM afresh (Start, or Restart after an error): it boots from its image over its disk, and
   * its automatic snapshots, of a state it leaves, go. `unlessLive`: nothing if the VM runs by then.
   */
  start(entry: VmEntry, restart = false, unlessLive = false): Promise<void> {
    const vmId = entry.definition.id;
    return this.#queued(vmId, async () => {
      if (unlessLive && isLive(entry.controller.getView().phase)) return;
      await this.#withLock(entry, 0, async () => {
        await this.store.setResumePoint(vmId, { snapshotId: null, running: true, at: Date.now() });
        await this.#dropAutomatic(vmId, new Set());
        await (restart ? entry.controller.restart() : entry.controller.start());
      });
    }).then(() => undefined);
  }

  /**
   * Resumes the VM from its newest state (its resume point's snapshot), or starts it if it has none.
   * `waitMs`: how long to wait for the VM's lock if another tab holds it; `unlessLive`: nothing if the VM
   * runs by then (it was moved here from another tab while this waited).
   */
  resume(entry: VmEntry, waitMs = 0, unlessLive = false): Promise<void> {
    const record = this.resumeOf(entry.definition.id);
    if (!record) return this.start(entry, false, unlessLive);
    return this.#queued(entry.definition.id, async () => {
      if (unlessLive && isLive(entry.controller.getView().phase)) return;
      await this.#restoreInto(entry, record.id, () => this.store.contents(record.id), record, waitMs);
    }).then(() => undefined);
  }

  /**
   * At page load: resumes every VM that was running when the page went away (one after another, as a
   * laptop does when its lid opens). A VM another tab runs stays there.
   */
  async resumeRunning(): Promise<void> {
    await Promise.all([this.load(), this.#library.load()]);
    for (const entry of this.#library.getSnapshot().entries) {
      const vmId = entry.definition.id;
      const phase = entry.controller.getView().phase;
      if (!this.#snapshot.points.get(vmId)?.running || (phase !== 'stopped' && phase !== 'error')) continue;
      // A VM another tab still runs is shown there, not reported as a failure; one moved here meanwhile runs.
      if (await this.locks.claim(vmId, RESUME_LOCK_WAIT_MS)) await this.resume(entry, 0, true);
    }
  }

  /**
   * Follows the VM's controller: what it does between automatic snapshots, and when it stops. A power
   * off (by the person or the guest) leaves no state to resume: the resume point is cleared and the
   * automatic snapshots go. After an error the VM is no longer running but its last state stays
   * offered. Either way its lock goes.
   */
  #watch(entry: VmEntry): ActivityMeter {
    const vmId = entry.definition.id;
    const watched = this.#watched.get(vmId);
    if (watched) return watched.meter;
    const { controller } = entry;
    const meter = new ActivityMeter(controller);
    let last: VmPhase = controller.getView().phase;
    const stop = controller.subscribe(() => {
      const phase = controller.getView().phase;
      const before = last;
      last = phase;
      if (phase === before || (phase !== 'stopped' && phase !== 'error')) return;
      // The VM runs on in another tab, which holds its lock and its state.
      if (this.#handedOver.delete(vmId)) return;
      // A start or restore under way lets the lock go itself if it fails (#withLock).
      if (!this.#starting.has(vmId)) this.locks.release(vmId);
      if (isLive(before)) void this.#stopped(entry, phase === 'stopped');
    });
    this.#watched.set(vmId, { meter, stop });
    return meter;
  }

  #unwatch(vmId: string): void {
    this.#sinceSnapshot.get(vmId)?.dispose();
    this.#sinceSnapshot.delete(vmId);
    const watched = this.#watched.get(vmId);
    watched?.meter.dispose();
    watched?.stop();
    this.#watched.delete(vmId);
  }

  /** The VM stopped: powered off (nothing to resume) or failed (its last state stays offered). */
  async #stopped(entry: VmEntry, poweredOff: boolean): Promise<void> {
    const vmId = entry.definition.id;
    // An automatic snapshot being stored finishes first, so it cannot name itself the resume point after this.
    await this.#queued(vmId, async () => {
      const point = this.#snapshot.points.get(vmId);
      if (poweredOff) {
        await this.store.setResumePoint(vmId, { snapshotId: null, running: false, at: Date.now() });
        await this.#dropAutomatic(vmId, new Set());
      } else if (point) {
        await this.store.setResumePoint(vmId, { ...point, running: false });
      }
    });
  }

  /**
   * Another tab asks for a VM this tab runs: it goes there live (vm-migration.ts), once the operation
   * on it under way (an automatic snapshot) is done. Automatic snapshots wait meanwhile; a move that
   * fails leaves it running here and says why.
   */
  #sendAway(vmId: string, send: (vm: MigratingVm) => Promise<void>): boolean {
    const entry = this.#library.getSnapshot().entries.find((e) => e.definition.id === vmId);
    if (!entry || !isLive(entry.controller.getView().phase)) return false;
    const { controller } = entry;
    void this.#queued(vmId, async () => {
      // Stopped meanwhile: the other tab hears nothing and gives up (it may then start the VM itself).
      if (!isLive(controller.getView().phase)) return;
      try {
        await send({
          running: () => controller.getView().phase === 'running',
          capture: (parent) =>
            controller.snapshot({ series: 'migration', ...(parent !== undefined ? { parent } : {}) }),
          pause: () => controller.pause(),
          resume: () => controller.resume(),
          flushDisks: () => controller.flushDisks(),
          scrollback: () => controller.scrollback(),
          handOver: () => {
            this.#handedOver.add(vmId);
            controller.handOver();
          },
        });
      } catch (error) {
        throw new Error(
          `${entry.definition.name} was not moved to the other tab and runs on here: ${sentence(error)}`,
          {
            cause: error,
          },
        );
      }
    });
    return true;
  }

  /**
   * Move here: the VM, which another tab runs, moves live into this tab (vm-migration.ts): its guest
   * goes on where it was, with its console's scrollback. If the move fails it runs on in the other tab,
   * and the alert says why.
   */
  moveHere(entry: VmEntry): Promise<MigrationReport | undefined> {
    const vmId = entry.definition.id;
    const { controller } = entry;
    return this.#queued(vmId, async () => {
      this.#watch(entry);
      this.#setMove(vmId, { moving: true });
      try {
        // The image and a worker are loaded before the offer, so that the guest does not wait for them while paused.
        controller.prewarm();
        if (!(await controller.loadImages()))
          throw new Error(controller.getView().error?.message ?? 'its image could not be loaded');
        // The pre-copy rounds are unpacked and merged as they arrive: while the guest is paused only the
        // final round is, and merged onto them.
        let base: Promise<SnapshotContents> | undefined;
        const report = await this.migrations.moveHere(vmId, {
          received: (file, parent) => {
            const decoded = decodeSnapshotFile(file);
            base =
              parent === null || !base
                ? decoded
                : Promise.all([base, decoded]).then(([before, child]) => mergeSnapshots(before, child));
            // A round that cannot be unpacked fails the restore, which awaits it.
            base.catch(() => {});
          },
          restore: async (chain, scrollback) => {
            controller.adoptScrollback(scrollback);
            const contents =
              base && chain.length > 1 ? mergeSnapshots(await base, await decodeSnapshotFile(chain.at(-1)!)) : chain;
            await controller.restore(contents, undefined, { paused: true, note: 'moved here from another tab' });
          },
          resume: () => controller.resume(),
          discard: () => {
            this.#handedOver.add(vmId);
            controller.handOver('the move here failed; the VM runs on in the other tab');
          },
        });
        this.#setMove(vmId, { moving: false, report });
        return report;
      } catch (error) {
        this.#setMove(vmId, { moving: false });
        throw new Error(
          `${entry.definition.name} was not moved here and runs on in the other tab: ${sentence(error)}`,
          {
            cause: error,
          },
        );
      }
    });
  }

  #setMove(vmId: string, move: { moving: boolean; report?: MigrationReport }): void {
    const moves = new Map(this.#snapshot.moves);
    moves.set(vmId, move);
    this.#set({ moves });
  }

  rename(vmId: string, id: string, name: string): Promise<void> {
    return this.#queued(vmId, () => this.store.rename(id, name.trim())).then(() => undefined);
  }

  /** Deletes a snapshot; the base of a linked clone is refused with the reason (docs/snapshots.md, "Clones"). */
  remove(vmId: string, id: string): Promise<void> {
    return this.#queued(vmId, async () => {
      const clones = this.#library.linkedClonesOf((linkedTo) => linkedTo.snapshotId === id);
      if (clones.length > 0) {
        const record = await this.store.record(id);
        throw new SnapshotStoreError(
          `${record?.name ?? 'This snapshot'} cannot be deleted: it is the base of the linked clone${clones.length > 1 ? 's' : ''} ${clones.join(', ')}. Delete ${clones.length > 1 ? 'them' : 'it'} first.`,
        );
      }
      await this.store.delete(id);
    }).then(() => undefined);
  }

  /** Every snapshot of a deleted VM (the library calls it, also to finish a deletion a closed tab cut short). */
  async #removeVm(vmId: string): Promise<void> {
    try {
      await this.store.deleteVm(vmId);
    } finally {
      await this.#refresh();
    }
  }

  /** One self-contained file (the chain merged) and a file name for it. */
  async exportFile(entry: VmEntry, id: string): Promise<{ blob: Blob; fileName: string } | undefined> {
    return this.#queued(entry.definition.id, async () => {
      const record = await this.store.record(id);
      const file = await this.store.flattened(id);
      const safe = (text: string): string => text.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'snapshot';
      return {
        blob: new Blob([file], { type: 'application/octet-stream' }),
        fileName: `${safe(entry.definition.name)}-${safe(record?.name ?? id)}${SNAPSHOT_FILE_EXTENSION}`,
      };
    });
  }

  /**
   * A new VM in the library started at once from this snapshot, beside the original with state of its
   * own. A full clone holds the snapshot (the chain merged, under a new id); a linked one stores nothing
   * of it: it restores the original's snapshot, and its own snapshots are children of that one.
   */
  clone(
    entry: VmEntry,
    id: string,
    name = `${entry.definition.name}-clone`,
    kind: 'full' | 'linked' = 'full',
  ): Promise<VmEntry | undefined> {
    return this.#queued(entry.definition.id, async () => {
      const source = await this.store.record(id);
      const contents = await this.store.contents(id);
      if (kind === 'linked') return this.#cloneLinked(entry, id, name, source, contents);
      const clone = await this.#adopt(
        contents,
        name,
        entry.definition.image,
        `from ${source?.name ?? 'a snapshot'} of ${entry.definition.name}`,
        undefined,
        entry.definition.image === CUSTOM_IMAGE_ID ? { copyOf: entry.definition.id } : undefined,
      );
      try {
        await this.#restoreInto(clone.entry, clone.contents.header.id, async () => clone.contents, source);
      } catch (error) {
        // A clone that cannot start (its image changed since the snapshot) is not kept.
        await this.#library.remove(clone.entry.definition.id);
        throw error;
      }
      return clone.entry;
    });
  }

  async #cloneLinked(
    entry: VmEntry,
    id: string,
    baseName: string,
    source: SnapshotRecord | undefined,
    contents: SnapshotContents,
  ): Promise<VmEntry> {
    if (entry.definition.image === CUSTOM_IMAGE_ID) {
      throw new SnapshotStoreError(
        `A VM on your own disk image can only be cloned in full: a linked clone would share ${entry.definition.name}’s stored disk files.`,
      );
    }
    if (source?.kind !== 'manual' || source.vmId !== entry.definition.id) {
      throw new SnapshotStoreError('A linked clone is made from one of the VM’s own snapshots in its tree.');
    }
    let name = baseName;
    for (let n = 2; this.#library.isNameTaken(name); n++) name = `${baseName}-${n}`;
    const { ramSize, harts } = contents.header.machine;
    const clone = await this.#library.create({
      name,
      image: entry.definition.image,
      ramMiB: ramSize / MIB,
      ...(harts > 1 ? { cpus: harts } : {}),
      linkedTo: { vmId: entry.definition.id, snapshotId: id },
    });
    try {
      await this.#restoreInto(clone, id, async () => contents, source);
    } catch (error) {
      await this.#library.remove(clone.definition.id);
      throw error;
    }
    return clone;
  }

  /**
   * Imports an exported snapshot as a new VM (stopped; Restore starts it). A file that is truncated,
   * corrupted, foreign, of a newer format, incremental, or taken with an image this app does not have
   * is refused with a message, and nothing is stored.
   */
  async importFile(file: File): Promise<VmEntry | undefined> {
    return this.#queued('', async () => {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const contents = await decodeSnapshotFile(bytes);
      if (contents.header.parent !== null) {
        throw new SnapshotError('this file is an incremental snapshot without its parent; export it again from tabvm');
      }
      // Its machine is checked now, with the limits of the New VM dialog: a VM it could never start is not created.
      checkSnapshotMachine(contents.header);
      const image = await this.#findImage(contents);
      const base = file.name.replace(/\.tabvm$/i, '').trim() || 'imported';
      const imported = await this.#adopt(contents, base, image, `imported from ${file.name}`, bytes);
      return imported.entry;
    });
  }

  /**
   * Which catalog image the snapshot was taken with: by the sha256 of every file, and for an image with
   * a disk, by the disk's identity when the snapshot records one (one from before that is taken on trust).
   */
  async #findImage(contents: SnapshotContents): Promise<string> {
    const wanted = contents.header.images;
    if (contents.disks.some((disk) => disk.image !== undefined && !disk.image.startsWith('chunks-sha256:'))) {
      throw new SnapshotError(
        'it is of a VM on its own disk image, which an exported file does not hold; clone that VM in the browser that has its disk instead',
      );
    }
    let otherDisk: string | undefined;
    const identity = (file: { size: number; sha256: string } | undefined) =>
      file ? { size: file.size, sha256: file.sha256 } : null;
    for (const entry of IMAGE_CATALOG) {
      const manifest = await loadManifest(entry);
      const boot = {
        bios: identity(manifest.files.bios)!,
        kernel: identity(manifest.files.kernel),
        initrd: identity(manifest.files.initrd),
      };
      if (
        bootImageMismatch(contents.header, boot) === undefined &&
        // A snapshot with a disk never matches an image without one (and vice versa).
        contents.disks.length === (manifest.disk ? 1 : 0)
      ) {
        if (!manifest.disk) return entry.id;
        const current = await chunkedDiskIdentity(manifest.disk);
        if (diskImageMismatch(contents.disks, [current]) === undefined) return entry.id;
        otherDisk ??= `it was taken on a different build of the ${manifest.title} disk image than the one this tabvm has (snapshot: ${describeDiskIdentity(contents.disks[0]!.image!)}, here: ${describeDiskIdentity(current)})`;
      }
    }
    if (otherDisk !== undefined) throw new SnapshotError(otherDisk);
    throw new SnapshotError(
      `the snapshot was taken with an image this tabvm does not have (kernel sha256 ${wanted.kernel?.sha256.slice(0, 12) ?? 'none'}…)`,
    );
  }

  /**
   * A new VM whose first snapshot is `contents` (re-encoded under a new id when that id is taken); the
   * contents returned carry the id stored.
   */
  async #adopt(
    contents: SnapshotContents,
    baseName: string,
    image: string,
    snapshotName: string,
    bytes?: Uint8Array,
    custom?: { readonly copyOf: string },
  ): Promise<{ entry: VmEntry; contents: SnapshotContents }> {
    let file = bytes;
    let id = contents.header.id;
    if (!file || (await this.store.record(id))) {
      id = crypto.randomUUID();
      file = await encodeContents({ ...contents, header: { ...contents.header, id } });
    }
    let name = baseName;
    for (let n = 2; this.#library.isNameTaken(name); n++) name = `${baseName}-${n}`;
    const { ramSize, harts } = contents.header.machine;
    const entry = await this.#library.create(
      { name, image, ramMiB: ramSize / MIB, ...(harts > 1 ? { cpus: harts } : {}) },
      custom,
    );
    try {
      await this.store.save(
        { id, vmId: entry.definition.id, parent: null, name: snapshotName, createdAt: Date.now(), kind: 'manual' },
        file,
      );
    } catch (error) {
      await this.#library.remove(entry.definition.id);
      throw error;
    }
    return { entry, contents: { ...contents, header: { ...contents.header, id } } };
  }

  /**
   * Renews the VM's automatic snapshot: a child of its resume point's snapshot (only the pages and disk
   * blocks changed since, a few KiB to a few MiB, so the guest pauses ~50 ms), committed together with
   * the resume point that names it. Every AUTOSAVE_CHAIN_LENGTH-th is full, and once a full one is
   * stored the older automatic snapshots go, newest first, so nothing needs re-basing: storage holds at
   * most one chain per VM.
   */
  async autosave(entry: VmEntry): Promise<void> {
    const vmId = entry.definition.id;
    const phase = entry.controller.getView().phase;
    if (!isLive(phase) || this.#snapshot.busy.has(vmId)) return;
    const meter = this.#watch(entry);
    await this.#exclusive(
      vmId,
      async () => {
        const previous = this.resumeOf(vmId);
        const extend = previous !== undefined && this.#automaticDepth(previous) < AUTOSAVE_CHAIN_LENGTH;
        const takenAt = Date.now();
        const consoleLine = entry.controller.consoleLine();
        const began = performance.now();
        meter.captured();
        let result: VmSnapshotResult;
        let saved: SnapshotRecord | undefined;
        try {
          result = await whileLive(
            entry,
            entry.controller.snapshot({ automatic: true, ...(extend ? { parent: previous.id } : {}) }),
          );
          saved = await this.#saveOf(
            vmId,
            {
              id: result.id,
              vmId,
              parent: result.parent,
              name: 'Automatic snapshot',
              consoleLine,
              createdAt: takenAt,
              kind: 'auto',
            },
            result.bytes,
            { snapshotId: result.id, running: true, at: takenAt },
          );
        } catch (error) {
          meter.failed();
          // A VM powered off while it was captured has nothing to save: no alert for that.
          if (error instanceof VmStoppedError) return;
          throw error;
        }
        const captures = new Map(this.#snapshot.captures);
        captures.set(vmId, { pausedMs: result.pausedMs, storedMs: performance.now() - began });
        this.#set({ captures });
        if (saved && result.parent === null) await this.#dropAutomatic(vmId, new Set([saved.id]));
      },
      true,
    );
  }

  /** How many automatic snapshots `record`'s chain holds, from it back to a full or a manual one. */
  #automaticDepth(record: SnapshotRecord): number {
    const byId = new Map(this.#snapshot.records.map((r) => [r.id, r]));
    let depth = 0;
    for (let at: SnapshotRecord | undefined = record; at?.kind === 'auto'; at = byId.get(at.parent ?? '')) depth++;
    return depth;
  }

  /**
   * Renews the automatic snapshot of every running VM; with `onlyChanged`, of those whose guest
   * changed since their last one.
   */
  autosaveAll(onlyChanged = false): Promise<void> {
    return Promise.all(
      this.#library
        .getSnapshot()
        .entries.filter(
          (entry) => isLive(entry.controller.getView().phase) && (!onlyChanged || this.#watch(entry).changed),
        )
        .map((entry) => this.autosave(entry)),
    ).then(() => undefined);
  }

  /**
   * Autosaves the VMs that changed every AUTOSAVE_INTERVAL_MS, and every running VM whenever the page
   * becomes hidden (`visibilitychange`: a tab switch, a minimised window, a phone's lock screen, and
   * first thing when a tab is closed) and on `pagehide` (rare events, and the meter cannot see every
   * change, e.g. a guest's timers). Browsers do not wait for IndexedDB writes once a page is being
   * unloaded, so a save begun on `pagehide` may never finish; nothing depends on it: the periodic ones
   * bound the loss.
   */
  startAutosave(target: AutosaveTarget): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.autosaveAll(true), AUTOSAVE_INTERVAL_MS);
    target.document.addEventListener('visibilitychange', () => {
      if (target.document.visibilityState === 'hidden') void this.autosaveAll();
    });
    target.addEventListener('pagehide', () => void this.autosaveAll());
  }
}

/** What changedSinceSnapshot counts of a VM (SnapshotShelf.#sinceSnapshotOf). */
interface ChangeMeter {
  typed: number;
  written: number;
  captured(): void;
  failed(): void;
  dispose(): void;
}

/** The tabs' migration channel; without BroadcastChannel (an old browser) no VM moves. */
function defaultMigrationPort(): MigrationPort {
  if (typeof BroadcastChannel === 'function') return new BroadcastChannel(MIGRATION_CHANNEL);
  return { postMessage() {}, addEventListener() {}, removeEventListener() {} };
}

function isLive(phase: VmPhase): boolean {
  return phase === 'running' || phase === 'paused';
}

class VmStoppedError extends Error {
  override readonly name = 'VmStoppedError';
}

/**
 * `work` (a call to the VM's worker), or a VmStoppedError once the VM stops: a call to a worker that
 * was terminated meanwhile never settles, and must not hold the VM's snapshot operations forever.
 */
function whileLive<T>(entry: VmEntry, work: Promise<T>): Promise<T> {
  const { controller } = entry;
  return new Promise<T>((resolve, reject) => {
    const stop = controller.subscribe(() => {
      if (isLive(controller.getView().phase)) return;
      stop();
      reject(new VmStoppedError(`${entry.definition.name} stopped while its snapshot was being taken`));
    });
    work.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error: unknown) => {
        stop();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** What startAutosave listens to: the page's window and its document (a test hands in stand-ins). */
export interface AutosaveTarget {
  addEventListener(type: 'pagehide', listener: () => void): void;
  readonly document: {
    readonly visibilityState: DocumentVisibilityState;
    addEventListener(type: 'visibilitychange', listener: () => void): void;
  };
}

/** An error's message as the end of a sentence. */
function sentence(error: unknown): string {
  return `${(error instanceof Error ? error.message : String(error)).replace(/\.$/, '')}.`;
}

function describe(error: unknown): string {
  if (error instanceof SnapshotError) return `This snapshot cannot be used: ${error.message}.`;
  if (error instanceof SnapshotStoreError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
