/**
 * Split virtqueues (Virtual I/O Device spec 1.2, §2.7) as a device sees them: the descriptor table,
 * the driver area (available ring) and the device area (used ring) in guest RAM, reached through
 * `GuestMemory` with bounds checks. A device pops descriptor chains, reads and writes their buffers,
 * and returns each chain to the used ring. Indirect descriptors (§2.7.5.3) and notification
 * suppression with event indices (§2.7.7, §2.7.10) are handled here, so devices never see them.
 *
 * Everything in guest RAM is untrusted: a descriptor that points outside RAM, a chain that loops or
 * is longer than the spec allows, a writable descriptor before a readable one, is a guest error. It
 * throws `VirtqueueError`, which the transport turns into DEVICE_NEEDS_RESET (§2.1.1) and one log line.
 */

/** Guest-physical RAM as devices see it (DMA): the bytes of DRAM and the address they start at. */
export class GuestMemory {
  constructor(
    readonly ram: Uint8Array,
    readonly base: number,
  ) {}

  /** A view of [address, address + length), or a VirtqueueError when any of it is outside RAM. */
  bytes(address: number, length: number): Uint8Array {
    const offset = address - this.base;
    if (!Number.isSafeInteger(offset) || offset < 0 || length < 0 || offset + length > this.ram.length) {
      throw new VirtqueueError(`buffer [0x${address.toString(16)}, +${length}) is outside guest RAM`);
    }
    return this.ram.subarray(offset, offset + length);
  }

  view(address: number, length: number): DataView {
    const bytes = this.bytes(address, length);
    return new DataView(bytes.buffer, bytes.byteOffset, length);
  }
}

/** A guest error in a virtqueue's structures (not an emulator bug). */
export class VirtqueueError extends Error {
  override readonly name = 'VirtqueueError';
}

// Descriptor flags, §2.7.5.
export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
/** §2.7.6: the driver asks for no used-buffer notifications (ignored once EVENT_IDX is negotiated). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** §2.7.8: the device asks for no available-buffer notifications (without EVENT_IDX). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

const DESCRIPTOR_BYTES = 16;
const USED_ELEMENT_BYTES = 8;
/** §2.7: "The maximum Queue Size value is 32768." */
export const VIRTQUEUE_MAX_SIZE = 32768;

/** One guest buffer of a chain, already checked to lie inside RAM. */
export type Segment = Uint8Array;

/** A descriptor chain popped from the available ring: its device-readable then device-writable buffers. */
export class DescriptorChain {
  readonly readableLength: number;
  readonly writableLength: number;

  constructor(
    /** Index of the head descriptor: what goes back into the used ring. */
    readonly head: number,
    readonly readable: readonly Segment[],
    readonly writable: readonly Segment[],
    /** The queue's reset count when popped: a chain from before a reset is never returned. */
    readonly epoch: number,
  ) {
    this.readableLength = readable.reduce((n, s) => n + s.length, 0);
    this.writableLength = writable.reduce((n, s) => n + s.length, 0);
  }

  /** Copies `length` bytes of the readable buffers starting at byte `offset` of them. */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    copySegments(this.readable, offset, length, (segment, at, outAt, n) =>
      out.set(segment.subarray(at, at + n), outAt),
    );
    return out;
  }

  /** Writes `bytes` into the writable buffers starting at byte `offset` of them. */
  write(offset: number, bytes: Uint8Array): void {
    copySegments(this.writable, offset, bytes.length, (segment, at, inAt, n) =>
      segment.set(bytes.subarray(inAt, inAt + n), at),
    );
  }

  /** The writable buffers' bytes [offset, offset + length) as views into guest RAM, in order. */
  writableViews(offset: number, length: number): Uint8Array[] {
    const views: Uint8Array[] = [];
    copySegments(this.writable, offset, length, (segment, at, _, n) => views.push(segment.subarray(at, at + n)));
    return views;
  }

  /** The readable buffers' bytes [offset, offset + length) as views into guest RAM, in order. */
  readableViews(offset: number, length: number): Uint8Array[] {
    const views: Uint8Array[] = [];
    copySegments(this.readable, offset, length, (segment, at, _, n) => views.push(segment.subarray(at, at + n)));
    return views;
  }
}

/** Walks `length` bytes starting at `offset` across segments; the caller checked the total length. */
function copySegments(
  segments: readonly Segment[],
  offset: number,
  length: number,
  visit: (segment: Segment, at: number, done: number, n: number) => void,
): void {
  let skip = offset;
  let done = 0;
  for (const segment of segments) {
    if (done === length) return;
    if (skip >= segment.length) {
      skip -= segment.length;
      continue;
    }
    const n = Math.min(segment.length - skip, length - done);
    visit(segment, skip, done, n);
    done += n;
    skip = 0;
  }
  if (done !== length) throw new RangeError(`descriptor chain: ${offset + length} bytes asked, fewer present`);
}

