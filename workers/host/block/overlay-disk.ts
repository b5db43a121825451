/**
 * A copy-on-write overlay over any disk: the guest writes into blocks the overlay keeps, reads see
 * those blocks over the base, and the base is never written. Dirty blocks go to a persistence port
 * (the VM's disks channel to the host, workers/protocol/disk-channel.ts: the page keeps them in
 * IndexedDB, src/storage/disk-overlay.ts) after a short delay and on every guest flush, which completes
 * only once they are stored; at boot the overlay starts from the saved blocks. `exportBlocks` hands a snapshot the overlay's blocks, `discard` forgets them (Reset disk).
 *
 * Blocks are 4 KiB: Linux's page cache and ext4 write whole, aligned 4 KiB pages, so almost every guest
 * write replaces whole blocks (no read-modify-write against a base that may sit behind HTTP), and a
 * small file change stores 4 KiB rather than a whole image chunk.
 */
import { DISK_SECTOR_BYTES } from '../../protocol/disk-image.ts';
import { OVERLAY_BLOCK_BYTES } from '../../protocol/disk-channel.ts';
import {
  BlockIoError,
  checkBlockRange,
  forEachBlock,
  type BlockBackend,
  type SnapshotableBlockBackend,
} from './backend.ts';

export { OVERLAY_BLOCK_BYTES };

export interface OverlayPersistence {
  /** Stores these blocks (index → OVERLAY_BLOCK_BYTES bytes, copies the port may keep); rejects if it cannot. */
  persist(blocks: ReadonlyMap<number, Uint8Array<ArrayBuffer>>): Promise<void>;
}

export interface OverlayDiskOptions {
  /** Blocks saved earlier, index → bytes. */
  readonly saved?: Iterable<readonly [number, Uint8Array]>;
  readonly persistence?: OverlayPersistence;
  /** How long dirty blocks wait for more writes before they are persisted without a flush; default 1000. */
  readonly persistDelayMs?: number;
  readonly id?: string;
  /** The identity of `base`'s image (workers/protocol/disk-image.ts), if the caller knows it. */
  readonly image?: string;
}

export class OverlayDisk implements SnapshotableBlockBackend {
  readonly blockBytes = OVERLAY_BLOCK_BYTES;
  readonly size: number;
  readonly readOnly = false;
  readonly id: string;
  readonly image: string | undefined;
  readonly #base: BlockBackend;
  /** Index → bytes. An array here is never written again: a write replaces it (see exportBlocks). */
  readonly #blocks = new Map<number, Uint8Array<ArrayBuffer>>();
  readonly #dirty = new Set<number>();
  /** Blocks whose base bytes are being read for a partial write. */
  readonly #materializing = new Map<number, Promise<void>>();
  readonly #persistence: OverlayPersistence | undefined;
  readonly #persistDelayMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The persist in progress; the next one starts after it (IndexedDB then sees writes in order). */
  #persisting: Promise<void> = Promise.resolve();

  constructor(base: BlockBackend, options: OverlayDiskOptions = {}) {
    if (base.size % OVERLAY_BLOCK_BYTES !== 0) {
      throw new BlockIoError(
        `an overlay needs a disk of whole ${OVERLAY_BLOCK_BYTES}-byte blocks (this one has ${base.size} bytes)`,
      );
    }
    this.#base = base;
    this.size = base.size;
    this.id = options.id ?? base.id;
    this.image = options.image;
    this.#persistence = options.persistence;
    this.#persistDelayMs = options.persistDelayMs ?? 1000;
    for (const [index, bytes] of options.saved ?? []) {
      if (
        !Number.isInteger(index) ||
        index < 0 ||
        index >= this.size / OVERLAY_BLOCK_BYTES ||
        bytes.length !== OVERLAY_BLOCK_BYTES
      ) {
        throw new BlockIoError(`saved overlay block ${index} (${bytes.length} bytes) does not fit this disk`);
      }
      this.#blocks.set(index, new Uint8Array(bytes));
    }
  }

  /** Blocks the overlay holds. */
  get blockCount(): number {
    return this.#blocks.size;
  }

