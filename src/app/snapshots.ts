/**
 * The snapshots of every VM, as the UI sees them: the stored records (src/storage/snapshot-store.ts)
 * and the operations that join storage to a VM's controller: take, restore, delete, rename, export,
 * import, clone, and the automatic snapshot taken periodically and when the page is hidden or left, so
 * that a VM running when the tab closed can be resumed. React reads it through useSyncExternalStore.
 */
import { SnapshotStore, SnapshotStoreError, type SnapshotRecord } from '../storage/snapshot-store.ts';
import {
  SnapshotError,
  decodeSnapshotFile,
  encodeContents,
  type SnapshotContents,
} from '../../workers/protocol/snapshot-container.ts';
import { SNAPSHOT_FILE_EXTENSION } from '../../workers/protocol/snapshot-format.ts';
import { checkSnapshotMachine } from '../../workers/protocol/snapshot-records.ts';
import { bootImageMismatch, diskImageMismatch } from '../../workers/protocol/snapshot-identity.ts';
import { CUSTOM_IMAGE_ID, IMAGE_CATALOG, loadManifest } from '../controller/images.ts';
import { chunkedDiskIdentity, describeDiskIdentity } from '../../workers/protocol/disk-image.ts';
import { ObservableState } from '../controller/observable-state.ts';
import type { Library, VmEntry } from './library.ts';
import { loadDefinitionIds } from '../storage/vm-store.ts';

/** How often a running VM's automatic snapshot is renewed. */
export const AUTOSAVE_INTERVAL_MS = 30_000;
/** Automatic snapshots in a chain before the next is a full one (which replaces the chain). */
export const AUTOSAVE_CHAIN_LENGTH = 10;