export interface VirtqueueState {
  readonly v: 1;
  readonly size: number;
  readonly ready: boolean;
  readonly descriptorArea: number;
  readonly driverArea: number;
  readonly deviceArea: number;
  readonly lastAvailIdx: number;
  readonly usedIdx: number;
}

/**
 * One split virtqueue. The transport writes its size and areas while it is not ready (§4.2.2), then the
 * device pops and completes chains. `onUsed` is called when a completion needs a used-buffer
 * notification (the transport raises the interrupt).
 */
export class Virtqueue {
  size = 0;
  ready = false;
  descriptorArea = 0;
  driverArea = 0;
  deviceArea = 0;
  /** Negotiated VIRTIO_F_RING_EVENT_IDX / VIRTIO_F_INDIRECT_DESC; set by the transport at DRIVER_OK. */
  eventIdx = false;
  indirect = false;
  #lastAvailIdx = 0;
  #usedIdx = 0;
  #epoch = 0;

  constructor(
    readonly index: number,
    readonly maxSize: number,
    readonly memory: GuestMemory,
    private readonly onUsed: () => void,
  ) {}

  /** Back to the reset state (§4.2.2 Status 0, or a failed queue); chains in flight are forgotten. */
  reset(): void {
    this.size = 0;
    this.ready = false;
    this.descriptorArea = 0;
    this.driverArea = 0;
    this.deviceArea = 0;
    this.eventIdx = false;
    this.indirect = false;
    this.#lastAvailIdx = 0;
    this.#usedIdx = 0;
    this.#epoch++;
  }

  /** Whether the chain came from this queue since its last reset. */
  isCurrent(chain: DescriptorChain): boolean {
    return chain.epoch === this.#epoch;
  }

