/**
 * Deleting a VM from the library on a real IndexedDB implementation (fake-indexeddb): its definition,
 * disk overlay, own image files and snapshots all go; a deletion cut short half way (a forced failure
 * where a closed tab would stop it) is finished at the next start; one whose first step fails removes
 * nothing; other VMs keep everything. Snapshots of a VM that is no longer stored at all (an older
 * tabvm's deletion cut short) are removed at the next start, unless its definition is merely unreadable;
 * so are its disk overlay and own image files.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore, get, set } from 'idb-keyval';
import { Library } from './library.ts';
import { SnapshotShelf } from './snapshots.ts';
import { SnapshotStore } from '../storage/snapshot-store.ts';
import { listOverlayVmIds, loadOverlay, saveOverlayBlocks } from '../storage/disk-overlay.ts';
import { listCustomImageVmIds, loadCustomImage, saveCustomImage } from '../storage/custom-images.ts';
import { loadDefinitions, loadDeleting } from '../storage/vm-store.ts';
import { CUSTOM_IMAGE_ID } from '../controller/images.ts';

const SNAPSHOT_DB = 'library-test-snapshots';

/** A page start: the library and the snapshot shelf over the same storage, both loaded. */
async function start(): Promise<{ library: Library; shelf: SnapshotShelf }> {
  const library = new Library(true);
  const shelf = new SnapshotShelf(library, new SnapshotStore(createStore(SNAPSHOT_DB, 'files'), 1000));
  await Promise.all([library.load(), shelf.load()]);
  return { library, shelf };
}

let created = 0;

/** A VM of the user's own disk with a written overlay block and two snapshots (a parent and its child). */
async function vmWithData(library: Library, shelf: SnapshotShelf, name: string): Promise<string> {
  const entry = await library.create(
    { name, image: CUSTOM_IMAGE_ID, ramMiB: 64 },
    { disk: new File([new Uint8Array(4096).fill(7)], `${name}.img`) },
  );
  const vmId = entry.definition.id;
  await saveOverlayBlocks(vmId, `custom:${name}.img:4096`, new Map([[1, new Uint8Array(4096).fill(1)]]));
  const bytes = crypto.getRandomValues(new Uint8Array(2500));
  await shelf.store.save(
    { id: `${name}-p`, vmId, parent: null, name: 'P', createdAt: ++created, kind: 'manual' },
    bytes,
  );
  await shelf.store.save(
    { id: `${name}-c`, vmId, parent: `${name}-p`, name: 'C', createdAt: ++created, kind: 'manual' },
    bytes,
  );
  return vmId;
}

async function expectAllThere(shelf: SnapshotShelf, vmId: string): Promise<void> {
  expect((await shelf.store.list()).filter((r) => r.vmId === vmId).map((r) => r.name)).toEqual(['P', 'C']);
  expect((await loadOverlay(vmId)).blocks.size).toBe(1);
  expect((await loadCustomImage(vmId)).disk.blob.size).toBe(4096);
}

async function expectAllGone(shelf: SnapshotShelf, vmId: string): Promise<void> {
  expect((await shelf.store.list()).filter((r) => r.vmId === vmId)).toEqual([]);
  expect(await loadOverlay(vmId)).toEqual({ base: undefined, blocks: new Map() });
  await expect(loadCustomImage(vmId)).rejects.toThrow(/no longer in the browser’s storage/);
}

const names = (library: Library) => library.getSnapshot().entries.map((e) => e.definition.name);

afterEach(() => vi.restoreAllMocks());

