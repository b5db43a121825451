/**
 * virtio-blk (Virtual I/O Device spec 1.2, §5.2): one request queue; reads, writes, flushes and the
 * device ID, over a `BlockBackend`. A request is a header (type, reserved, sector), data, and a status
 * byte at the very end of the device-writable part; the device reads the chain as a byte stream, so
 * any split of it into descriptors works (§2.6.4, message framing). Backends are asynchronous, so
 * requests complete later, in any order; the `IoTracker` counts them so that the run loop wakes for
 * their completion and a snapshot can wait until none is in flight.
 */
import { DISK_SECTOR_BYTES } from '../../protocol/disk-image.ts';
import { BlockIoError, type BlockBackend } from '../../host/block/backend.ts';
import type { IoTracker } from '../../bus/io-tracker.ts';
import { VirtqueueError, type DescriptorChain, type Virtqueue } from './queue.ts';
import type { VirtioDevice, VirtioDeviceContext } from './mmio.ts';

export const VIRTIO_ID_BLOCK = 2;

// Feature bits, §5.2.3.
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;

// Request types and status values, §5.2.6.
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** §5.2.6: "The length of the ID string is at most 20 bytes (VIRTIO_BLK_ID_BYTES)". */
export const VIRTIO_BLK_ID_BYTES = 20;
const REQUEST_HEADER_BYTES = 16;
export const VIRTIO_BLK_QUEUE_SIZE = 256;
/** Data segments per request; as QEMU, the queue size less the header and status descriptors. */
export const VIRTIO_BLK_SEG_MAX = VIRTIO_BLK_QUEUE_SIZE - 2;

// Config space layout, §5.2.4 (struct virtio_blk_config).
const CONFIG_CAPACITY = 0;
const CONFIG_SEG_MAX = 12;
const CONFIG_BLK_SIZE = 20;
const CONFIG_BYTES = 0x3c;

