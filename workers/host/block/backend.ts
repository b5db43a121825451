/**
 * The port a virtio-blk device reaches its disk through (STYLE.md habit 10). Offsets and lengths are
 * bytes, multiples of DISK_SECTOR_BYTES; everything is asynchronous because a disk may live behind
 * HTTP or IndexedDB. A failed read or write rejects with `BlockIoError`, which the guest sees as
 * VIRTIO_BLK_S_IOERR; the backend says what went wrong to the host through its own status callback.
 */

export interface BlockBackend {
  /** Bytes of the disk: a multiple of DISK_SECTOR_BYTES. */
  readonly size: number;
  /** Whether writes are refused (the virtio-blk RO feature is then offered). */
  readonly readOnly: boolean;
  /** The disk's serial as VIRTIO_BLK_T_GET_ID returns it (at most 20 bytes of ASCII). */
  readonly id: string;
  /** Fills `into` with the bytes at [offset, offset + into.length). */
  read(offset: number, into: Uint8Array): Promise<void>;
  /** Writes `data` at `offset`; the backend may keep `data` (the caller gives up ownership). */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Resolves once every write completed before the call is durable. */
  flush(): Promise<void>;
}

/** A read or write the backend could not do: the guest gets an I/O error, the emulator carries on. */
export class BlockIoError extends Error {
  override readonly name = 'BlockIoError';
}

/** Checks an access against a backend's size; a bad one is a BlockIoError, never a crash. */
export function checkBlockRange(backend: Pick<BlockBackend, 'size'>, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > backend.size) {
    throw new BlockIoError(`access [${offset}, +${length}) is outside the disk of ${backend.size} bytes`);
  }
}

/**
 * Calls `visit` for each block a byte range [offset, offset + length) touches, in order: the block's
 * index, where the range starts within it, where that piece starts within the range, and its length.
 */
export function forEachBlock(
  offset: number,
  length: number,
  blockSize: number,
  visit: (index: number, within: number, at: number, n: number) => void,
): void {
  for (let at = 0; at < length;) {
    const within = (offset + at) % blockSize;
    const n = Math.min(blockSize - within, length - at);
    visit(Math.floor((offset + at) / blockSize), within, at, n);
    at += n;
  }
}

/** A disk whose written state a snapshot can hold and put back (the copy-on-write overlay). */
export interface SnapshotableBlockBackend extends BlockBackend {
  /** Bytes per block of `exportBlocks`. */
  readonly blockBytes: number;
  /**
   * The identity of the disk image under the overlay (workers/protocol/disk-image.ts), recorded in
   * snapshots so that a restore never lays their blocks over another image; undefined when unknown.
   */
  readonly image: string | undefined;
  /**
   * Every block written over the base, by index. The backend never changes a block in place once it
   * has it (a write puts a new array in its place), so the arrays stay as they are now: a snapshot may
   * keep them without copying, and a block whose array is another than at an earlier export has been
   * written since. Callers must not change them.
   */
  exportBlocks(): Map<number, Uint8Array>;
  /** Makes the written blocks exactly these (a snapshot's). */
  restoreBlocks(blocks: ReadonlyMap<number, Uint8Array>): void;
}

export function isSnapshotable(backend: BlockBackend): backend is SnapshotableBlockBackend {
  return 'exportBlocks' in backend && 'restoreBlocks' in backend;
}
