/**
 * A raw disk image file as a block backend, for the Node runner: reads and writes go straight to the
 * file (writes only when the disk is writable), and a flush is an fsync.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { DISK_SECTOR_BYTES } from '../../workers/protocol/disk-image.ts';
import { BlockIoError, checkBlockRange, type BlockBackend } from '../../workers/host/block/backend.ts';
import { ImageError } from '../../workers/machine/image-error.ts';

export class FileDisk implements BlockBackend {
  readonly size: number;
  readonly id: string;
  readonly #fd: number;

  constructor(
    readonly path: string,
    readonly readOnly: boolean,
  ) {
    try {
      this.#fd = openSync(path, readOnly ? 'r' : 'r+');
    } catch (error) {
      throw new ImageError(
        `--disk ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
      );
    }
    const stat = fstatSync(this.#fd);
    if (!stat.isFile()) throw new ImageError(`--disk ${path}: not a file`);
    if (stat.size === 0 || stat.size % DISK_SECTOR_BYTES !== 0) {
      closeSync(this.#fd);
      throw new ImageError(
        `--disk ${path}: a disk image must be a non-zero multiple of ${DISK_SECTOR_BYTES} bytes (it has ${stat.size})`,
      );
    }
    this.size = stat.size;
    this.id = basename(path).slice(0, 20);
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    checkBlockRange(this, offset, into.length);
    let done = 0;
    while (done < into.length) {
      const n = readSync(this.#fd, into, done, into.length - done, offset + done);
      if (n === 0) throw new BlockIoError(`${this.path}: unexpected end of file at ${offset + done}`);
      done += n;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.readOnly) throw new BlockIoError('the disk is read-only');
    checkBlockRange(this, offset, data.length);
    let done = 0;
    while (done < data.length) done += writeSync(this.#fd, data, done, data.length - done, offset + done);
  }

  async flush(): Promise<void> {
    if (!this.readOnly) fsyncSync(this.#fd);
  }

  close(): void {
    closeSync(this.#fd);
  }
}