export interface VirtioBlkState {
  readonly v: 1;
  /** Sectors, decimal: a restore refuses a disk of another size. */
  readonly capacity: string;
  readonly readOnly: boolean;
}

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_BLOCK;
  readonly features: bigint;
  readonly queueSizes = [VIRTIO_BLK_QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_BYTES);
  readonly readOnly: boolean;
  readonly #backend: BlockBackend;
  readonly #io: IoTracker;
  #context: VirtioDeviceContext | undefined;
  #inFlight = 0;

  /** `readOnly` makes a writable backend read-only for this guest; a read-only backend always is. */
  constructor(backend: BlockBackend, io: IoTracker, readOnly = false) {
    this.#backend = backend;
    this.#io = io;
    this.readOnly = readOnly || backend.readOnly;
    let features =
      (1n << BigInt(VIRTIO_BLK_F_SEG_MAX)) | (1n << BigInt(VIRTIO_BLK_F_BLK_SIZE)) | (1n << BigInt(VIRTIO_BLK_F_FLUSH));
    if (this.readOnly) features |= 1n << BigInt(VIRTIO_BLK_F_RO);
    this.features = features;
    const view = new DataView(this.config.buffer);
    view.setBigUint64(CONFIG_CAPACITY, BigInt(backend.size / DISK_SECTOR_BYTES), true);
    view.setUint32(CONFIG_SEG_MAX, VIRTIO_BLK_SEG_MAX, true);
    view.setUint32(CONFIG_BLK_SIZE, DISK_SECTOR_BYTES, true);
  }

  attach(context: VirtioDeviceContext): void {
    this.#context = context;
  }

  /** Requests started and not yet completed. */
  get inFlight(): number {
    return this.#inFlight;
  }

  queueNotified(queue: Virtqueue): void {
    for (let chain = queue.pop(); chain !== null; chain = queue.pop()) this.#start(queue, chain);
  }

  reset(): void {
    // Requests in flight finish on the backend; their chains belong to the old queue and are dropped.
  }

  #start(queue: Virtqueue, chain: DescriptorChain): void {
    if (chain.readableLength < REQUEST_HEADER_BYTES || chain.writableLength < 1) {
      throw new VirtqueueError(
        `request with ${chain.readableLength} readable and ${chain.writableLength} writable bytes has no room for header and status`,
      );
    }
    const header = new DataView(chain.read(0, REQUEST_HEADER_BYTES).buffer);
    const type = header.getUint32(0, true);
    const sector = header.getBigUint64(8, true);
    const statusAt = chain.writableLength - 1;
    const finish = (status: number, data?: Uint8Array): void => this.#finish(queue, chain, statusAt, status, data);
    const log = this.#context!.log;
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        const length = statusAt;
        const offset = this.#range(sector, length);
        if (offset === undefined) return finish(VIRTIO_BLK_S_IOERR);
        const data = new Uint8Array(length);
        return this.#run(this.#backend.read(offset, data), (ok) =>
          finish(ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, ok ? data : undefined),
        );
      }
      case VIRTIO_BLK_T_OUT: {
        // §5.2.6.2: "A device MUST set the status byte to VIRTIO_BLK_S_IOERR for a write request if
        // the VIRTIO_BLK_F_RO feature if offered, and MUST NOT write any data."
        if (this.readOnly) {
          log.once('write to read-only', 'write request to a read-only disk');
          return finish(VIRTIO_BLK_S_IOERR);
        }
        const length = chain.readableLength - REQUEST_HEADER_BYTES;
        const offset = this.#range(sector, length);
        if (offset === undefined) return finish(VIRTIO_BLK_S_IOERR);
        const data = chain.read(REQUEST_HEADER_BYTES, length);
        return this.#run(this.#backend.write(offset, data), (ok) => finish(ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR));
      }
      case VIRTIO_BLK_T_FLUSH:
        return this.#run(this.#backend.flush(), (ok) => finish(ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR));
      case VIRTIO_BLK_T_GET_ID: {
        // The ID is padded with NULs; "it is not NUL-terminated if it is exactly 20 bytes".
        const id = new Uint8Array(VIRTIO_BLK_ID_BYTES);
        id.set(new TextEncoder().encode(this.#backend.id).subarray(0, VIRTIO_BLK_ID_BYTES));
        return finish(VIRTIO_BLK_S_OK, id.subarray(0, Math.min(VIRTIO_BLK_ID_BYTES, statusAt)));
      }
      default:
        log.once(`request type ${type}`, `unsupported request type ${type}`);
        return finish(VIRTIO_BLK_S_UNSUPP);
    }
  }

  /** The byte offset of a data transfer, or undefined (after logging) when it is malformed or past the end. */
  #range(sector: bigint, length: number): number | undefined {
    const log = this.#context!.log;
    if (length % DISK_SECTOR_BYTES !== 0) {
      // §5.2.6.1: "The length of data MUST be a multiple of 512 bytes for VIRTIO_BLK_T_IN and VIRTIO_BLK_T_OUT".
      log.once('partial sector', `request of ${length} bytes, not a multiple of ${DISK_SECTOR_BYTES}`);
      return undefined;
    }
    const offset = sector * BigInt(DISK_SECTOR_BYTES);
    if (offset + BigInt(length) > BigInt(this.#backend.size)) {
      log.once('past the end', `request for sector ${sector} (+${length} bytes) past the end of the disk`);
      return undefined;
    }
    return Number(offset);
  }

  #run(work: Promise<void>, done: (ok: boolean) => void): void {
    this.#inFlight++;
    // Any failure of the backend is the guest's I/O error; the backend reports its cause to the host.
    const settled = work.then(
      () => true,
      (error: unknown) => {
        const message = error instanceof BlockIoError ? error.message : String(error);
        this.#context!.log.once(`io error ${message}`, `disk I/O error: ${message}`);
        return false;
      },
    );
    this.#io.track(
      settled.then((ok) => {
        this.#inFlight--;
        done(ok);
      }),
    );
  }

  #finish(queue: Virtqueue, chain: DescriptorChain, statusAt: number, status: number, data?: Uint8Array): void {
    if (!queue.isCurrent(chain)) return;
    try {
      if (data) chain.write(0, data);
      chain.write(statusAt, Uint8Array.of(status));
      queue.complete(chain, chain.writableLength);
    } catch (error) {
      if (!(error instanceof VirtqueueError)) throw error;
      this.#context!.needsReset(error.message);
    }
  }

  saveState(): VirtioBlkState {
    if (this.#inFlight > 0)
      throw new Error(`virtio-blk: ${this.#inFlight} requests in flight; wait for I/O to settle first`);
    return { v: 1, capacity: String(this.#backend.size / DISK_SECTOR_BYTES), readOnly: this.readOnly };
  }

  loadState(state: unknown): void {
    const s = state as VirtioBlkState;
    if (s.v !== 1) throw new Error(`virtio-blk: unknown state version ${String(s.v)}`);
    const capacity = String(this.#backend.size / DISK_SECTOR_BYTES);
    if (s.capacity !== capacity)
      throw new Error(`virtio-blk: state is for a disk of ${s.capacity} sectors, this one has ${capacity}`);
  }
}
