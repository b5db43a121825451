/**
 * Snapshot storage on a real IndexedDB implementation (fake-indexeddb): chunked saves commit with their
 * record, failed and interrupted saves leave nothing behind and every earlier snapshot intact, and
 * deleting a parent keeps its children restorable.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStore, keys, set } from 'idb-keyval';
import { SnapshotStore, SnapshotStoreError, type SnapshotRecord } from './snapshot-store.ts';
import {
  decodeSnapshotFile,
  encodeSnapshotFile,
  type SnapshotHeaderInput,
} from '../../workers/protocol/snapshot-container.ts';
import { SNAPSHOT_PAGE_SIZE } from '../../workers/protocol/snapshot-format.ts';

const RAM_PAGES = 16;
let dbCount = 0;

function freshStore(chunkBytes = 1000): { store: SnapshotStore; db: ReturnType<typeof createStore> } {
  const db = createStore(`test-${++dbCount}`, 'files');
  return { store: new SnapshotStore(db, chunkBytes), db };
}

/** A small snapshot file: `pages` maps page numbers to a fill byte (0 = zeroed, for a child). */
async function file(
  id: string,
  parent: string | null,
  pages: Record<number, number>,
): Promise<Uint8Array<ArrayBuffer>> {
  const header: SnapshotHeaderInput = {
    id,
    parent,
    machine: { ramSize: RAM_PAGES * SNAPSHOT_PAGE_SIZE, harts: 1, bootargs: '' },
    images: { bios: { size: 1, sha256: '0'.repeat(64) }, kernel: null, initrd: null },
    createdAt: new Date(0).toISOString(),
    devices: {},
  };
  const numbers = Object.keys(pages)
    .map(Number)
    .sort((a, b) => a - b);
  const stored = numbers.filter((n) => pages[n] !== 0);
  const pageData = new Uint8Array(stored.length * SNAPSHOT_PAGE_SIZE);
  stored.forEach((n, i) => pageData.fill(pages[n]!, i * SNAPSHOT_PAGE_SIZE, (i + 1) * SNAPSHOT_PAGE_SIZE));
  // Random bytes in the CPU block keep the file from compressing to less than a chunk.
  const cpu = [crypto.getRandomValues(new Uint8Array(4096))];
  return encodeSnapshotFile(header, {
    cpu,
    pages: Uint32Array.from(stored),
    zeroed: Uint32Array.from(numbers.filter((n) => pages[n] === 0)),
    pageData,
    disks: [],
  });
}

const record = (
  id: string,
  parent: string | null,
  name = id,
): Omit<SnapshotRecord, 'size' | 'generation' | 'chunks'> => ({
  id,
  vmId: 'vm-1',
  parent,
  name,
  createdAt: Date.now(),
  kind: 'manual',
});

/** RAM as a restore would rebuild it from a chain: page number → fill byte, zero pages left out. */
async function ramOf(chain: Uint8Array[]): Promise<Record<number, number>> {
  const ram: Record<number, number> = {};
  for (const f of chain) {
    const c = await decodeSnapshotFile(f);
    if (c.header.parent === null) for (const k of Object.keys(ram)) delete ram[Number(k)];
    c.pages.forEach((p, i) => (ram[p] = c.pageData[i * SNAPSHOT_PAGE_SIZE]!));
    for (const p of c.zeroed) delete ram[p];
  }
  return ram;
}

afterEach(() => vi.restoreAllMocks());

