/**
 * A disk held in memory: user-uploaded raw images in the browser, and tests. Its bytes are the
 * caller's array, so the owner sees every write (the Node runner writes them back to the file).
 */
import { DISK_SECTOR_BYTES } from '../../protocol/disk-image.ts';
import { BlockIoError, checkBlockRange, type BlockBackend } from './backend.ts';

export class MemoryDisk implements BlockBackend {
  readonly size: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly readOnly = false,
    readonly id = 'tabvm-memory',
  ) {
    if (bytes.length === 0 || bytes.length % DISK_SECTOR_BYTES !== 0) {
      throw new BlockIoError(
        `a disk image must be a non-zero multiple of ${DISK_SECTOR_BYTES} bytes (this one has ${bytes.length})`,
      );
    }
    this.size = bytes.length;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    checkBlockRange(this, offset, into.length);
    into.set(this.bytes.subarray(offset, offset + into.length));
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BlockIoError('the disk is read-only');
    checkBlockRange(this, offset, data.length);
    this.bytes.set(data, offset);
  }

  async flush(): Promise<void> {}
}
