/**
 * The disks' host traffic over the VM's `disks` request channel (vm-channels.ts): the overlay blocks the
 * guest wrote, which the host keeps (the page in IndexedDB; the Node runner acknowledges them, its
 * overlays live in memory), and the download status of chunked disks. Chunks themselves never travel
 * here: the worker fetches them over HTTP.
 *
 *   VM (DiskClient)                                            host (serveDisks)
 *   writes(disk, blocks) ── request: op 1, disk, n blocks ──▶  host.writes(disk, blocks), one at a time
 *                        ◀── reply (empty), or failure ──────  in arrival order; a refusal is the failure
 *   status(disk, status) ── request: op 2, disk, JSON ──────▶  host.status(disk, status)
 *
 * A flush can be megabytes and a request must fit its ring, so writes go in requests of at most
 * DISK_REQUEST_BLOCKS blocks, with at most as many in flight as the ring holds: the next is sent when
 * the oldest is answered (back-pressure from the host's storage, bounded memory on both sides). The
 * writes resolve when every request is answered, and reject with the first refusal (the guest's flush
 * then fails: an I/O error), after the requests already sent are answered.
 *
 * A request's payload: u8 op, u8 0, u16 disk, then for writes u32 n, n × u32 block index, n × 4 KiB;
 * for a status, the status as JSON.
 */
import { z } from 'zod';
import { FRAME_HEADER_BYTES } from './ring.ts';
import { REQUEST_HEADER_BYTES, type RequestChannel } from './channels.ts';
import type { DiskStatus } from './disk-image.ts';

/** An overlay block: the unit the guest's writes are kept and sent in. */
export const OVERLAY_BLOCK_BYTES = 4096;
/** Blocks in one write request (128 KiB): several fit the channel's ring at once. */
export const DISK_REQUEST_BLOCKS = 32;

const OP_WRITES = 1;
const OP_STATUS = 2;
/** op, 0, disk (u16), and for writes the block count (u32). */
const HEADER_BYTES = 4;
const WRITES_HEADER_BYTES = HEADER_BYTES + 4;
/** A status's error text is cut to this many characters, so a status always fits its request. */
const STATUS_ERROR_CHARS = 1024;
const EMPTY = new Uint8Array(0);

/** Bytes a write request of `blocks` blocks takes in its ring (record and request headers included). */
export function diskWriteRequestBytes(blocks: number): number {
  return FRAME_HEADER_BYTES + REQUEST_HEADER_BYTES + WRITES_HEADER_BYTES + blocks * (4 + OVERLAY_BLOCK_BYTES);
}

const diskStatusSchema = z
  .object({
    downloadedBytes: z.number().nonnegative(),
    fetchedChunks: z.number().int().nonnegative(),
    totalBytes: z.number().nonnegative(),
    error: z.string().optional(),
  })
  .strict();

export type DiskMessage =
  | { readonly kind: 'writes'; readonly disk: number; readonly blocks: Map<number, Uint8Array<ArrayBuffer>> }
  | { readonly kind: 'status'; readonly disk: number; readonly status: DiskStatus };

export function encodeDiskWrites(disk: number, blocks: readonly (readonly [number, Uint8Array])[]): Uint8Array {
  const bytes = new Uint8Array(WRITES_HEADER_BYTES + blocks.length * (4 + OVERLAY_BLOCK_BYTES));
  const view = new DataView(bytes.buffer);
  view.setUint8(0, OP_WRITES);
  view.setUint16(2, disk, true);
  view.setUint32(4, blocks.length, true);
  const data = WRITES_HEADER_BYTES + blocks.length * 4;
  blocks.forEach(([index, block], i) => {
    if (block.length !== OVERLAY_BLOCK_BYTES) throw new RangeError(`overlay block ${index} has ${block.length} bytes`);
    view.setUint32(WRITES_HEADER_BYTES + i * 4, index, true);
    bytes.set(block, data + i * OVERLAY_BLOCK_BYTES);
  });
  return bytes;
}

export function encodeDiskStatus(disk: number, status: DiskStatus): Uint8Array {
  const text = JSON.stringify(
    status.error !== undefined ? { ...status, error: status.error.slice(0, STATUS_ERROR_CHARS) } : status,
  );
  const json = new TextEncoder().encode(text);
  const bytes = new Uint8Array(HEADER_BYTES + json.length);
  new DataView(bytes.buffer).setUint16(2, disk, true);
  bytes[0] = OP_STATUS;
  bytes.set(json, HEADER_BYTES);
  return bytes;
}