  /** Blocks written but not yet persisted. */
  get dirtyCount(): number {
    return this.#dirty.size;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    checkBlockRange(this, offset, into.length);
    const parts: Promise<void>[] = [];
    // Runs of blocks the overlay does not hold are read from the base in one request each.
    let runStart = -1;
    const endRun = (at: number): void => {
      if (runStart < 0) return;
      parts.push(this.#base.read(offset + runStart, into.subarray(runStart, at)));
      runStart = -1;
    };
    forEachBlock(offset, into.length, OVERLAY_BLOCK_BYTES, (index, within, at, n) => {
      const block = this.#blocks.get(index);
      if (block) {
        endRun(at);
        into.set(block.subarray(within, within + n), at);
      } else if (runStart < 0) runStart = at;
    });
    endRun(into.length);
    await Promise.all(parts);
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    checkBlockRange(this, offset, data.length);
    if (offset % DISK_SECTOR_BYTES !== 0 || data.length % DISK_SECTOR_BYTES !== 0) {
      throw new BlockIoError(`write [${offset}, +${data.length}) is not in whole sectors`);
    }
    const partial: Promise<void>[] = [];
    forEachBlock(offset, data.length, OVERLAY_BLOCK_BYTES, (index, within, at, n) => {
      const piece = data.subarray(at, at + n);
      if (n === OVERLAY_BLOCK_BYTES) {
        this.#blocks.set(index, new Uint8Array(piece));
        this.#markDirty(index);
      } else {
        partial.push(
          this.#materialize(index).then(() => {
            // A new array, not a change to the held one: a snapshot may still hold that one.
            const block = this.#blocks.get(index)!.slice();
            block.set(piece, within);
            this.#blocks.set(index, block);
            this.#markDirty(index);
          }),
        );
      }
    });
    await Promise.all(partial);
  }

  /** Persists every dirty block; the guest's flush completes when they are stored. */
  async flush(): Promise<void> {
    await this.#persist();
  }

  /** Every block the overlay holds, for a snapshot: the arrays themselves, which no write changes. */
  exportBlocks(): Map<number, Uint8Array> {
    return new Map(this.#blocks);
  }

  /**
   * Makes the written blocks exactly `blocks` (restoring a snapshot) and hands them all to the
   * persistence port; a host that keeps blocks must first forget the ones it has (they may be newer).
   */
  restoreBlocks(blocks: ReadonlyMap<number, Uint8Array>): void {
    for (const [index, bytes] of blocks) {
      if (
        !Number.isInteger(index) ||
        index < 0 ||
        index >= this.size / OVERLAY_BLOCK_BYTES ||
        bytes.length !== OVERLAY_BLOCK_BYTES
      ) {
        throw new BlockIoError(`overlay block ${index} (${bytes.length} bytes) does not fit this disk`);
      }
    }
    this.discard();
    for (const [index, bytes] of blocks) {
      this.#blocks.set(index, new Uint8Array(bytes));
      this.#markDirty(index);
    }
  }

  /** Forgets every written block: the disk reads as its base again (the page clears its copy itself). */
  discard(): void {
    this.#blocks.clear();
    this.#dirty.clear();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Makes sure the overlay holds block `index`, copying it from the base first if needed. */
  #materialize(index: number): Promise<void> {
    if (this.#blocks.has(index)) return Promise.resolve();
    let pending = this.#materializing.get(index);
    if (!pending) {
      const bytes = new Uint8Array(OVERLAY_BLOCK_BYTES);
      pending = this.#base.read(index * OVERLAY_BLOCK_BYTES, bytes).then(
        () => {
          this.#materializing.delete(index);
          // A whole-block write may have landed meanwhile; it is newer than the base.
          if (!this.#blocks.has(index)) this.#blocks.set(index, bytes);
        },
        (error: unknown) => {
          this.#materializing.delete(index);
          throw error;
        },
      );
      this.#materializing.set(index, pending);
    }
    return pending;
  }

  #markDirty(index: number): void {
    if (!this.#persistence) return;
    this.#dirty.add(index);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        // A failure here is retried by the next flush, which reports it to the guest.
        this.#persist().catch(() => {});
      }, this.#persistDelayMs);
    }
  }

  #persist(): Promise<void> {
    const persistence = this.#persistence;
    if (!persistence) return Promise.resolve();
    const run = this.#persisting.then(async () => {
      if (this.#dirty.size === 0) return;
      const blocks = new Map<number, Uint8Array<ArrayBuffer>>();
      for (const index of this.#dirty) blocks.set(index, this.#blocks.get(index)!.slice());
      this.#dirty.clear();
      try {
        await persistence.persist(blocks);
      } catch (error) {
        // Still dirty: a later flush tries again (unless the guest rewrote them meanwhile, which marked them anyway).
        for (const index of blocks.keys()) if (this.#blocks.has(index)) this.#dirty.add(index);
        throw new BlockIoError(
          `the disk's changes could not be saved: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    });
    this.#persisting = run.catch(() => {});
    return run;
  }
}