export interface ShelfSnapshot {
  readonly loaded: boolean;
  readonly records: readonly SnapshotRecord[];
  /** VM ids with a snapshot operation under way (the UI disables its snapshot buttons). */
  readonly busy: ReadonlySet<string>;
  /** The last failure per VM id ('' for the library: import), for an alert. */
  readonly errors: ReadonlyMap<string, string>;
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
  });
  #loading: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(library: Library, store = new SnapshotStore()) {
    this.#library = library;
    this.store = store;
    library.onDelete((vmId) => this.#removeVm(vmId));
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
    this.#set({ records: await this.store.list() });
  }

  /** The VM's snapshots in the tree (manual ones), oldest first. */
  treeOf(vmId: string): SnapshotRecord[] {
    return this.#snapshot.records.filter((r) => r.vmId === vmId && r.kind === 'manual');
  }

  /** The VM's newest automatic snapshot (the head of its automatic chain). */
  autosaveOf(vmId: string): SnapshotRecord | undefined {
    return this.#snapshot.records.filter((r) => r.vmId === vmId && r.kind === 'auto').at(-1);
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

  /** Runs one operation per VM at a time; its failure becomes the VM's alert message. */
  async #exclusive<T>(vmId: string, work: () => Promise<T>): Promise<T | undefined> {
    if (this.#snapshot.busy.has(vmId)) return undefined;
    this.#set({ busy: new Set([...this.#snapshot.busy, vmId]) });
    this.#setError(vmId, undefined);
    try {
      return await work();
    } catch (error) {
      this.#setError(vmId, describe(error));
      return undefined;
    } finally {
      const busy = new Set(this.#snapshot.busy);
      busy.delete(vmId);
      this.#set({ busy });
      await this.#refresh().catch(() => {});
    }
  }

  /** Takes a snapshot of a running VM into its tree: a child of the last one it took or came from, when that is still stored. */
  take(entry: VmEntry): Promise<SnapshotRecord | undefined> {
    const vmId = entry.definition.id;
    return this.#exclusive(vmId, async () => {
      const head = entry.controller.head;
      const parentRecord = head === undefined ? undefined : await this.store.record(head);
      const parent = parentRecord?.kind === 'manual' ? head : undefined;
      // The guest stands still for the capture at the start of the call: that is the moment the snapshot holds.
      const takenAt = Date.now();
      const result = await entry.controller.snapshot(parent !== undefined ? { parent } : {});
      const taken = new Set(this.treeOf(vmId).map((r) => r.name));
      let n = 1;
      while (taken.has(`Snapshot ${n}`)) n++;
      const name = `Snapshot ${n}`;
      return this.#saveOf(
        vmId,
        { id: result.id, vmId, parent: result.parent, name, createdAt: takenAt, kind: 'manual' },
        result.bytes,
      );
    });
  }

  /**
   * Stores a snapshot the VM took. If the VM was deleted meanwhile, the deletion may have listed its
   * snapshots before this one was committed: then it is removed here, so none outlives its VM.
   */
  async #saveOf(
    vmId: string,
    record: Parameters<SnapshotStore['save']>[0],
    bytes: Uint8Array,
  ): Promise<SnapshotRecord | undefined> {
    const saved = await this.store.save(record, bytes);
    if (this.#library.getSnapshot().entries.some((entry) => entry.definition.id === vmId)) return saved;
    await this.store.delete(saved.id);
    return undefined;
  }

  /** Replaces the VM's state with the snapshot's (a fresh worker; the running VM goes once that has started). */
  restore(entry: VmEntry, id: string): Promise<void> {
    return this.#exclusive(entry.definition.id, async () => {
      const record = await this.store.record(id);
      await entry.controller.restore(await this.store.contents(id), record?.name);
    }).then(() => undefined);
  }

  rename(vmId: string, id: string, name: string): Promise<void> {
    return this.#exclusive(vmId, () => this.store.rename(id, name.trim())).then(() => undefined);
  }

  remove(vmId: string, id: string): Promise<void> {
    return this.#exclusive(vmId, () => this.store.delete(id)).then(() => undefined);
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
    return this.#exclusive(entry.definition.id, async () => {
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
   * A new VM in the library holding this snapshot (the chain merged, under a new id), started from it
   * at once. It runs beside the original with state of its own.
   */
  clone(entry: VmEntry, id: string): Promise<VmEntry | undefined> {
    return this.#exclusive(entry.definition.id, async () => {
      const source = await this.store.record(id);
      const contents = await this.store.contents(id);
      const clone = await this.#adopt(
        contents,
        `${entry.definition.name}-clone`,
        entry.definition.image,
        `from ${source?.name ?? 'a snapshot'} of ${entry.definition.name}`,
        undefined,
        entry.definition.image === CUSTOM_IMAGE_ID ? { copyOf: entry.definition.id } : undefined,
      );
      try {
        await clone.entry.controller.restore(clone.contents, source?.name);
      } catch (error) {
        // A clone that cannot start (its image changed since the snapshot) is not kept.
        await this.#library.remove(clone.entry.definition.id);
        throw error;
      }
      return clone.entry;
    });
  }

  /**
   * Imports an exported snapshot as a new VM (stopped; Restore starts it). A file that is truncated,
   * corrupted, foreign, of a newer format, incremental, or taken with an image this app does not have
   * is refused with a message, and nothing is stored.
   */
  async importFile(file: File): Promise<VmEntry | undefined> {
    return this.#exclusive('', async () => {
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
    const entry = await this.#library.create({ name, image, ramMiB: ramSize / MIB, ...(harts > 1 ? { cpus: harts } : {}) }, custom);
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
   * Renews the VM's automatic snapshot. Usually a child of the previous one (a few KiB for a VM at its
   * prompt, so the periodic save costs little and a `pagehide` save has a chance to finish); every
   * AUTOSAVE_CHAIN_LENGTH-th is full, and once a full one is stored the older chain is deleted, newest
   * first, so nothing needs re-basing.
   */
  async autosave(entry: VmEntry): Promise<void> {
    const vmId = entry.definition.id;
    const phase = entry.controller.getView().phase;
    if ((phase !== 'running' && phase !== 'paused') || this.#snapshot.busy.has(vmId)) return;
    await this.#exclusive(vmId, async () => {
      const older = this.#snapshot.records.filter((r) => r.vmId === vmId && r.kind === 'auto');
      const previous = older.at(-1);
      const extend = previous !== undefined && older.length < AUTOSAVE_CHAIN_LENGTH;
      const takenAt = Date.now();
      const result = await entry.controller.snapshot({ automatic: true, ...(extend ? { parent: previous.id } : {}) });
      const saved = await this.#saveOf(
        vmId,
        { id: result.id, vmId, parent: result.parent, name: 'Automatic snapshot', createdAt: takenAt, kind: 'auto' },
        result.bytes,
      );
      if (saved && result.parent === null) for (const record of older.reverse()) await this.store.delete(record.id);
    });
  }

  autosaveAll(): Promise<void> {
    return Promise.all(this.#library.getSnapshot().entries.map((entry) => this.autosave(entry))).then(() => undefined);
  }

  /**
   * Autosaves every AUTOSAVE_INTERVAL_MS, whenever the page becomes hidden (`visibilitychange`: a tab
   * switch, a minimised window, a phone's lock screen, and first thing when a tab is closed) and on
   * `pagehide`. Browsers do not wait for IndexedDB writes once a page is being unloaded, so a save
   * begun on `pagehide` may never finish; one begun when the page is hidden usually does, since a hidden
   * page lives on (and `visibilitychange` comes before `pagehide` when a tab closes).
   */
  startAutosave(target: AutosaveTarget): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.autosaveAll(), AUTOSAVE_INTERVAL_MS);
    target.document.addEventListener('visibilitychange', () => {
      if (target.document.visibilityState === 'hidden') void this.autosaveAll();
    });
    target.addEventListener('pagehide', () => void this.autosaveAll());
  }
}

/** What startAutosave listens to: the page's window and its document (a test hands in stand-ins). */
export interface AutosaveTarget {
  addEventListener(type: 'pagehide', listener: () => void): void;
  readonly document: {
    readonly visibilityState: DocumentVisibilityState;
    addEventListener(type: 'visibilitychange', listener: () => void): void;
  };
}

function describe(error: unknown): string {
  if (error instanceof SnapshotError) return `This snapshot cannot be used: ${error.message}.`;
  if (error instanceof SnapshotStoreError) return error.message;
  return error instanceof Error ? error.message : String(error);
}