  /** The next available chain, or null when the driver has offered nothing new. */
  pop(): DescriptorChain | null {
    if (!this.ready) return null;
    const size = this.size;
    const availIdx = this.memory.view(this.driverArea + 2, 2).getUint16(0, true);
    const pending = (availIdx - this.#lastAvailIdx) & 0xffff;
    if (pending === 0) return null;
    if (pending > size)
      throw new VirtqueueError(`available index ${availIdx} is ${pending} ahead of the device (queue size ${size})`);
    const slot = this.#lastAvailIdx % size;
    const head = this.memory.view(this.driverArea + 4 + 2 * slot, 2).getUint16(0, true);
    const chain = this.#walk(head);
    this.#lastAvailIdx = (this.#lastAvailIdx + 1) & 0xffff;
    // §2.7.10: with EVENT_IDX the device says up to where it has looked, so the driver notifies when
    // it makes a buffer available past that point.
    if (this.eventIdx)
      this.memory.view(this.deviceArea + 4 + USED_ELEMENT_BYTES * size, 2).setUint16(0, this.#lastAvailIdx, true);
    return chain;
  }

  /**
   * Gives back the last `count` chains popped and not completed: the next pop() returns them again. For
   * a device that must gather several buffers for one request (virtio-net's mergeable receive buffers)
   * and found too few. avail_event keeps the furthest index seen, so the driver still notifies when it
   * adds the next buffer.
   */
  rewind(count: number): void {
    this.#lastAvailIdx = (this.#lastAvailIdx - count) & 0xffff;
  }

  /**
   * Returns a chain to the driver with `written` bytes written into its writable buffers, and asks the
   * transport for an interrupt unless the driver suppressed it. A chain from before a reset is dropped.
   */
  complete(chain: DescriptorChain, written: number): void {
    if (!this.isCurrent(chain) || !this.ready) return;
    const oldIdx = this.#usedIdx;
    this.#putUsed(oldIdx, chain, written);
    this.#publishUsed(oldIdx, (oldIdx + 1) & 0xffff);
  }

  /**
   * Returns several chains with one update of the used index, so the driver sees all of them or none
   * (virtio-net's merged receive buffers, §5.1.6.4: the driver reads `num_buffers` buffers at once).
   */
  completeAll(chains: readonly DescriptorChain[], written: readonly number[]): void {
    if (!this.ready || !chains.every((chain) => this.isCurrent(chain))) return;
    const oldIdx = this.#usedIdx;
    chains.forEach((chain, i) => this.#putUsed((oldIdx + i) & 0xffff, chain, written[i]!));
    this.#publishUsed(oldIdx, (oldIdx + chains.length) & 0xffff);
  }

  #putUsed(index: number, chain: DescriptorChain, written: number): void {
    const element = this.memory.view(
      this.deviceArea + 4 + USED_ELEMENT_BYTES * (index % this.size),
      USED_ELEMENT_BYTES,
    );
    element.setUint32(0, chain.head, true);
    element.setUint32(4, written, true);
  }

  #publishUsed(oldIdx: number, newIdx: number): void {
    this.#usedIdx = newIdx;
    // The elements are in place before the index that publishes them (one thread writes both here).
    this.memory.view(this.deviceArea + 2, 2).setUint16(0, newIdx, true);
    if (this.#needsNotification(oldIdx, newIdx)) this.onUsed();
  }

  #needsNotification(oldIdx: number, newIdx: number): boolean {
    if (this.eventIdx) {
      // §2.7.10: used_event sits after the available ring; notify when the new index passes it
      // ("vring_need_event": (u16)(new - event - 1) < (u16)(new - old)).
      const usedEvent = this.memory.view(this.driverArea + 4 + 2 * this.size, 2).getUint16(0, true);
      return ((newIdx - usedEvent - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
    }
    const flags = this.memory.view(this.driverArea, 2).getUint16(0, true);
    return (flags & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Follows a chain from `head`, through at most one indirect table, checking every rule the device relies on. */
  #walk(head: number): DescriptorChain {
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    let table = this.descriptorArea;
    let tableSize = this.size;
    let index = head;
    let indirect = false;
    // §2.7.5.3.1 / §2.7.4.2: a chain is at most Queue Size long, an indirect table at most its own length.
    let budget = tableSize;
    if (index >= tableSize) throw new VirtqueueError(`head descriptor ${index} is outside the table of ${tableSize}`);
    for (;;) {
      if (budget-- === 0) throw new VirtqueueError(`descriptor chain from ${head} loops or is longer than allowed`);
      const d = this.memory.view(table + DESCRIPTOR_BYTES * index, DESCRIPTOR_BYTES);
      const address = Number(d.getBigUint64(0, true));
      const length = d.getUint32(8, true);
      const flags = d.getUint16(12, true);
      const next = d.getUint16(14, true);
      if (flags & VIRTQ_DESC_F_INDIRECT) {
        if (!this.indirect)
          throw new VirtqueueError('indirect descriptor, but VIRTIO_F_INDIRECT_DESC was not negotiated');
        if (indirect) throw new VirtqueueError('indirect descriptor inside an indirect table');
        if (flags & VIRTQ_DESC_F_NEXT) throw new VirtqueueError('descriptor has both INDIRECT and NEXT');
        if (length === 0 || length % DESCRIPTOR_BYTES !== 0) {
          throw new VirtqueueError(`indirect table length ${length} is not a non-zero multiple of ${DESCRIPTOR_BYTES}`);
        }
        this.memory.bytes(address, length);
        indirect = true;
        table = address;
        tableSize = length / DESCRIPTOR_BYTES;
        budget = tableSize;
        index = 0;
        continue;
      }
      const segment = this.memory.bytes(address, length);
      if (flags & VIRTQ_DESC_F_WRITE) writable.push(segment);
      else if (writable.length > 0) {
        // §2.7.4.2: "The driver MUST place any device-writable descriptor elements after any
        // device-readable descriptor elements."
        throw new VirtqueueError(`descriptor chain from ${head} has a readable buffer after a writable one`);
      } else readable.push(segment);
      if ((flags & VIRTQ_DESC_F_NEXT) === 0) break;
      if (next >= tableSize) throw new VirtqueueError(`next descriptor ${next} is outside the table of ${tableSize}`);
      index = next;
    }
    return new DescriptorChain(head, readable, writable, this.#epoch);
  }

  saveState(): VirtqueueState {
    return {
      v: 1,
      size: this.size,
      ready: this.ready,
      descriptorArea: this.descriptorArea,
      driverArea: this.driverArea,
      deviceArea: this.deviceArea,
      lastAvailIdx: this.#lastAvailIdx,
      usedIdx: this.#usedIdx,
    };
  }

  loadState(state: VirtqueueState): void {
    if (state.v !== 1) throw new Error(`virtqueue: unknown state version ${String(state.v)}`);
    if (state.size > this.maxSize)
      throw new Error(`virtqueue ${this.index}: saved size ${state.size} exceeds ${this.maxSize}`);
    this.size = state.size;
    this.ready = state.ready;
    this.descriptorArea = state.descriptorArea;
    this.driverArea = state.driverArea;
    this.deviceArea = state.deviceArea;
    this.#lastAvailIdx = state.lastAvailIdx;
    this.#usedIdx = state.usedIdx;
  }
}
