/**
 * Each VM's disk overlay in IndexedDB: the 4 KiB blocks its guest wrote over the image's disk
 * (workers/host/block/overlay-disk.ts), so files written in the guest are still there after a reload.
 * Keys are [vmId, block index]; beside the blocks, [vmId, 'base'] names the disk image they were
 * written over, so an overlay is never laid over a different image. Blocks of one save are written
 * in one transaction: a failed save (storage full) leaves everything saved before as it was.
 */
import { createStore, promisifyRequest, type UseStore } from 'idb-keyval';
import { z } from 'zod';

export const OVERLAY_BLOCK_BYTES = 4096;
const BASE_KEY = 'base';

let store: UseStore | undefined;
function overlays(): UseStore {
  store ??= createStore('tabvm-disk-overlays', 'blocks');
  return store;
}

export interface SavedOverlay {
  /** The image the blocks belong to, or undefined when nothing was saved for this VM. */
  readonly base: string | undefined;
  readonly blocks: Map<number, Uint8Array>;
}

const StoredBlock = z.instanceof(Uint8Array).refine((b) => b.length === OVERLAY_BLOCK_BYTES, 'a 4 KiB block');

function blockRange(vmId: string): IDBKeyRange {
  // Arrays compare element by element, and every number sorts before every string.
  return IDBKeyRange.bound([vmId, 0], [vmId, Number.MAX_SAFE_INTEGER]);
}

/** The VM's saved overlay; a damaged block is an error, since dropping it would corrupt the guest's file system. */
export async function loadOverlay(vmId: string): Promise<SavedOverlay> {
  return overlays()('readonly', async (s) => {
    const base: unknown = await promisifyRequest(s.get([vmId, BASE_KEY]));
    const range = blockRange(vmId);
    const [keys, values] = await Promise.all([
      promisifyRequest(s.getAllKeys(range)),
      promisifyRequest(s.getAll(range)),
    ]);
    const blocks = new Map<number, Uint8Array>();
    keys.forEach((key, i) => {
      const index = (key as [string, number])[1];
      const parsed = StoredBlock.safeParse(values[i]);
      if (!parsed.success) throw new Error(`the saved disk of this VM is damaged (block ${index})`);
      blocks.set(index, parsed.data);
    });
    return { base: typeof base === 'string' ? base : undefined, blocks };
  });
}

/** Saves blocks of the VM's overlay over the image `base`, all or none. */
export async function saveOverlayBlocks(
  vmId: string,
  base: string,
  blocks: ReadonlyMap<number, Uint8Array>,
): Promise<void> {
  await writeOverlay(vmId, base, blocks, false);
}

/**
 * Makes the VM's overlay exactly `blocks` (a restored snapshot's), in one transaction: if it fails, the
 * overlay saved before is intact.
 */
export async function replaceOverlay(
  vmId: string,
  base: string,
  blocks: ReadonlyMap<number, Uint8Array>,
): Promise<void> {
  await writeOverlay(vmId, base, blocks, true);
}

async function writeOverlay(
  vmId: string,
  base: string,
  blocks: ReadonlyMap<number, Uint8Array>,
  replace: boolean,
): Promise<void> {
  await overlays()('readwrite', (s) => {
    const done = promisifyRequest(s.transaction);
    try {
      if (replace) s.delete(blockRange(vmId));
      s.put(base, [vmId, BASE_KEY]);
      for (const [index, bytes] of blocks) s.put(bytes, [vmId, index]);
    } catch (error) {
      // A put that throws (a value that cannot be stored) leaves the others queued: undo them all.
      done.catch(() => {});
      s.transaction.abort();
      throw error;
    }
    return done;
  });
}

/** The ids of the VMs that have anything of an overlay stored (blocks or the name of their image). */
export async function listOverlayVmIds(): Promise<Set<string>> {
  return overlays()(
    'readonly',
    (s) =>
      new Promise<Set<string>>((resolve, reject) => {
        const ids = new Set<string>();
        const request = s.openKeyCursor();
        request.onsuccess = () => {
          const cursor = request.result;
          if (!cursor) return resolve(ids);
          const vmId = (cursor.key as [string, number | string])[0];
          ids.add(vmId);
          // On to the next VM: an array sorts after every number and string, so [vmId, []] after all of this one's keys.
          cursor.continue([vmId, []]);
        };
        request.onerror = () => reject(request.error ?? new Error('the disk overlays could not be listed'));
      }),
  );
}

/** Forgets the VM's overlay: its disk reads as the image again (Reset disk, or the VM was deleted). */
export async function deleteOverlay(vmId: string): Promise<void> {
  await overlays()('readwrite', (s) => {
    s.delete(blockRange(vmId));
    s.delete([vmId, BASE_KEY]);
    return promisifyRequest(s.transaction);
  });
}