describe('deleting a VM', () => {
  it('removes its definition, disk, files and snapshots; one cut short half way is finished at the next start', async () => {
    const first = await start();
    const doomed = await vmWithData(first.library, first.shelf, 'doomed');
    const kept = await vmWithData(first.library, first.shelf, 'kept');

    // The page goes away while the snapshots are being deleted (after the disk and the files went).
    const remove = IDBObjectStore.prototype.delete;
    vi.spyOn(IDBObjectStore.prototype, 'delete').mockImplementation(function (this: IDBObjectStore, key) {
      if (this.transaction.db.name === SNAPSHOT_DB) throw new DOMException('the page was closed', 'AbortError');
      return remove.call(this, key);
    });
    await expect(first.library.remove(doomed)).rejects.toThrow(
      /^doomed was deleted, but some of its data could not be removed yet \(the page was closed\); tabvm removes it the next time it starts\.$/,
    );
    vi.restoreAllMocks();
    expect(names(first.library)).toEqual(['kept']);
    expect((await first.shelf.store.list()).filter((r) => r.vmId === doomed)).toHaveLength(2);
    expect(await loadDeleting()).toEqual([doomed]);

    const second = await start();
    expect(names(second.library)).toEqual(['kept']);
    await expectAllGone(second.shelf, doomed);
    await expectAllThere(second.shelf, kept);
    expect(await loadDeleting()).toEqual([]);
    // No chunk of the deleted snapshots is left behind either.
    expect(await second.shelf.store.collectGarbage()).toBe(0);
    expect(second.shelf.getSnapshot().records.map((r) => r.vmId)).toEqual([kept, kept]);

    // An uninterrupted deletion leaves nothing to finish.
    await second.library.remove(kept);
    await expectAllGone(second.shelf, kept);
    expect(await loadDeleting()).toEqual([]);
    expect(await loadDefinitions()).toEqual([]);
  });

  it('keeps the VM and all of its data when its first step fails; deletions at the same time do not undo each other', async () => {
    const { library, shelf } = await start();
    const a = await vmWithData(library, shelf, 'a');
    const b = await vmWithData(library, shelf, 'b');
    const c = await vmWithData(library, shelf, 'c');

    // The library's store refuses the write (as a full disk would).
    const put = IDBObjectStore.prototype.put;
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, value, key) {
      if (this.transaction.db.name === 'tabvm') throw new DOMException('the quota is exceeded', 'QuotaExceededError');
      return put.call(this, value, key);
    });
    await expect(library.remove(a)).rejects.toThrow(/^a could not be deleted \(.*\); nothing was removed\.$/);
    vi.restoreAllMocks();
    expect(names(library)).toEqual(['a', 'b', 'c']);
    await expectAllThere(shelf, a);
    expect(await loadDeleting()).toEqual([]);

    await Promise.all([library.remove(a), library.remove(b)]);
    expect(names(library)).toEqual(['c']);
    expect((await loadDefinitions()).map((d) => d.name)).toEqual(['c']);
    await expectAllGone(shelf, a);
    await expectAllGone(shelf, b);
    await expectAllThere(shelf, c);
  });

  it('removes at the next start the snapshots of a VM no longer stored, not those of a definition it cannot read', async () => {
    const first = await start();
    const alive = await vmWithData(first.library, first.shelf, 'alive');
    const bytes = crypto.getRandomValues(new Uint8Array(2500));
    // A VM an earlier tabvm deleted without finishing, and one a newer tabvm stored in a shape this one rejects.
    for (const vmId of ['ghost', 'future']) {
      await first.shelf.store.save(
        { id: `${vmId}-s`, vmId, parent: null, name: 'S', createdAt: ++created, kind: 'auto' },
        bytes,
      );
    }
    const library = createStore('tabvm', 'library');
    const stored: unknown[] = (await get('vms-v1', library)) ?? [];
    await set(
      'vms-v1',
      [...stored, { id: 'future', name: 'future', image: 'default', ramMiB: '64 MiB', createdAt: 1 }],
      library,
    );
    vi.spyOn(console, 'warn').mockImplementation(() => {});

    const second = await start();
    expect(names(second.library)).toContain('alive');
    expect(names(second.library)).not.toContain('future');
    const vms = (await second.shelf.store.list()).map((r) => r.vmId);
    expect(vms).not.toContain('ghost');
    expect(vms).toContain('future');
    await expectAllThere(second.shelf, alive);
    expect(await second.shelf.store.collectGarbage()).toBe(0);

    // A damaged library list tells nothing about which VMs are gone: nothing is removed.
    await second.shelf.store.save(
      { id: 'ghost2-s', vmId: 'ghost2', parent: null, name: 'S', createdAt: ++created, kind: 'auto' },
      bytes,
    );
    await set('vms-v1', { damaged: true }, library);
    const third = await start();
    expect((await third.shelf.store.list()).map((r) => r.vmId)).toContain('ghost2');
  });

  it('removes at the next start the disk and files of a VM no longer stored, not those of a definition it cannot read', async () => {
    const first = await start();
    const alive = await vmWithData(first.library, first.shelf, 'alive-disk');
    const file = (name: string) => ({ disk: new File([new Uint8Array(4096).fill(3)], name) });
    for (const vmId of ['ghost-disk', 'future-disk']) {
      await saveOverlayBlocks(vmId, 'custom:x.img:4096', new Map([[2, new Uint8Array(4096).fill(2)]]));
      await saveCustomImage(vmId, file(`${vmId}.img`));
    }
    const library = createStore('tabvm', 'library');
    const stored: unknown[] = (await get('vms-v1', library)) ?? [];
    await set('vms-v1', [...stored, { id: 'future-disk', name: 'future-disk', image: 7, ramMiB: 64 }], library);
    vi.spyOn(console, 'warn').mockImplementation(() => {});

    const second = await start();
    expect(await listOverlayVmIds()).not.toContain('ghost-disk');
    expect(await listCustomImageVmIds()).not.toContain('ghost-disk');
    expect((await loadOverlay('future-disk')).blocks.size).toBe(1);
    expect((await loadCustomImage('future-disk')).disk.name).toBe('future-disk.img');
    await expectAllThere(second.shelf, alive);

    // A damaged library list tells nothing about which VMs are gone: nothing is removed.
    await saveOverlayBlocks('ghost2-disk', 'img', new Map([[2, new Uint8Array(4096)]]));
    await saveCustomImage('ghost2-disk', file('ghost2.img'));
    await set('vms-v1', { damaged: true }, library);
    await start();
    expect(await listOverlayVmIds()).toContain('ghost2-disk');
    expect(await listCustomImageVmIds()).toContain('ghost2-disk');
  });

  it('stores a new VM before its own files, so a start elsewhere never takes them for a deleted VM’s; a failed save stores neither', async () => {
    const { library } = await start();
    const order: string[] = [];
    const put = IDBObjectStore.prototype.put;
    const spy = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args) {
      order.push(this.transaction.db.name);
      return put.apply(this, args);
    });
    const made = await library.create(
      { name: 'ordered', image: CUSTOM_IMAGE_ID, ramMiB: 64 },
      { disk: new File([new Uint8Array(4096)], 'o.img') },
    );
    expect(order).toEqual(['tabvm', 'tabvm-custom-images']);
    expect((await loadCustomImage(made.definition.id)).disk.name).toBe('o.img');

    // The browser refuses the files (storage full): the VM is not kept either.
    spy.mockImplementation(function (this: IDBObjectStore, ...args) {
      if (this.transaction.db.name === 'tabvm-custom-images') throw new DOMException('full', 'QuotaExceededError');
      return put.apply(this, args);
    });
    const before = (await loadDefinitions()).map((d) => d.name);
    await expect(
      library.create(
        { name: 'too-big', image: CUSTOM_IMAGE_ID, ramMiB: 64 },
        { disk: new File([new Uint8Array(4096)], 'b.img') },
      ),
    ).rejects.toThrow(/full/);
    expect((await loadDefinitions()).map((d) => d.name)).toEqual(before);
    expect(names(library)).not.toContain('too-big');
    expect(before).toContain('ordered');
  });
});

