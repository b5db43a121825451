/**
 * Snapshots in IndexedDB (idb-keyval, a database of their own). A snapshot file is stored as chunks
 * (`chunk:<id>:<generation>:<n>`) and one record (`snap:<id>`) written after the last chunk: the
 * record is the commit, so a save that fails or is interrupted half way leaves no snapshot behind and
 * every earlier one as it was. Chunks no record points to (an interrupted save, a replaced generation)
 * are removed by `collectGarbage()`.
 *
 * A child snapshot needs its parent. Deleting a parent re-bases its children first: each child is
 * merged with the parent into a new generation of the child (a child of the grandparent, or full),
 * committed by rewriting the child's record; only then does the parent go. Records are validated
 * with zod when read, so a damaged record is skipped, not fatal.
 *
 * Each VM has one resume point (`current:<vmId>`, docs/snapshots.md "Nothing lost"): the snapshot that
 * holds its newest state and whether it was running when the page went away. An automatic snapshot
 * and the resume point that names it are committed in one transaction, so the newest state stored is
 * always the one offered.
 */
import { createStore, del, delMany, get, getMany, keys, promisifyRequest, set, type UseStore } from 'idb-keyval';
import { z } from 'zod';
import {
  SnapshotError,
  decodeChain,
  decodeSnapshotFile,
  encodeContents,
  mergeSnapshots,
  readSnapshotHeader,
  type SnapshotContents,
} from '../../workers/protocol/snapshot-container.ts';

export const SnapshotRecordSchema = z.object({
  id: z.string().min(1),
  vmId: z.string().min(1),
  parent: z.string().min(1).nullable(),
  name: z.string(),
  /** What the person wrote about it when they took it. */
  description: z.string().optional(),
  /** The console's last line when it was taken (the guest's prompt), shown again after a restore. */
  consoleLine: z.instanceof(Uint8Array).optional(),
  /** ms since the epoch. */
  createdAt: z.number(),
  /** Bytes of the stored file. */
  size: z.number().int().nonnegative(),
  /** `auto`: the VM's automatic snapshot (one per VM, replaced by the next); `manual`: in the tree. */
  kind: z.enum(['manual', 'auto']),
  generation: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
});
export type SnapshotRecord = z.infer<typeof SnapshotRecordSchema>;

export const ResumePointSchema = z.object({
  /** The snapshot holding the VM's newest state; null when it has none (it booted and took none yet). */
  snapshotId: z.string().min(1).nullable(),
  /** Whether the VM was running here when this was written: it resumes by itself when the page comes back. */
  running: z.boolean(),
  /** ms since the epoch. */
  at: z.number(),
});
export type ResumePoint = z.infer<typeof ResumePointSchema>;

/** A save or read that failed; the message says what happened and that nothing earlier was lost. */
export class SnapshotStoreError extends Error {
  override readonly name = 'SnapshotStoreError';
}

/** Chunk size: small enough that one write never holds the whole file twice in IndexedDB's queue. */
export const CHUNK_BYTES = 1 << 20;

const defaultStore = createStore('tabvm-snapshots', 'files');
const recordKey = (id: string): string => `snap:${id}`;
const chunkKey = (id: string, generation: number, n: number): string => `chunk:${id}:${generation}:${n}`;
const pointKey = (vmId: string): string => `current:${vmId}`;

export class SnapshotStore {
  readonly #store: UseStore;
  readonly #chunkBytes: number;
  /** Snapshots being written by this page: their chunks are not garbage yet. */
  readonly #writing = new Set<string>();

  constructor(store: UseStore = defaultStore, chunkBytes = CHUNK_BYTES) {
    this.#store = store;
    this.#chunkBytes = chunkBytes;
  }

