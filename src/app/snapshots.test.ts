/**
 * The snapshot shelf's bookkeeping with a stand-in VM: which parent each snapshot asks for, the
 * automatic chain (children, a full one every AUTOSAVE_CHAIN_LENGTH-th replacing the chain), and that
 * every stored snapshot stays restorable from storage.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore } from 'idb-keyval';
import { AUTOSAVE_CHAIN_LENGTH, AUTOSAVE_INTERVAL_MS, SnapshotShelf } from './snapshots.ts';
import { Library, type VmEntry } from './library.ts';
import { SnapshotStore } from '../storage/snapshot-store.ts';
import { VmController, type VmView } from '../controller/vm-controller.ts';
import { SnapshotError, type SnapshotContents } from '../../workers/protocol/snapshot-container.ts';
import { VmLocks } from '../controller/vm-lock.ts';
import { lockManager } from '../controller/test-support/lock-manager.ts';
import type { VmSnapshotResult } from '../../workers/protocol/vm-api.ts';
import { brokenSnapshots, testSnapshotDisk, testSnapshotFile } from '../../workers/test-support/test-snapshot-file.ts';
import { SNAPSHOT_PAGE_SIZE } from '../../workers/protocol/snapshot-format.ts';
import { readFileSync } from 'node:fs';
import { chunkedDiskIdentity, type DiskImageManifest } from '../../workers/protocol/disk-image.ts';
import { loadDefinitions } from '../storage/vm-store.ts';
import { loadOverlay } from '../storage/disk-overlay.ts';
import { loadCustomImage } from '../storage/custom-images.ts';
import { CUSTOM_IMAGE_ID } from '../controller/images.ts';

/**
 * A VM that answers snapshot() as the worker does: a child when it knows the parent's series, else
 * full; `print()` is its guest writing to the console (a change an automatic snapshot is due for).
 */
