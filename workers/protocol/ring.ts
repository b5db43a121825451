/**
 * A single-producer single-consumer byte ring over a SharedArrayBuffer (DESIGN.md §1: console bytes never
 * travel as one postMessage per byte). Indices are free-running 32-bit counters; the capacity is a power
 * of two, so `head - tail` is the fill level even across wrap-around. The producer publishes with
 * Atomics.store and wakes a waiting consumer with Atomics.notify.
 *
 * The same class runs over a plain ArrayBuffer for the fallback mode (no cross-origin isolation), where
 * the owner moves its contents by message instead of sharing it.
 */

const HEAD = 0; // total bytes ever written (producer-owned)
const TAIL = 1; // total bytes ever read (consumer-owned)
const HEADER_BYTES = 8;
/** A frame record's length prefix (writeFrame/readFrame). */
export const FRAME_HEADER_BYTES = 4;

export class ByteRing {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly data: Uint8Array;

  static create(capacity: number, shared = true): ByteRing {
    if (capacity <= 0 || (capacity & (capacity - 1)) !== 0) throw new Error(`ring capacity ${capacity} is not a power of two`);
    const bytes = HEADER_BYTES + capacity;
    return new ByteRing(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  }

  constructor(buffer: SharedArrayBuffer | ArrayBuffer) {
    this.buffer = buffer;
    this.capacity = buffer.byteLength - HEADER_BYTES;
    this.header = new Int32Array(buffer, 0, 2);
    this.data = new Uint8Array(buffer, HEADER_BYTES, this.capacity);
  }

  /** Bytes waiting to be read. */
  available(): number {
    return (Atomics.load(this.header, HEAD) - Atomics.load(this.header, TAIL)) >>> 0;
  }

  /** Room left for the producer. */
  free(): number {
    return this.capacity - this.available();
  }

  /** Writes as many bytes as fit; returns how many were written. */
  write(bytes: Uint8Array): number {
    const head = Atomics.load(this.header, HEAD);
    const n = Math.min(bytes.length, this.free());
    const mask = this.capacity - 1;
    for (let i = 0; i < n; i++) this.data[(head + i) & mask] = bytes[i]!;
    Atomics.store(this.header, HEAD, (head + n) | 0);
    if (n > 0 && this.isShared()) Atomics.notify(this.header, HEAD);
    return n;
  }

  writeByte(byte: number): boolean {
    if (this.free() === 0) return false;
    const head = Atomics.load(this.header, HEAD);
    this.data[head & (this.capacity - 1)] = byte;
    Atomics.store(this.header, HEAD, (head + 1) | 0);
    if (this.isShared()) Atomics.notify(this.header, HEAD);
    return true;
  }

  /** Removes and returns the next byte, or -1 when empty. */
  readByte(): number {
    const tail = Atomics.load(this.header, TAIL);
    if (Atomics.load(this.header, HEAD) === tail) return -1;
    const byte = this.data[tail & (this.capacity - 1)]!;
    Atomics.store(this.header, TAIL, (tail + 1) | 0);
    return byte;
  }

  /** Removes and returns up to `max` bytes. */
  read(max = this.capacity): Uint8Array<ArrayBuffer> {
    const tail = Atomics.load(this.header, TAIL);
    const n = Math.min(max, this.available());
    const out = new Uint8Array(n);
    const mask = this.capacity - 1;
    for (let i = 0; i < n; i++) out[i] = this.data[(tail + i) & mask]!;
    Atomics.store(this.header, TAIL, (tail + n) | 0);
    return out;
  }

  /**
   * Writes one frame as a record (a u32 little-endian length, then the bytes), all or nothing, and
   * publishes it at once, so a reader on another thread never sees half a record. False when it does not
   * fit now; a frame larger than the ring could ever hold is an error.
   */
  writeFrame(frame: Uint8Array): boolean {
    const size = FRAME_HEADER_BYTES + frame.length;
    if (size > this.capacity) throw new RangeError(`a ${frame.length}-byte frame cannot fit a ${this.capacity}-byte ring`);
    if (this.free() < size) return false;
    const head = Atomics.load(this.header, HEAD);
    const mask = this.capacity - 1;
    for (let i = 0; i < FRAME_HEADER_BYTES; i++) this.data[(head + i) & mask] = (frame.length >>> (8 * i)) & 0xff;
    for (let i = 0; i < frame.length; i++) this.data[(head + FRAME_HEADER_BYTES + i) & mask] = frame[i]!;
    Atomics.store(this.header, HEAD, (head + size) | 0);
    if (this.isShared()) Atomics.notify(this.header, HEAD);
    return true;
  }

  /**
   * Removes and returns the next whole frame record, or undefined while none is complete (records may
   * arrive in pieces in the message mode). A length the ring could never hold means the ring does not
   * hold records: an error, not a read past the data.
   */
  readFrame(): Uint8Array | undefined {
    const available = this.available();
    if (available < FRAME_HEADER_BYTES) return undefined;
    const tail = Atomics.load(this.header, TAIL);
    const mask = this.capacity - 1;
    let length = 0;
    for (let i = 0; i < FRAME_HEADER_BYTES; i++) length |= this.data[(tail + i) & mask]! << (8 * i);
    length >>>= 0;
    if (length > this.capacity - FRAME_HEADER_BYTES) throw new Error(`ring: a frame record claims ${length} bytes`);
    if (available < FRAME_HEADER_BYTES + length) return undefined;
    const frame = new Uint8Array(length);
    for (let i = 0; i < length; i++) frame[i] = this.data[(tail + FRAME_HEADER_BYTES + i) & mask]!;
    Atomics.store(this.header, TAIL, (tail + FRAME_HEADER_BYTES + length) | 0);
    return frame;
  }

  /** Wakes a reader waiting in waitForData() without new data (the other direction's reader made room). */
  wakeReader(): void {
    if (this.isShared()) Atomics.notify(this.header, HEAD);
  }

  /** The consumer's counter: total bytes ever read (free-running, 32 bits). */
  readCount(): number {
    return Atomics.load(this.header, TAIL);
  }

  /** The producer's counter, to pass to waitAsync/wait: they return once it moves past this value. */
  writeCount(): number {
    return Atomics.load(this.header, HEAD);
  }

  /** Resolves when data arrives after `seen` (a writeCount() value), or after `timeoutMs`. */
  async waitForData(seen: number, timeoutMs: number): Promise<void> {
    if (!this.isShared()) return;
    await waitAsync(this.header, HEAD, seen, timeoutMs);
  }

  private isShared(): boolean {
    return isShared(this.buffer);
  }
}

/**
 * A wake-up counter shared between the host and a VM worker: the host rings it for anything the worker
 * must react to (console input, a control request); the worker sleeps on it in WFI.
 *
 * Over a plain ArrayBuffer (fallback mode, no cross-origin isolation) nobody else can see the cell, so
 * Atomics.wait would only burn the timeout: `canBlock` is false, `sleep` returns at once, and the
 * worker awaits `wait()` instead, which a `ring()` from the worker's own event loop (an input message)
 * resolves early.
 */
export class Doorbell {
  readonly cell: Int32Array;
  readonly #localWaiters = new Set<() => void>();

