/**
 * A VM's disk as the page keeps it: which disk a worker boots with (the image's chunked disk, or the
 * user's own raw file), the copy-on-write overlay saved in IndexedDB under the VM's id
 * (src/storage/disk-overlay.ts), the guest's writes added to it as they come, and what the UI shows of
 * the disk. An overlay is only ever used over the image it was written on. Without a VM id (an embedded
 * VM) nothing is saved: the disk's changes live as long as the worker.
 */
import type { VmDiskRequest } from '../../workers/protocol/vm-api.ts';
import { chunkedDiskIdentity, type DiskStatus } from '../../workers/protocol/disk-image.ts';
import { diskIdentity, imageDirectoryUrl, type CatalogEntry, type ImageFiles } from './images.ts';
import { deleteOverlay, loadOverlay, replaceOverlay, saveOverlayBlocks } from '../storage/disk-overlay.ts';

/** A VM's disk as the UI shows it (images whose manifest has a `disk`). */
export interface VmDiskView {
  /** Compressed bytes of the image's disk downloaded by this run, and what the whole disk would cost. */
  readonly downloadedBytes: number;
  readonly totalBytes: number;
  readonly fetchedChunks: number;
  /** Bytes of the guest's writes this run kept in the browser's storage (a block saved again counts again). */
  readonly writtenBytes?: number;
  /** The latest disk read that failed for the guest (an I/O error there), in words for a person. */
  readonly error?: string;
  /** Why the guest's latest writes could not be kept in the browser's storage (e.g. it is full). */
  readonly saveError?: string;
}

/** A VM's own raw disk (the user's file), the identity its overlay is saved under, and its contents' identity. */
export interface RawDisk {
  readonly disk: Uint8Array;
  readonly identity: string;
  readonly image: string;
}

/** The disk a worker boots with, and the identity of the image its overlay is written over. */
export interface DiskPlan {
  readonly request: VmDiskRequest;
  readonly base: string;
}

/** What the disk reports to its VM: the disk part of the view, and notes for the console. */
export interface VmDiskHost {
  readonly view: () => VmDiskView | undefined;
  readonly setView: (view: VmDiskView | undefined) => void;
  readonly note: (text: string) => void;
}

export class VmDisk {
  readonly #vmId: string | undefined;
  readonly #host: VmDiskHost;
  /** Bumped by reset() and dispose(): writes of workers started before it are dropped. */
  #epoch = 0;

  constructor(vmId: string | undefined, host: VmDiskHost) {
    this.#vmId = vmId;
    this.#host = host;
  }

  /**
   * The disk a worker boots with: the image's (or `raw`) under this VM's saved overlay, or with
   * `restoring` under none (the restored machine puts the snapshot's overlay in, and restored() saves it
   * once the restore succeeded); undefined for images without a disk.
   */
  async open(
    images: ImageFiles,
    entry: CatalogEntry,
    raw: RawDisk | undefined,
    restoring = false,
  ): Promise<DiskPlan | undefined> {
    const manifest = images.manifest.disk;
    const base = raw ? raw.identity : await diskIdentity(images.manifest);
    if ((!manifest && !raw) || base === undefined) return undefined;
    let saved = { base: undefined as string | undefined, blocks: new Map<number, Uint8Array>() };
    if (!restoring && this.#vmId !== undefined) {
      try {
        saved = await loadOverlay(this.#vmId);
      } catch (error) {
        throw new Error(
          `the saved disk of this VM could not be read (${(error as Error).message}); Reset disk starts it afresh`,
          { cause: error },
        );
      }
    }
    if (saved.base !== undefined && saved.base !== base) {
      throw new Error(
        `the saved disk of this VM was written over another version of image ${images.manifest.name}; Reset disk starts it afresh`,
      );
    }
    if (raw) {
      const source = { kind: 'raw', bytes: raw.disk } as const;
      return { base, request: { source, overlay: saved.blocks, image: raw.image } };
    }
    if (!manifest) return undefined;
    const total = manifest.chunks.reduce((n, c) => n + c.compressedSize, 0);
    this.#host.setView({ downloadedBytes: 0, totalBytes: total, fetchedChunks: 0 });
    return {
      base,
      request: {
        source: { kind: 'chunked', baseUrl: imageDirectoryUrl(entry), manifest },
        overlay: saved.blocks,
        image: await chunkedDiskIdentity(manifest),
        ...(manifest.readOnly ? { readOnly: true } : {}),
      },
    };
  }

  /**
   * Where a worker started now sends the guest's writes: into the saved overlay over `plan`'s image,
   * until reset() or dispose() (writes still on their way then are dropped).
   */
  writer(plan: DiskPlan): (blocks: Map<number, Uint8Array>) => Promise<void> {
    const epoch = this.#epoch;
    return async (blocks) => {
      if (epoch === this.#epoch) await this.#save(plan.base, blocks);
    };
  }

  async #save(base: string, blocks: Map<number, Uint8Array>): Promise<void> {
    if (this.#vmId === undefined) return;
    try {
      await saveOverlayBlocks(this.#vmId, base, blocks);
    } catch (error) {
      const message = `the disk's changes could not be saved in the browser (${(error as Error).message})`;
      const view = this.#host.view();
      if (view?.saveError === undefined) this.#host.note(message);
      if (view) this.#host.setView({ ...view, saveError: message });
      throw new Error(message, { cause: error });
    }
    let written = 0;
    for (const block of blocks.values()) written += block.length;
    const view = this.#host.view();
    if (view) {
      const { saveError: _cleared, ...rest } = view;
      this.#host.setView({ ...rest, writtenBytes: (view.writtenBytes ?? 0) + written });
    }
  }

  /** A restore succeeded: the saved overlay becomes exactly the snapshot's, in one write. */
  async restored(plan: DiskPlan, blocks: ReadonlyMap<number, Uint8Array>): Promise<void> {
    if (this.#vmId === undefined) return;
    try {
      await replaceOverlay(this.#vmId, plan.base, blocks);
    } catch (error) {
      const message = `the restored disk could not be saved in the browser (${(error as Error).message})`;
      this.#host.note(message);
      this.#host.setView({
        ...(this.#host.view() ?? { downloadedBytes: 0, totalBytes: 0, fetchedChunks: 0 }),
        saveError: message,
      });
    }
  }

  /** Download progress and read failures the worker reports. */
  status(status: DiskStatus): void {
    const { error: _previous, ...rest } = this.#host.view() ?? {};
    if (status.error !== undefined && status.error !== this.#host.view()?.error)
      this.#host.note(`disk error: ${status.error}`);
    this.#host.setView({ ...rest, ...status });
  }

  /** Forgets what the guest wrote: the next start sees the image's disk as shipped. */
  async reset(): Promise<void> {
    // Writes of a powered-off worker may still be on their way: from now on they are dropped.
    this.#epoch++;
    if (this.#vmId !== undefined) await deleteOverlay(this.#vmId);
    const view = this.#host.view();
    if (view) {
      const { downloadedBytes, totalBytes, fetchedChunks } = view;
      this.#host.setView({ downloadedBytes, totalBytes, fetchedChunks });
    }
  }

  /** The VM is deleted: writes still on their way must not bring back its overlay. */
  dispose(): void {
    this.#epoch++;
  }
}