  /** Every committed snapshot record, oldest first. */
  async list(): Promise<SnapshotRecord[]> {
    const all = (await keys(this.#store)).filter((k): k is string => typeof k === 'string' && k.startsWith('snap:'));
    const values = await getMany(all, this.#store);
    const out: SnapshotRecord[] = [];
    for (const value of values) {
      const parsed = SnapshotRecordSchema.safeParse(value);
      if (parsed.success) out.push(parsed.data);
      else console.warn('tabvm: skipping a stored snapshot record that does not parse', parsed.error.issues[0]);
    }
    return out.sort((a, b) => a.createdAt - b.createdAt);
  }

  async record(id: string): Promise<SnapshotRecord | undefined> {
    const parsed = SnapshotRecordSchema.safeParse(await get(recordKey(id), this.#store));
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Stores a snapshot file: chunks first, the record last (with `point`, the VM's resume point in the
   * same transaction). On any failure (quota, a broken database) the chunks written so far are removed
   * and a SnapshotStoreError says what happened.
   */
  async save(
    record: Omit<SnapshotRecord, 'size' | 'generation' | 'chunks'>,
    bytes: Uint8Array,
    generation = 0,
    point?: ResumePoint,
  ): Promise<SnapshotRecord> {
    const chunks = Math.ceil(bytes.length / this.#chunkBytes);
    const full: SnapshotRecord = { ...record, size: bytes.length, generation, chunks };
    const token = `${record.id}:${generation}`;
    this.#writing.add(token);
    let written = 0;
    try {
      for (; written < chunks; written++) {
        const start = written * this.#chunkBytes;
        await set(chunkKey(record.id, generation, written), bytes.slice(start, start + this.#chunkBytes), this.#store);
      }
      if (point) {
        await this.#store('readwrite', (s) => {
          try {
            s.put(full, recordKey(record.id));
            s.put(point, pointKey(record.vmId));
          } catch (error) {
            // A put that throws leaves the transaction to commit the other: neither may.
            s.transaction.abort();
            throw error;
          }
          return promisifyRequest(s.transaction);
        });
      } else {
        await set(recordKey(record.id), full, this.#store);
      }
      return full;
    } catch (error) {
      const keysWritten = Array.from({ length: written + 1 }, (_, n) => chunkKey(record.id, generation, n));
      await delMany(keysWritten, this.#store).catch(() => {});
      throw new SnapshotStoreError(describeWriteFailure(error));
    } finally {
      this.#writing.delete(token);
    }
  }

  /** Every VM's resume point (one that does not parse is skipped). */
  async resumePoints(): Promise<Map<string, ResumePoint>> {
    const all = (await keys(this.#store)).filter((k): k is string => typeof k === 'string' && k.startsWith('current:'));
    const values = await getMany(all, this.#store);
    const out = new Map<string, ResumePoint>();
    all.forEach((key, i) => {
      const parsed = ResumePointSchema.safeParse(values[i]);
      if (parsed.success) out.set(key.slice('current:'.length), parsed.data);
    });
    return out;
  }

  /** Makes `point` the VM's resume point (a restore, a start, a power off). */
  async setResumePoint(vmId: string, point: ResumePoint): Promise<void> {
    try {
      await set(pointKey(vmId), point, this.#store);
    } catch (error) {
      throw new SnapshotStoreError(describeWriteFailure(error));
    }
  }

  /** The file of one snapshot, as it was saved. */
  async read(id: string): Promise<Uint8Array<ArrayBuffer>> {
    const record = await this.record(id);
    if (!record) throw new SnapshotStoreError(`snapshot ${id} is not in this browser's storage`);
    const chunkKeys = Array.from({ length: record.chunks }, (_, n) => chunkKey(id, record.generation, n));
    const chunks = await getMany(chunkKeys, this.#store);
    const out = new Uint8Array(record.size);
    let at = 0;
    for (const chunk of chunks) {
      if (!(chunk instanceof Uint8Array) || at + chunk.length > out.length) {
        throw new SnapshotStoreError(`snapshot "${record.name}" is damaged in storage (a chunk is missing)`);
      }
      out.set(chunk, at);
      at += chunk.length;
    }
    if (at !== out.length)
      throw new SnapshotStoreError(`snapshot "${record.name}" is damaged in storage (it is short)`);
    return out;
  }

  /** The files a restore needs: the snapshot's chain, full snapshot first. */
  async readChain(id: string): Promise<Uint8Array<ArrayBuffer>[]> {
    const chain: Uint8Array<ArrayBuffer>[] = [];
    const seen = new Set<string>();
    for (let at: string | null = id; at !== null;) {
      if (seen.has(at)) throw new SnapshotStoreError('snapshot chain has a cycle');
      seen.add(at);
      const record: SnapshotRecord | undefined = await this.record(at);
      if (!record) throw new SnapshotStoreError(`snapshot ${id} needs snapshot ${at}, which is missing from storage`);
      chain.unshift(await this.read(at));
      at = record.parent;
    }
    return chain;
  }

  /** The snapshot unpacked, its chain merged (each file decompressed once): what a restore or a clone starts from. */
  async contents(id: string): Promise<SnapshotContents> {
    return decodeChain(await this.readChain(id));
  }

  /** One self-contained file for the snapshot (its chain merged), for export; a damaged file is refused, not exported. */
  async flattened(id: string): Promise<Uint8Array<ArrayBuffer>> {
    const files = await this.readChain(id);
    if (files.length > 1) return encodeContents(await decodeChain(files));
    // A full snapshot goes out as stored, once its checksum holds.
    await readSnapshotHeader(files[0]!);
    return files[0]!;
  }

  async rename(id: string, name: string): Promise<void> {
    const record = await this.record(id);
    if (!record) throw new SnapshotStoreError(`snapshot ${id} is not in this browser's storage`);
    await set(recordKey(id), { ...record, name }, this.#store);
  }

  /**
   * Deletes a snapshot. Its children are re-based first (each merged with it into a new generation),
   * so they stay restorable; if that fails nothing is deleted.
   */
  async delete(id: string): Promise<void> {
    const record = await this.record(id);
    if (!record) return;
    const children = (await this.list()).filter((r) => r.parent === id);
    if (children.length > 0) {
      let parent: SnapshotContents;
      try {
        parent = await decodeSnapshotFile(await this.read(id));
      } catch (error) {
        throw new SnapshotStoreError(
          `snapshot "${record.name}" cannot be deleted: its children cannot be re-based (${(error as Error).message})`,
        );
      }
      for (const child of children) {
        const merged = mergeSnapshots(parent, await decodeSnapshotFile(await this.read(child.id)));
        const file = await encodeContents(merged);
        const { size: _s, generation, chunks: _c, ...rest } = child;
        await this.save({ ...rest, parent: merged.header.parent }, file, generation + 1);
        await this.#deleteChunks(child.id, generation, child.chunks);
      }
    }
    await del(recordKey(id), this.#store);
    await this.#deleteChunks(id, record.generation, record.chunks);
  }

  /**
   * Deletes every snapshot of a VM (it is being deleted, so nothing is re-based): all its records in one
   * transaction, then their chunks. Chunks an interruption leaves behind are collectGarbage()'s.
   */
  async deleteVm(vmId: string): Promise<void> {
    const records = (await this.list()).filter((r) => r.vmId === vmId);
    await delMany([pointKey(vmId), ...records.map((r) => recordKey(r.id))], this.#store);
    for (const record of records) await this.#deleteChunks(record.id, record.generation, record.chunks);
  }

  /** Removes chunks that no committed record points to (saves interrupted by a closed tab, old generations). */
  async collectGarbage(): Promise<number> {
    const all = await keys(this.#store);
    const records = new Map((await this.list()).map((r) => [r.id, r]));
    const orphans: string[] = [];
    for (const key of all) {
      if (typeof key !== 'string' || !key.startsWith('chunk:')) continue;
      const [, id, generationText, nText] = key.split(':');
      const generation = Number(generationText);
      if (this.#writing.has(`${id}:${generation}`)) continue;
      const record = records.get(id!);
      if (!record || record.generation !== generation || Number(nText) >= record.chunks) orphans.push(key);
    }
    if (orphans.length > 0) await delMany(orphans, this.#store);
    return orphans.length;
  }

  async #deleteChunks(id: string, generation: number, chunks: number): Promise<void> {
    await delMany(
      Array.from({ length: chunks }, (_, n) => chunkKey(id, generation, n)),
      this.#store,
    );
  }
}

function describeWriteFailure(error: unknown): string {
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  if (name === 'QuotaExceededError') {
    return "There is not enough storage space for this snapshot (the browser's quota for this site is full). Delete snapshots or VMs you no longer need. Earlier snapshots are intact.";
  }
  const message = error instanceof Error ? error.message : String(error);
  return `The snapshot could not be saved (${message}). Earlier snapshots are intact.`;
}

export { SnapshotError };
