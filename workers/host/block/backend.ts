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

/** A disk whose written state a snapshot can hold and put back (the copy-on-write overlay). */
export interface SnapshotableBlockBackend extends BlockBackend {
  /** Bytes per block of `exportBlocks`. */
  readonly blockBytes: number;
  /** A copy of every block written over the base, by index. */
  exportBlocks(): Map<number, Uint8Array<ArrayBuffer>>;
  /** Makes the written blocks exactly these (a snapshot's). */
  restoreBlocks(blocks: ReadonlyMap<number, Uint8Array>): void;
}

export function isSnapshotable(backend: BlockBackend): backend is SnapshotableBlockBackend {
  return 'exportBlocks' in backend && 'restoreBlocks' in backend;
}