function fakeVm(): {
  entry: VmEntry;
  requests: { parent?: string; automatic?: boolean }[];
  print: () => void;
  /** The person types into its console. */
  type: () => void;
  setPhase: (phase: VmView['phase']) => void;
} {
  const requests: { parent?: string; automatic?: boolean }[] = [];
  const lastOf = new Map<string, string>();
  let head: string | undefined;
  const output = new Set<(bytes: Uint8Array) => void>();
  const typed = new Set<(bytes: Uint8Array) => void>();
  const listeners = new Set<() => void>();
  let phase: VmView['phase'] = 'running';
  const controller = {
    getView: (): Pick<VmView, 'phase' | 'mips'> => ({ phase, mips: 0 }),
    subscribe: (listener: () => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    console: {
      subscribe: (onOutput: (bytes: Uint8Array) => void) => {
        output.add(onOutput);
        return () => output.delete(onOutput);
      },
    },
    get head() {
      return head;
    },
    consoleLine: () => new TextEncoder().encode(`~ # echo ${requests.length}`),
    onInput: (listener: (bytes: Uint8Array) => void) => {
      typed.add(listener);
      return () => typed.delete(listener);
    },
    async snapshot(request: { parent?: string; automatic?: boolean }): Promise<VmSnapshotResult> {
      requests.push(request);
      const id = crypto.randomUUID();
      const known = [...lastOf.values()].includes(request.parent ?? '');
      const parent = known ? request.parent! : null;
      lastOf.set(request.automatic ? 'automatic' : 'default', id);
      if (!request.automatic) head = id;
      const bytes = await testSnapshotFile({
        id,
        parent,
        ramSize: 4 * SNAPSHOT_PAGE_SIZE,
        pages: Uint32Array.of(1),
        pageData: new Uint8Array(SNAPSHOT_PAGE_SIZE).fill(requests.length),
      });
      return { bytes, id, parent, pausedMs: 0 };
    },
  } as unknown as VmController;
  const entry: VmEntry = {
    definition: { id: 'vm-1', name: 'one', image: 'default', ramMiB: 16, createdAt: 0, mac: '52:54:00:00:00:01' },
    controller,
  };
  const print = () => {
    for (const onOutput of output) onOutput(Uint8Array.of(0x2e));
  };
  const type = () => {
    for (const onInput of typed) onInput(Uint8Array.of(0x0d));
  };
  const setPhase = (next: VmView['phase']) => {
    phase = next;
    for (const listener of listeners) listener();
  };
  return { entry, requests, print, type, setPhase };
}

/** A loaded shelf over `store`, for a library that holds `entry` (and `entries()` while it returns it). */
async function shelfOf(
  store: SnapshotStore,
  entry: VmEntry,
  entries = () => [entry],
  locks?: VmLocks,
): Promise<SnapshotShelf> {
  const library = new Library(true);
  vi.spyOn(library, 'getSnapshot').mockImplementation(() => ({ loaded: true, entries: entries() }));
  const shelf = new SnapshotShelf(library, store, locks);
  await shelf.load();
  return shelf;
}

afterEach(() => vi.restoreAllMocks());

describe('snapshot shelf', () => {
  it('makes automatic snapshots a chain of children, replaced by a full one every AUTOSAVE_CHAIN_LENGTH-th; all restorable', async () => {
    const store = new SnapshotStore(createStore('shelf-auto', 'files'));
    const { entry, requests } = fakeVm();
    const shelf = await shelfOf(store, entry);

    for (let n = 0; n < AUTOSAVE_CHAIN_LENGTH; n++) await shelf.autosave(entry);
    let autos = (await store.list()).filter((r) => r.kind === 'auto');
    expect(autos).toHaveLength(AUTOSAVE_CHAIN_LENGTH);
    expect(autos[0]!.parent).toBeNull();
    for (let i = 1; i < autos.length; i++) expect(autos[i]!.parent).toBe(autos[i - 1]!.id);
    expect(requests.every((r) => r.automatic)).toBe(true);
    expect(shelf.autosaveOf('vm-1')?.id).toBe(autos.at(-1)!.id);
    expect(await store.readChain(autos.at(-1)!.id)).toHaveLength(AUTOSAVE_CHAIN_LENGTH);

    // The next one is full and the old chain goes.
    await shelf.autosave(entry);
    autos = (await store.list()).filter((r) => r.kind === 'auto');
    expect(autos).toHaveLength(1);
    expect(autos[0]!.parent).toBeNull();
    expect(requests.at(-1)!.parent).toBeUndefined();
    expect(await store.readChain(autos[0]!.id)).toHaveLength(1);
    expect(await store.collectGarbage()).toBe(0);
  });

  it("takes the person's snapshots as children of the last one, unaffected by automatic ones", async () => {
    const store = new SnapshotStore(createStore('shelf-manual', 'files'));
    const { entry } = fakeVm();
    const shelf = await shelfOf(store, entry);
    const first = await shelf.take(entry);
    expect(first?.parent).toBeNull();
    await shelf.autosave(entry);
    await shelf.autosave(entry);
    const second = await shelf.take(entry);
    expect(second?.parent).toBe(first!.id);
    expect(shelf.treeOf('vm-1').map((r) => r.name)).toEqual(['Snapshot 1', 'Snapshot 2']);
    await shelf.remove('vm-1', first!.id);
    expect((await store.record(second!.id))?.parent).toBeNull();
    const third = await shelf.take(entry);
    expect(third?.name).toBe('Snapshot 1');
    expect(third?.parent).toBe(second!.id);
  });

  it("keeps an operation's alert through the automatic snapshots after it, until the person's next operation", async () => {
    const store = new SnapshotStore(createStore('shelf-alert', 'files'));
    const { entry, print } = fakeVm();
    const shelf = await shelfOf(store, entry);
    const first = await shelf.take(entry);
    vi.spyOn(store, 'delete').mockRejectedValueOnce(new Error('the disk is on fire'));
    await shelf.remove('vm-1', first!.id);
    const alert = shelf.getSnapshot().errors.get('vm-1');
    expect(alert).toMatch(/the disk is on fire/);
    print();
    await shelf.autosave(entry);
    expect((await store.list()).some((r) => r.kind === 'auto')).toBe(true);
    expect(shelf.getSnapshot().errors.get('vm-1')).toBe(alert);
    await shelf.take(entry);
    expect(shelf.getSnapshot().errors.get('vm-1')).toBeUndefined();
  });

  it('renews the automatic snapshot periodically while the guest changes and whenever the page is hidden or left, not when it is shown', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    try {
      const store = new SnapshotStore(createStore('shelf-visibility', 'files'));
      const { entry, requests, print } = fakeVm();
      const shelf = await shelfOf(store, entry);
      const document = Object.assign(new EventTarget(), { visibilityState: 'visible' as DocumentVisibilityState });
      const page = Object.assign(new EventTarget(), { document });
      shelf.startAutosave(page);
      // Polled with the real setTimeout: vi.waitFor would move the faked interval's clock.
      const saved = async (n: number) => {
        const done = async () =>
          shelf.getSnapshot().busy.size === 0 && (await store.list()).filter((r) => r.kind === 'auto').length === n;
        for (let i = 0; i < 1000 && !(await done()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
        expect(await done(), `${n} automatic snapshots stored`).toBe(true);
      };

      // A save asks the VM for its snapshot at once (the shelf marks the VM busy in the same turn).
      document.dispatchEvent(new Event('visibilitychange'));
      expect(requests).toHaveLength(0);
      expect(shelf.getSnapshot().busy.size).toBe(0);

      document.visibilityState = 'hidden';
      document.dispatchEvent(new Event('visibilitychange'));
      expect(requests).toHaveLength(1);
      await saved(1);
      print();
      page.dispatchEvent(new Event('pagehide'));
      await saved(2);
      print();
      vi.advanceTimersByTime(AUTOSAVE_INTERVAL_MS - 1);
      expect(requests).toHaveLength(2);
      vi.advanceTimersByTime(1);
      await saved(3);
      expect(requests).toHaveLength(3);
      // Each is a child of the one before: a few KiB, not the VM's RAM again.
      const autos = (await store.list()).filter((r) => r.kind === 'auto');
      for (let i = 1; i < autos.length; i++) expect(autos[i]!.parent).toBe(autos[i - 1]!.id);
      expect(shelf.autosaveOf('vm-1')?.id).toBe(autos.at(-1)!.id);
      expect(shelf.resumeOf('vm-1')?.id).toBe(autos.at(-1)!.id);

      // A guest that idles is not captured again periodically.
      vi.advanceTimersByTime(AUTOSAVE_INTERVAL_MS * 5);
      expect(requests).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('names a snapshot and describes it as asked, keeps the console line for the restore, and tells when the current state changed', async () => {
    const store = new SnapshotStore(createStore('shelf-named', 'files'));
    const { entry, print, type } = fakeVm();
    const restored: { id: string; label?: string; line?: string }[] = [];
    Object.assign(entry.controller, {
      restore: async (contents: SnapshotContents, label?: string, options: { consoleLine?: Uint8Array } = {}) => {
        restored.push({
          id: contents.header.id,
          ...(label ? { label } : {}),
          ...(options.consoleLine ? { line: new TextDecoder().decode(options.consoleLine) } : {}),
        });
      },
    });
    const shelf = await shelfOf(store, entry);
    // A running VM on no snapshot has a state no snapshot holds.
    expect(shelf.changedSinceSnapshot(entry)).toBe(true);
    expect(shelf.nextSnapshotName('vm-1')).toBe('Snapshot 1');
    const named = await shelf.take(entry, { name: '  before upgrade ', description: ' apt is next \n' });
    expect(named).toMatchObject({ name: 'before upgrade', description: 'apt is next' });
    expect(new TextDecoder().decode((await store.record(named!.id))?.consoleLine)).toBe('~ # echo 0');
    // No name (or only spaces) gets the default, and no description is stored as none.
    const plain = await shelf.take(entry, { name: ' ', description: '' });
    expect(plain?.name).toBe('Snapshot 1');
    expect(plain && 'description' in plain).toBe(false);
    expect(shelf.nextSnapshotName('vm-1')).toBe('Snapshot 2');

    expect(shelf.changedSinceSnapshot(entry)).toBe(false);
    // The guest printing (a prompt redrawn after a resize) is no change; the person typing is.
    print();
    expect(shelf.changedSinceSnapshot(entry)).toBe(false);
    type();
    expect(shelf.changedSinceSnapshot(entry)).toBe(true);
    await shelf.restore(entry, named!.id);
    expect(restored).toEqual([{ id: named!.id, label: 'before upgrade', line: '~ # echo 0' }]);
    expect(shelf.changedSinceSnapshot(entry)).toBe(false);
    type();
    expect(shelf.changedSinceSnapshot(entry)).toBe(true);
  });

  it('makes a restored snapshot the resume point at once; a power off leaves nothing to resume', async () => {
    const store = new SnapshotStore(createStore('shelf-resume-point', 'files'));
    const { entry, requests, setPhase } = fakeVm();
    const restored: string[] = [];
    Object.assign(entry.controller, {
      restore: async (contents: SnapshotContents) => {
        restored.push(contents.header.id);
      },
    });
    const shelf = await shelfOf(store, entry);
    const first = await shelf.take(entry);
    await shelf.autosave(entry);
    await shelf.autosave(entry);
    expect(shelf.resumeOf('vm-1')?.kind).toBe('auto');

    // Restore Snapshot 1: it is the state offered now, and the automatic ones of the state left behind go.
    await shelf.restore(entry, first!.id);
    expect(restored).toEqual([first!.id]);
    expect(shelf.resumeOf('vm-1')?.id).toBe(first!.id);
    expect(shelf.getSnapshot().points.get('vm-1')).toMatchObject({ snapshotId: first!.id, running: true });
    expect((await store.list()).filter((r) => r.kind === 'auto')).toEqual([]);
    // A page that loads now (a reload) finds the same.
    expect((await store.resumePoints()).get('vm-1')?.snapshotId).toBe(first!.id);

    // The next automatic snapshot continues from the restored one.
    await shelf.autosave(entry);
    expect(requests.at(-1)).toEqual({ automatic: true, parent: first!.id });
    const auto = shelf.resumeOf('vm-1');
    expect(auto?.kind).toBe('auto');
    expect(auto?.parent).toBe(first!.id);

    // Powered off: nothing left to resume, Snapshot 1 stays.
    setPhase('stopped');
    for (let i = 0; i < 100 && shelf.getSnapshot().points.get('vm-1')?.running !== false; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(shelf.getSnapshot().points.get('vm-1')).toMatchObject({ snapshotId: null, running: false });
    expect(shelf.resumeOf('vm-1')).toBeUndefined();
    expect((await store.list()).map((r) => r.id)).toEqual([first!.id]);
  });

  it('Take snapshot pressed while an automatic snapshot is taken is not dropped: it comes after it', async () => {
    const store = new SnapshotStore(createStore('shelf-take-during-autosave', 'files'));
    const { entry, requests } = fakeVm();
    const shelf = await shelfOf(store, entry);
    const saving = shelf.autosave(entry);
    expect(shelf.getSnapshot().busy.has('vm-1')).toBe(true);
    const taken = await shelf.take(entry, { name: 'mine' });
    await saving;
    expect(taken?.name).toBe('mine');
    expect(requests.map((r) => r.automatic ?? false)).toEqual([true, false]);
    expect(shelf.treeOf('vm-1').map((r) => r.name)).toEqual(['mine']);
    // The snapshot taken after it holds the newer state: it is the one offered, and the older automatic one went.
    expect(shelf.resumeOf('vm-1')?.id).toBe(taken!.id);
    expect(shelf.autosaveOf('vm-1')).toBeUndefined();
  });

  it('a snapshot taken becomes the resume point at once, so a reload right after it resumes it', async () => {
    const store = new SnapshotStore(createStore('shelf-take-resume', 'files'));
    const { entry, print } = fakeVm();
    const shelf = await shelfOf(store, entry);
    print();
    await shelf.autosave(entry);
    expect(shelf.resumeOf('vm-1')?.kind).toBe('auto');
    const taken = await shelf.take(entry);
    expect((await store.resumePoints()).get('vm-1')).toMatchObject({ snapshotId: taken!.id, running: true });
    // The next automatic snapshot is a child of it.
    print();
    await shelf.autosave(entry);
    expect(shelf.autosaveOf('vm-1')?.parent).toBe(taken!.id);
    expect(shelf.resumeOf('vm-1')?.id).toBe(shelf.autosaveOf('vm-1')!.id);
  });

  it('Rename, Delete and Restore asked while an automatic snapshot is taken are not dropped: each comes after it', async () => {
    const store = new SnapshotStore(createStore('shelf-ops-during-autosave', 'files'));
    const { entry } = fakeVm();
    const shelf = await shelfOf(store, entry);
    const first = await shelf.take(entry, { name: 'first' });
    const second = await shelf.take(entry, { name: 'second' });
    const restored: string[] = [];
    Object.assign(entry.controller, {
      restore: async (contents: SnapshotContents) => {
        restored.push(contents.header.id);
      },
    });

    let saving = shelf.autosave(entry);
    expect(shelf.getSnapshot().busy.has('vm-1')).toBe(true);
    await shelf.rename('vm-1', first!.id, 'renamed');
    await saving;
    expect((await store.record(first!.id))?.name).toBe('renamed');

    saving = shelf.autosave(entry);
    expect(shelf.getSnapshot().busy.has('vm-1')).toBe(true);
    await shelf.remove('vm-1', second!.id);
    await saving;
    expect(await store.record(second!.id)).toBeUndefined();

    saving = shelf.autosave(entry);
    expect(shelf.getSnapshot().busy.has('vm-1')).toBe(true);
    await shelf.restore(entry, first!.id);
    await saving;
    expect(restored).toEqual([first!.id]);
    expect(shelf.resumeOf('vm-1')?.id).toBe(first!.id);
  });

  it('a VM powered off while its automatic snapshot is taken (the worker never answers) frees the shelf', async () => {
    const store = new SnapshotStore(createStore('shelf-stopped-capture', 'files'));
    const { entry, setPhase } = fakeVm();
    const shelf = await shelfOf(store, entry);
    await shelf.autosave(entry);
    vi.spyOn(entry.controller, 'snapshot').mockImplementation(() => new Promise(() => {}));
    const saving = shelf.autosave(entry);
    expect(shelf.getSnapshot().busy.has('vm-1')).toBe(true);
    setPhase('stopped');
    await saving;
    for (let i = 0; i < 100 && shelf.getSnapshot().points.get('vm-1')?.running !== false; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(shelf.getSnapshot().busy.size).toBe(0);
    expect(shelf.getSnapshot().errors.size).toBe(0);
    expect(shelf.getSnapshot().points.get('vm-1')).toMatchObject({ snapshotId: null, running: false });
    expect(await store.list()).toEqual([]);
  });

  it('Start pressed while the bookkeeping of a power off runs is not lost, and comes after it', async () => {
    const store = new SnapshotStore(createStore('shelf-start-after-stop', 'files'));
    const { entry, setPhase } = fakeVm();
    const shelf = await shelfOf(store, entry);
    await shelf.autosave(entry);
    let started = 0;
    Object.assign(entry.controller, {
      start: async () => {
        started++;
        setPhase('running');
      },
    });
    setPhase('stopped');
    expect(shelf.getSnapshot().busy.has('vm-1')).toBe(true);
    await shelf.start(entry);
    expect(started).toBe(1);
    expect(shelf.getSnapshot().points.get('vm-1')).toMatchObject({ snapshotId: null, running: true });
  });

  it("holds the VM's lock from Start until it stops, also when it stops during an automatic snapshot", async () => {
    const store = new SnapshotStore(createStore('shelf-locks', 'files'));
    const { entry, setPhase } = fakeVm();
    setPhase('stopped');
    const api = lockManager();
    const here = new VmLocks(api, new BroadcastChannel('shelf-locks'));
    const there = new VmLocks(api, new BroadcastChannel('shelf-locks'));
    const shelf = await shelfOf(store, entry, undefined, here);
    Object.assign(entry.controller, { start: async () => setPhase('running') });

    // Another tab runs it: Start here is refused with a sentence, and nothing starts.
    expect(await there.claim('vm-1')).toBe(true);
    await shelf.start(entry);
    expect(entry.controller.getView().phase).toBe('stopped');
    expect(shelf.getSnapshot().errors.get('vm-1')).toMatch(/running in another tab/);
    there.release('vm-1');
    // The lock manager frees it once the holder's callback has settled.
    await new Promise((resolve) => setTimeout(resolve, 0));

    await shelf.start(entry);
    expect(entry.controller.getView().phase).toBe('running');
    expect(here.holds('vm-1')).toBe(true);
    expect(await there.claim('vm-1')).toBe(false);

    // Powered off while an automatic snapshot waits for a worker that is gone: the lock goes all the same.
    vi.spyOn(entry.controller, 'snapshot').mockImplementation(() => new Promise(() => {}));
    const saving = shelf.autosave(entry);
    setPhase('stopped');
    await saving;
    expect(here.holds('vm-1')).toBe(false);
    expect(await there.claim('vm-1')).toBe(true);
    there.release('vm-1');
  });

  it('keeps no snapshot of a VM deleted while the snapshot was being taken', async () => {
    const store = new SnapshotStore(createStore('shelf-deleted', 'files'));
    const { entry } = fakeVm();
    let deleted = false;
    const shelf = await shelfOf(store, entry, () => (deleted ? [] : [entry]));
    const snapshot = entry.controller.snapshot.bind(entry.controller);
    // The VM is deleted (and its stored snapshots with it) while the worker captures.
    vi.spyOn(entry.controller, 'snapshot').mockImplementation(async (request) => {
      const result = await snapshot(request);
      deleted = true;
      return result;
    });
    expect(await shelf.take(entry)).toBeUndefined();
    await shelf.autosave(entry);
    expect(await store.list()).toEqual([]);
    expect(await store.collectGarbage()).toBe(0);
  });

  it('imports or clones a Debian snapshot only over the disk image it was taken on; a refusal stores nothing', async () => {
    // The catalog's manifests as the page fetches them, from public/.
    vi.stubGlobal('location', { href: 'http://host.test/' });
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: string | URL | Request) => {
        const path = new URL(String(input), 'http://host.test/').pathname;
        const file = new URL(`../../public${path}`, import.meta.url);
        try {
          return new Response(readFileSync(file), { headers: { 'content-type': 'application/json' } });
        } catch {
          return new Response('missing', { status: 404 });
        }
      }),
    );
    const debian = JSON.parse(
      readFileSync(new URL('../../public/images/debian/manifest.json', import.meta.url), 'utf8'),
    ) as { title: string; files: Record<string, { size: number; sha256: string }>; disk: DiskImageManifest };
    const current = await chunkedDiskIdentity(debian.disk);
    const rebuilt = await chunkedDiskIdentity({ ...debian.disk, chunks: debian.disk.chunks.slice(1) });
    const snapshotFile = async (id: string, image: string | undefined): Promise<File> => {
      const bytes = await testSnapshotFile({
        id,
        bios: debian.files.bios!,
        kernel: debian.files.kernel!,
        disks: [testSnapshotDisk(debian.disk.size, image, 1)],
      });
      return new File([bytes], `${id}.tabvm`);
    };
    const store = new SnapshotStore(createStore('test-snapshots-import', 'chunks'));
    const library = new Library(true);
    await library.load();
    const shelf = new SnapshotShelf(library, store);
    await shelf.load();
    const before = (await loadDefinitions()).length;

    expect(await shelf.importFile(await snapshotFile('other-build', rebuilt))).toBeUndefined();
    expect(shelf.getSnapshot().errors.get('')).toBe(
      `This snapshot cannot be used: it was taken on a different build of the ${debian.title} disk image than the one this tabvm has (snapshot: ${rebuilt.slice(0, 26)}…, here: ${current.slice(0, 26)}…).`,
    );
    expect((await loadDefinitions()).length).toBe(before);
    expect(library.getSnapshot().entries.length).toBe(before);
    expect(await store.list()).toEqual([]);

    // The same build, and a file from before identities were recorded (size only), are imported.
    const same = await shelf.importFile(await snapshotFile('same-build', current));
    expect(same?.definition.image).toBe('debian');
    const old = await shelf.importFile(await snapshotFile('no-identity', undefined));
    expect(old?.definition.image).toBe('debian');
    expect((await store.list()).map((r) => r.id).sort()).toEqual(['no-identity', 'same-build']);

    // A clone whose restore is refused (here, as the worker refuses another disk image) is not kept.
    vi.spyOn(VmController.prototype, 'restore').mockRejectedValue(
      new SnapshotError('snapshot disk 0 was taken on a different disk image than the one given'),
    );
    const count = library.getSnapshot().entries.length;
    expect(await shelf.clone(same!, 'same-build')).toBeUndefined();
    expect(shelf.getSnapshot().errors.get(same!.definition.id)).toMatch(/different disk image/);
    expect(library.getSnapshot().entries.length).toBe(count);
    expect((await loadDefinitions()).length).toBe(count);
    expect((await store.list()).map((r) => r.id).sort()).toEqual(['no-identity', 'same-build']);
    expect((await loadOverlay(same!.definition.id)).blocks.size).toBe(0);
    vi.unstubAllGlobals();
  });
  it('clones a VM on its own disk image with a copy of its files, and refuses to import its snapshot', async () => {
    const library = new Library(true);
    await library.load();
    const store = new SnapshotStore(createStore('test-snapshots-own-disk', 'chunks'));
    const shelf = new SnapshotShelf(library, store);
    await shelf.load();
    const diskBytes = new Uint8Array(8192).fill(7);
    const original = await library.create(
      { name: 'mine', image: CUSTOM_IMAGE_ID, ramMiB: 1 },
      { disk: new File([diskBytes], 'mine.img') },
    );
    const stored = await loadCustomImage(original.definition.id);
    const bytes = await testSnapshotFile({
      id: 'own-disk',
      disks: [testSnapshotDisk(diskBytes.length, `sha256:${stored.disk.sha256!}`, 1)],
    });
    await store.save(
      { id: 'own-disk', vmId: original.definition.id, parent: null, name: 'P', createdAt: 0, kind: 'manual' },
      bytes,
    );
    await shelf.load();
    const restore = vi.spyOn(VmController.prototype, 'restore').mockResolvedValue(undefined);

    const clone = await shelf.clone(original, 'own-disk');
    expect(restore).toHaveBeenCalledTimes(1);
    expect(clone?.definition.image).toBe(CUSTOM_IMAGE_ID);
    expect(clone!.definition.mac).not.toBe(original.definition.mac);
    const copied = await loadCustomImage(clone!.definition.id);
    expect(copied.disk.name).toBe('mine.img');
    expect(copied.disk.sha256).toBe(stored.disk.sha256);
    expect(new Uint8Array(await copied.disk.blob.arrayBuffer())).toEqual(diskBytes);
    // The clone's files are its own: deleting the original keeps them.
    await library.remove(original.definition.id);
    expect((await loadCustomImage(clone!.definition.id)).disk.sha256).toBe(stored.disk.sha256);

    // An exported file cannot hold the person's disk image, so its import is refused and stores nothing.
    const definitions = (await loadDefinitions()).length;
    const records = (await store.list()).length;
    expect(await shelf.importFile(new File([bytes], 'own.tabvm'))).toBeUndefined();
    expect(shelf.getSnapshot().errors.get('')).toMatch(/own disk image, which an exported file does not hold/);
    expect((await loadDefinitions()).length).toBe(definitions);
    expect((await store.list()).length).toBe(records);
  });

  it('makes a linked clone that stores no copy, resumes from the base, and keeps the base and its VM while it exists', async () => {
    const library = new Library(true);
    await library.load();
    const store = new SnapshotStore(createStore('test-snapshots-linked', 'chunks'));
    const shelf = new SnapshotShelf(library, store);
    await shelf.load();
    const original = await library.create({ name: 'orig', image: 'default', ramMiB: 1 });
    const bytes = await testSnapshotFile({ id: 'linked-base' });
    await store.save(
      { id: 'linked-base', vmId: original.definition.id, parent: null, name: 'Base', createdAt: 0, kind: 'manual' },
      bytes,
    );
    await shelf.load();
    const restore = vi.spyOn(VmController.prototype, 'restore').mockResolvedValue(undefined);

    const clone = await shelf.clone(original, 'linked-base', 'orig-linked', 'linked');
    expect(clone?.definition.linkedTo).toEqual({ vmId: original.definition.id, snapshotId: 'linked-base' });
    expect(clone!.definition.mac).not.toBe(original.definition.mac);
    expect(restore).toHaveBeenCalledTimes(1);
    expect((restore.mock.calls[0]![0] as SnapshotContents).header.id).toBe('linked-base');
    // Nothing was copied: the only record is the original's, and the clone resumes from it.
    expect((await store.list()).map((r) => r.id)).toEqual(['linked-base']);
    expect(shelf.resumeOf(clone!.definition.id)?.id).toBe('linked-base');
    expect((await loadDefinitions()).find((d) => d.id === clone!.definition.id)?.linkedTo?.snapshotId).toBe(
      'linked-base',
    );

    // The base and its VM stay while the clone exists, each refusal one sentence.
    await shelf.remove(original.definition.id, 'linked-base');
    expect(shelf.getSnapshot().errors.get(original.definition.id)).toBe(
      'Base cannot be deleted: it is the base of the linked clone orig-linked. Delete it first.',
    );
    expect(await store.record('linked-base')).toBeDefined();
    await expect(library.remove(original.definition.id)).rejects.toThrow(
      'orig cannot be deleted while its linked clones exist (orig-linked): they share its snapshots. Delete them first.',
    );
    expect(library.getSnapshot().entries.map((e) => e.definition.name)).toContain('orig');

    // Once the clone is gone, both can go.
    await library.remove(clone!.definition.id);
    await shelf.remove(original.definition.id, 'linked-base');
    expect(await store.record('linked-base')).toBeUndefined();
    await library.remove(original.definition.id);
    expect(library.getSnapshot().entries.map((e) => e.definition.name)).not.toContain('orig');
  });

  it('clones a VM on its own disk image in full only', async () => {
    const library = new Library(true);
    await library.load();
    const store = new SnapshotStore(createStore('test-snapshots-linked-own', 'chunks'));
    const shelf = new SnapshotShelf(library, store);
    await shelf.load();
    const original = await library.create(
      { name: 'own-linked', image: CUSTOM_IMAGE_ID, ramMiB: 1 },
      { disk: new File([new Uint8Array(4096)], 'own.img') },
    );
    await store.save(
      { id: 'own-base', vmId: original.definition.id, parent: null, name: 'B', createdAt: 0, kind: 'manual' },
      await testSnapshotFile({ id: 'own-base' }),
    );
    await shelf.load();
    const before = library.getSnapshot().entries.length;
    expect(await shelf.clone(original, 'own-base', 'x', 'linked')).toBeUndefined();
    expect(shelf.getSnapshot().errors.get(original.definition.id)).toMatch(/can only be cloned in full/);
    expect(library.getSnapshot().entries.length).toBe(before);
  });

  it('refuses at Import, with one sentence, a file whose machine this tabvm could not build; nothing is stored', async () => {
    vi.stubGlobal('location', { href: 'http://host.test/' });
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: string | URL | Request) => {
        const path = new URL(String(input), 'http://host.test/').pathname;
        try {
          return new Response(readFileSync(new URL(`../../public${path}`, import.meta.url)));
        } catch {
          return new Response('missing', { status: 404 });
        }
      }),
    );
    const manifest = JSON.parse(
      readFileSync(new URL('../../public/images/default/manifest.json', import.meta.url), 'utf8'),
    ) as { files: Record<'bios' | 'kernel' | 'initrd', { size: number; sha256: string }> };
    const identity = (file: { size: number; sha256: string }) => ({ size: file.size, sha256: file.sha256 });
    const images = {
      bios: identity(manifest.files.bios),
      kernel: identity(manifest.files.kernel),
      initrd: identity(manifest.files.initrd),
    };
    const store = new SnapshotStore(createStore('test-snapshots-import-records', 'chunks'));
    const library = new Library(true);
    await library.load();
    const shelf = new SnapshotShelf(library, store);
    await shelf.load();
    const definitions = (await loadDefinitions()).length;

    const cases = await brokenSnapshots(images);
    expect(cases).toHaveLength(7);
    for (const { defect, file, refusal } of cases) {
      expect(await shelf.importFile(new File([file], 'broken.tabvm')), defect).toBeUndefined();
      const message = shelf.getSnapshot().errors.get('')!;
      expect(message, defect).toMatch(/^This snapshot cannot be used: [^\n]*\.$/);
      expect(message.slice('This snapshot cannot be used: '.length, -1), defect).toMatch(refusal);
    }
    expect((await loadDefinitions()).length).toBe(definitions);
    expect(await store.list()).toEqual([]);

    // The same images with a sound machine: imported.
    const sound = await testSnapshotFile({ id: 'sound', ...images });
    expect((await shelf.importFile(new File([sound], 'sound.tabvm')))?.definition.image).toBe('default');
    vi.unstubAllGlobals();
  });
});