/** Reads a request; its sizes are checked against its length before anything is allocated. */
export function decodeDiskMessage(payload: Uint8Array): DiskMessage {
  if (payload.length < HEADER_BYTES) throw new Error('a disk request is shorter than its header');
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const op = view.getUint8(0);
  const disk = view.getUint16(2, true);
  if (op === OP_STATUS) {
    const parsed = diskStatusSchema.safeParse(safeJson(new TextDecoder().decode(payload.subarray(HEADER_BYTES))));
    if (!parsed.success) throw new Error(`disk ${disk} sent a status that is not one`);
    const { error, ...rest } = parsed.data;
    return { kind: 'status', disk, status: error === undefined ? rest : { ...rest, error } };
  }
  if (op !== OP_WRITES) throw new Error(`a disk request has the unknown operation ${op}`);
  if (payload.length < WRITES_HEADER_BYTES) throw new Error('a disk write request is shorter than its header');
  const count = view.getUint32(4, true);
  if (payload.length !== WRITES_HEADER_BYTES + count * (4 + OVERLAY_BLOCK_BYTES))
    throw new Error(`a disk write request of ${payload.length} bytes does not hold the ${count} blocks it claims`);
  const data = WRITES_HEADER_BYTES + count * 4;
  const blocks = new Map<number, Uint8Array<ArrayBuffer>>();
  for (let i = 0; i < count; i++) {
    const start = data + i * OVERLAY_BLOCK_BYTES;
    // A copy of its own: a view would keep (and IndexedDB would store) the whole request.
    blocks.set(view.getUint32(WRITES_HEADER_BYTES + i * 4, true), payload.slice(start, start + OVERLAY_BLOCK_BYTES));
  }
  return { kind: 'writes', disk, blocks };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The VM's side: what its disks send the host. */
export class DiskClient {
  readonly #channel: RequestChannel;
  /** Write requests in flight at most: as many as the ring holds. */
  readonly #window: number;

  constructor(channel: RequestChannel) {
    this.#channel = channel;
    this.#window = Math.floor(channel.end.tx.capacity / diskWriteRequestBytes(DISK_REQUEST_BLOCKS));
    if (this.#window < 1) throw new RangeError('the disks channel cannot hold one write request');
  }

  /**
   * Hands the host the overlay blocks of disk number `disk` (index → 4 KiB), in the map's order; resolves
   * once it kept them all, rejects with the first refusal.
   */
  async writes(disk: number, blocks: ReadonlyMap<number, Uint8Array>): Promise<void> {
    const entries = [...blocks];
    const inFlight: Promise<void>[] = [];
    let refusal: { error: unknown } | undefined;
    for (let at = 0; at < entries.length && !refusal; at += DISK_REQUEST_BLOCKS) {
      if (inFlight.length === this.#window) await inFlight.shift();
      if (refusal) break;
      const request = encodeDiskWrites(disk, entries.slice(at, at + DISK_REQUEST_BLOCKS));
      inFlight.push(
        this.#channel.request(request).then(
          () => {},
          (error: unknown) => {
            refusal ??= { error };
          },
        ),
      );
    }
    await Promise.all(inFlight);
    if (refusal) throw refusal.error;
  }

  /** Download progress and failures of disk number `disk`; resolves once the host had it (never rejects). */
  status(disk: number, status: DiskStatus): Promise<void> {
    return this.#channel.request(encodeDiskStatus(disk, status)).then(
      () => {},
      () => {},
    );
  }
}

/** The host's side: where the disks' blocks are kept and their status shown. */
export interface DiskHost {
  /** Keeps these blocks of disk number `disk`; rejects (a sentence) if it cannot, which the guest sees as an I/O error. */
  writes(disk: number, blocks: Map<number, Uint8Array<ArrayBuffer>>): Promise<void>;
  status(disk: number, status: DiskStatus): void;
}

/** Serves the VM's disk requests on the host end of its `disks` channel; returns the way to stop listening. */
export function serveDisks(channel: RequestChannel, host: DiskHost): () => void {
  // Writes are kept one request at a time, in the order they arrived: a later write of a block wins.
  let previous: Promise<unknown> = Promise.resolve();
  channel.serve((payload) => {
    const message = decodeDiskMessage(payload);
    if (message.kind === 'status') {
      host.status(message.disk, message.status);
      return EMPTY;
    }
    const kept = previous.then(() => host.writes(message.disk, message.blocks));
    previous = kept.catch(() => {});
    return kept.then(() => EMPTY);
  });
  return channel.listen();
}