describe('changing a VM’s settings', () => {
  it('stores a new name, RAM and CPUs for the next start and refuses a name another VM has', async () => {
    const { library } = await start();
    const entry = await library.create({ name: 'settings-a', image: 'default', ramMiB: 64, cpus: 1 });
    await library.create({ name: 'settings-b', image: 'default', ramMiB: 64 });
    const updated = await library.update(entry.definition.id, { name: ' settings-c ', ramMiB: 128, cpus: 3 });
    expect(updated.definition).toMatchObject({ name: 'settings-c', ramMiB: 128, cpus: 3, mac: entry.definition.mac });
    expect(updated.controller).toBe(entry.controller);
    expect(entry.controller.options).toMatchObject({ ramMiB: 128, cpus: 3 });
    expect(
      (await start()).library.getSnapshot().entries.find((e) => e.definition.id === entry.definition.id)?.definition,
    ).toMatchObject({ name: 'settings-c', ramMiB: 128, cpus: 3 });
    // A VM's own name in another case is no clash; another VM's name is.
    expect(library.isNameTaken('SETTINGS-C', entry.definition.id)).toBe(false);
    await expect(library.update(entry.definition.id, { name: 'Settings-B', ramMiB: 128, cpus: 3 })).rejects.toThrow(
      'A VM named “Settings-B” already exists.',
    );
  });

  it('renames a running VM but keeps its RAM and CPUs until it is powered off', async () => {
    const { library } = await start();
    const entry = await library.create({ name: 'settings-live', image: 'default', ramMiB: 64, cpus: 2 });
    vi.spyOn(entry.controller, 'getView').mockReturnValue({ ...entry.controller.getView(), phase: 'running' });
    await expect(library.update(entry.definition.id, { name: 'settings-live', ramMiB: 96, cpus: 2 })).rejects.toThrow(
      'Power off settings-live to change its RAM, CPUs or network card.',
    );
    expect(entry.controller.options.ramMiB).toBe(64);
    const renamed = await library.update(entry.definition.id, { name: 'settings-live-2', ramMiB: 64, cpus: 2 });
    expect(renamed.definition.name).toBe('settings-live-2');
    expect((await loadDefinitions()).find((d) => d.id === entry.definition.id)?.name).toBe('settings-live-2');
  });

  it('takes the network card out and puts it back for the next start, never while the VM runs', async () => {
    const { library } = await start();
    const entry = await library.create({ name: 'settings-net', image: 'default', ramMiB: 64 });
    expect(entry.controller.options.net?.mac).toBe(entry.definition.mac);
    const unplugged = await library.update(entry.definition.id, {
      name: 'settings-net',
      ramMiB: 64,
      cpus: 1,
      network: false,
    });
    expect(unplugged.definition.network).toBe(false);
    expect(entry.controller.options.net).toBeUndefined();
    expect((await loadDefinitions()).find((d) => d.id === entry.definition.id)?.network).toBe(false);
    // A settings change without the field keeps the card as it is.
    await library.update(entry.definition.id, { name: 'settings-net', ramMiB: 96, cpus: 1 });
    expect(entry.controller.options.net).toBeUndefined();
    const spy = vi.spyOn(entry.controller, 'getView');
    spy.mockReturnValue({ ...entry.controller.getView(), phase: 'running' });
    await expect(
      library.update(entry.definition.id, { name: 'settings-net', ramMiB: 96, cpus: 1, network: true }),
    ).rejects.toThrow('Power off settings-net to change its RAM, CPUs or network card.');
    spy.mockRestore();
    const plugged = await library.update(entry.definition.id, {
      name: 'settings-net',
      ramMiB: 96,
      cpus: 1,
      network: true,
    });
    expect(plugged.definition.network).toBe(true);
    expect(entry.controller.options.net?.mac).toBe(entry.definition.mac);
    expect(entry.controller.options.net?.onNetwork).toBeTypeOf('function');
  });
});