  constructor(buffer: SharedArrayBuffer | ArrayBuffer = new SharedArrayBuffer(4)) {
    this.cell = new Int32Array(buffer, 0, 1);
  }

  get buffer(): SharedArrayBuffer | ArrayBuffer {
    return this.cell.buffer;
  }

  /** Whether sleep() really blocks (the cell is shared with another thread). */
  get canBlock(): boolean {
    return isShared(this.cell.buffer);
  }

  ring(): void {
    Atomics.add(this.cell, 0, 1);
    if (this.canBlock) Atomics.notify(this.cell, 0);
    for (const wake of this.#localWaiters) wake();
    this.#localWaiters.clear();
  }

  value(): number {
    return Atomics.load(this.cell, 0);
  }

  /** Blocks (in a worker) until rung after `seen`, or `timeoutMs` passes. Returns at once when unshared. */
  sleep(seen: number, timeoutMs: number): void {
    if (!this.canBlock) return;
    Atomics.wait(this.cell, 0, seen, timeoutMs);
  }

  /** Resolves when rung after `seen`, or after `timeoutMs`, without blocking the event loop. */
  async wait(seen: number, timeoutMs: number): Promise<void> {
    if (this.value() !== seen) return;
    if (this.canBlock) return waitAsync(this.cell, 0, seen, timeoutMs);
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#localWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#localWaiters.add(wake);
    });
  }
}

/**
 * Atomics.waitAsync until `cell[index]` moves from `seen` or `timeoutMs` passes, with a timer for the
 * same time beside it: Node does not count a pending waitAsync as work that keeps a thread alive, so a
 * worker whose only work was such a wait (a VM in WFI waiting for its disk channel's answer) exited in
 * the middle of its guest's run.
 */
export async function waitAsync(cell: Int32Array, index: number, seen: number, timeoutMs: number): Promise<void> {
  const result = Atomics.waitAsync(cell, index, seen, timeoutMs);
  if (!result.async) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([result.value, new Promise((wake) => (timer = setTimeout(wake, timeoutMs)))]);
  clearTimeout(timer);
}

function isShared(buffer: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer;
}