describe('snapshot store', () => {
  it('stores a snapshot in chunks and reads back the same bytes; the record lists it', async () => {
    const { store, db } = freshStore();
    const bytes = await file('a', null, { 1: 7, 2: 8 });
    expect(bytes.length).toBeGreaterThan(3000);
    const saved = await store.save(record('a', null), bytes);
    expect(saved.chunks).toBe(Math.ceil(bytes.length / 1000));
    expect((await keys(db)).filter((k) => String(k).startsWith('chunk:a:0:'))).toHaveLength(saved.chunks);
    expect(Buffer.from(await store.read('a')).equals(Buffer.from(bytes))).toBe(true);
    expect((await store.list()).map((r) => [r.id, r.size])).toEqual([['a', bytes.length]]);
    await store.rename('a', 'after boot');
    expect((await store.record('a'))?.name).toBe('after boot');
  });

  it('a write failure half way (quota exceeded) is a clear error; the new snapshot is absent and earlier ones intact', async () => {
    const { store, db } = freshStore();
    const first = await file('a', null, { 1: 1 });
    await store.save(record('a', null), first);
    const second = await file('b', null, { 1: 2, 3: 3 });
    // The third put of the next save fails as a full disk does.
    const put = IDBObjectStore.prototype.put;
    let calls = 0;
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args) {
      if (++calls === 3) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    });
    const error: unknown = await store.save(record('b', null), second).then(
      () => undefined,
      (e: unknown) => e,
    );
    vi.restoreAllMocks();
    expect(error).toBeInstanceOf(SnapshotStoreError);
    expect((error as Error).message).toMatch(/not enough storage space/);
    expect((error as Error).message).toMatch(/Earlier snapshots are intact/);
    expect((await store.list()).map((r) => r.id)).toEqual(['a']);
    expect(Buffer.from(await store.read('a')).equals(Buffer.from(first))).toBe(true);
    expect((await keys(db)).filter((k) => String(k).startsWith('chunk:b:'))).toEqual([]);
  });

  it('a save interrupted before its record (the tab closed) is invisible, and its chunks are collected', async () => {
    const { store, db } = freshStore();
    await store.save(record('a', null), await file('a', null, { 1: 1 }));
    // What a closed tab leaves: some chunks of "b", no record.
    await set('chunk:b:0:0', new Uint8Array(1000), db);
    await set('chunk:b:0:1', new Uint8Array(1000), db);
    expect((await store.list()).map((r) => r.id)).toEqual(['a']);
    await expect(store.read('b')).rejects.toThrow(/not in this browser's storage/);
    expect(await store.collectGarbage()).toBe(2);
    const left = (await keys(db)).map(String);
    expect(left.some((k) => k.startsWith('chunk:b:'))).toBe(false);
    expect(left.filter((k) => k.startsWith('chunk:a:0:')).length).toBe((await store.record('a'))!.chunks);
    expect(await store.collectGarbage()).toBe(0);
  });

  it('deleting a parent re-bases its children: their RAM stays the same and they stay restorable', async () => {
    const { store, db } = freshStore();
    await store.save(record('p', null), await file('p', null, { 1: 1, 2: 2, 3: 3 }));
    await store.save(record('c', 'p'), await file('c', 'p', { 2: 0, 4: 4 }));
    await store.save(record('g', 'c'), await file('g', 'c', { 1: 9, 4: 0 }));
    const before = { c: await ramOf(await store.readChain('c')), g: await ramOf(await store.readChain('g')) };
    expect(before.c).toEqual({ 1: 1, 3: 3, 4: 4 });
    expect(before.g).toEqual({ 1: 9, 3: 3 });

    await store.delete('c'); // a middle link: g is re-based on p
    expect((await store.record('g'))?.parent).toBe('p');
    expect((await store.record('g'))?.generation).toBe(1);
    expect(await store.readChain('g')).toHaveLength(2);
    expect(await ramOf(await store.readChain('g'))).toEqual(before.g);

    await store.delete('p'); // the root: g becomes full
    expect((await store.record('g'))?.parent).toBeNull();
    expect(await store.readChain('g')).toHaveLength(1);
    expect(await ramOf(await store.readChain('g'))).toEqual(before.g);
    expect((await store.list()).map((r) => r.id)).toEqual(['g']);
    // Nothing of p, c or g's first generation is left behind.
    const left = (await keys(db)).map(String);
    expect(left.filter((k) => k.startsWith('chunk:') && !k.startsWith('chunk:g:2:'))).toEqual([]);
  });

  it('flattens a chain into one full snapshot for export', async () => {
    const { store } = freshStore();
    await store.save(record('p', null), await file('p', null, { 1: 1, 2: 2 }));
    await store.save(record('c', 'p'), await file('c', 'p', { 2: 0, 5: 5 }));
    const flat = await store.flattened('c');
    const contents = await store.contents('c');
    expect(contents.header.parent).toBeNull();
    const exported = (await decodeSnapshotFile(flat)).header;
    expect([exported.id, exported.parent]).toEqual(['c', null]);
    expect(contents.header.id).toBe('c');
    expect(await ramOf([flat])).toEqual({ 1: 1, 5: 5 });
    await expect(store.readChain('missing')).rejects.toThrow(/missing from storage/);
  });

  it('commits an automatic snapshot and the resume point naming it together: a full store keeps the old pair', async () => {
    const { store } = freshStore();
    const point = (snapshotId: string) => ({ snapshotId, running: true, at: 1 });
    await store.save({ ...record('a', null), kind: 'auto' }, await file('a', null, { 1: 1 }), 0, point('a'));
    expect((await store.resumePoints()).get('vm-1')).toEqual(point('a'));

    // The put of the record and the point fails as a full disk does: neither changes.
    const put = IDBObjectStore.prototype.put;
    vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (this: IDBObjectStore, ...args) {
      if (args[1] === 'current:vm-1') throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    });
    const error: unknown = await store
      .save({ ...record('b', 'a'), kind: 'auto' }, await file('b', 'a', { 2: 2 }), 0, point('b'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    vi.restoreAllMocks();
    expect((error as Error).message).toMatch(/not enough storage space/);
    expect((await store.list()).map((r) => r.id)).toEqual(['a']);
    expect((await store.resumePoints()).get('vm-1')).toEqual(point('a'));

    // Deleting the VM takes its resume point with it; a damaged one is skipped.
    await store.setResumePoint('vm-2', { snapshotId: null, running: false, at: 2 });
    await store.deleteVm('vm-1');
    expect([...(await store.resumePoints()).keys()]).toEqual(['vm-2']);
  });
});
