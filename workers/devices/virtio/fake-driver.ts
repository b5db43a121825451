/**
 * A small virtio driver for unit tests (not imported by production code): it owns a piece of "guest
 * RAM", brings a transport up through its registers as Linux does (§3.1.1), lays out split virtqueues
 * in that RAM and offers descriptor chains, direct or indirect, the way a guest driver would.
 */
import { RecordingIrqLine } from '../test-support.ts';
import { GuestErrorLog } from '../../bus/guest-log.ts';
import { GuestMemory, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from './queue.ts';
import {
  VIRTIO_F_VERSION_1,
  VIRTIO_MMIO_DEVICE_FEATURES,
  VIRTIO_MMIO_DEVICE_FEATURES_SEL,
  VIRTIO_MMIO_DRIVER_FEATURES,
  VIRTIO_MMIO_DRIVER_FEATURES_SEL,
  VIRTIO_MMIO_INTERRUPT_ACK,
  VIRTIO_MMIO_INTERRUPT_STATUS,
  VIRTIO_MMIO_QUEUE_DESC_HIGH,
  VIRTIO_MMIO_QUEUE_DESC_LOW,
  VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
  VIRTIO_MMIO_QUEUE_DEVICE_LOW,
  VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
  VIRTIO_MMIO_QUEUE_DRIVER_LOW,
  VIRTIO_MMIO_QUEUE_NOTIFY,
  VIRTIO_MMIO_QUEUE_NUM,
  VIRTIO_MMIO_QUEUE_READY,
  VIRTIO_MMIO_QUEUE_SEL,
  VIRTIO_MMIO_STATUS,
  VIRTIO_STATUS_ACKNOWLEDGE,
  VIRTIO_STATUS_DRIVER,
  VIRTIO_STATUS_DRIVER_OK,
  VIRTIO_STATUS_FEATURES_OK,
  VirtioMmioTransport,
  type VirtioDevice,
} from './mmio.ts';

export const FAKE_RAM_BASE = 0x8000_0000;
export const FAKE_RAM_BYTES = 1 << 20;

/** A buffer to offer: bytes the device reads, or a length the device may write. */
export type FakeBuffer = { readonly read: Uint8Array } | { readonly write: number };

interface QueueLayout {
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  nextDescriptor: number;
  availIdx: number;
}

export class FakeDriver {
  readonly ram = new Uint8Array(FAKE_RAM_BYTES);
  readonly memory = new GuestMemory(this.ram, FAKE_RAM_BASE);
  readonly view = new DataView(this.ram.buffer);
  readonly irq = new RecordingIrqLine();
  readonly logged: string[] = [];
  readonly transport: VirtioMmioTransport;
  readonly queues: QueueLayout[] = [];
  /** Next free byte for buffers (the first 256 KiB hold rings and tables). */
  #heap = 0x4_0000;

  constructor(device: VirtioDevice) {
    this.transport = new VirtioMmioTransport(device, {
      memory: this.memory,
      irq: this.irq,
      log: new GuestErrorLog((message) => this.logged.push(message)),
    });
  }

  reg(offset: number): number {
    return Number(this.transport.read(offset, 4));
  }

  setReg(offset: number, value: number): void {
    this.transport.write(offset, BigInt(value >>> 0), 4);
  }

  deviceFeatures(): bigint {
    this.setReg(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    const low = BigInt(this.reg(VIRTIO_MMIO_DEVICE_FEATURES));
    this.setReg(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    return (BigInt(this.reg(VIRTIO_MMIO_DEVICE_FEATURES)) << 32n) | low;
  }

  /** Status ACKNOWLEDGE, DRIVER, the features, FEATURES_OK; returns whether the device kept FEATURES_OK. */
  negotiate(features: bigint): boolean {
    this.setReg(VIRTIO_MMIO_STATUS, 0);
    this.setReg(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    this.setReg(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    this.setReg(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    this.setReg(VIRTIO_MMIO_DRIVER_FEATURES, Number(features & 0xffff_ffffn));
    this.setReg(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    this.setReg(VIRTIO_MMIO_DRIVER_FEATURES, Number(features >> 32n));
    this.setReg(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    return (this.reg(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK) !== 0;
  }

  /** Lays out queue `index` with `size` entries at fixed places in RAM and makes it ready. */
  setupQueue(index: number, size: number): void {
    const base = FAKE_RAM_BASE + index * 0x1_0000;
    const layout: QueueLayout = {
      size,
      desc: base,
      avail: base + 0x4000,
      used: base + 0x8000,
      nextDescriptor: 0,
      availIdx: 0,
    };
    this.queues[index] = layout;
    this.setReg(VIRTIO_MMIO_QUEUE_SEL, index);
    this.setReg(VIRTIO_MMIO_QUEUE_NUM, size);
    this.setReg(VIRTIO_MMIO_QUEUE_DESC_LOW, layout.desc);
    this.setReg(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    this.setReg(VIRTIO_MMIO_QUEUE_DRIVER_LOW, layout.avail);
    this.setReg(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    this.setReg(VIRTIO_MMIO_QUEUE_DEVICE_LOW, layout.used);
    this.setReg(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    this.setReg(VIRTIO_MMIO_QUEUE_READY, 1);
  }

  driverOk(): void {
    this.setReg(VIRTIO_MMIO_STATUS, this.reg(VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_DRIVER_OK);
  }

  /** Negotiates VERSION_1 plus `extra`, sets up `queues` queues of `size` and sets DRIVER_OK. */
  start(queues: number, size: number, extra = 0n): void {
    if (!this.negotiate((1n << BigInt(VIRTIO_F_VERSION_1)) | extra)) throw new Error('features refused');
    for (let i = 0; i < queues; i++) this.setupQueue(i, size);
    this.driverOk();
  }

  /** Copies `bytes` into fresh guest RAM; returns the guest address. */
  alloc(bytes: Uint8Array | number): number {
    const length = typeof bytes === 'number' ? bytes : bytes.length;
    const address = FAKE_RAM_BASE + this.#heap;
    if (typeof bytes !== 'number') this.ram.set(bytes, this.#heap);
    this.#heap += (length + 15) & ~15;
    return address;
  }

  bytes(address: number, length: number): Uint8Array {
    return this.ram.subarray(address - FAKE_RAM_BASE, address - FAKE_RAM_BASE + length);
  }

  /** Writes one 16-byte descriptor at `table[index]`. */
  writeDescriptor(table: number, index: number, address: number, length: number, flags: number, next: number): void {
    const at = table - FAKE_RAM_BASE + 16 * index;
    this.view.setBigUint64(at, BigInt(address), true);
    this.view.setUint32(at + 8, length, true);
    this.view.setUint16(at + 12, flags, true);
    this.view.setUint16(at + 14, next, true);
  }

  /**
   * Offers a chain of `buffers` on queue `q` (in the ring's descriptor table, or in one indirect table);
   * returns the head index and the guest address of each buffer. Does not notify.
   */
  offer(
    q: number,
    buffers: readonly FakeBuffer[],
    options: { indirect?: boolean } = {},
  ): { head: number; addresses: number[] } {
    const queue = this.queues[q]!;
    const addresses = buffers.map((b) => ('read' in b ? this.alloc(b.read) : this.alloc(b.write)));
    const descriptor = (table: number, first: number, count: number, wrapAt: number): void => {
      buffers.forEach((b, i) => {
        const index = (first + i) % wrapAt;
        const last = i === count - 1;
        const flags = ('write' in b ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT);
        this.writeDescriptor(
          table,
          index,
          addresses[i]!,
          'read' in b ? b.read.length : b.write,
          flags,
          (index + 1) % wrapAt,
        );
      });
    };
    let head: number;
    if (options.indirect) {
      const table = this.alloc(16 * buffers.length);
      descriptor(table, 0, buffers.length, buffers.length);
      head = queue.nextDescriptor;
      this.writeDescriptor(queue.desc, head, table, 16 * buffers.length, VIRTQ_DESC_F_INDIRECT, 0);
      queue.nextDescriptor = (queue.nextDescriptor + 1) % queue.size;
    } else {
      head = queue.nextDescriptor;
      descriptor(queue.desc, head, buffers.length, queue.size);
      queue.nextDescriptor = (queue.nextDescriptor + buffers.length) % queue.size;
    }
    this.publish(q, head);
    return { head, addresses };
  }

  /** Puts `head` in the available ring and advances its index. */
  publish(q: number, head: number): void {
    const queue = this.queues[q]!;
    const at = queue.avail - FAKE_RAM_BASE;
    this.view.setUint16(at + 4 + 2 * (queue.availIdx % queue.size), head, true);
    queue.availIdx = (queue.availIdx + 1) & 0xffff;
    this.view.setUint16(at + 2, queue.availIdx, true);
  }

  notify(q: number): void {
    this.setReg(VIRTIO_MMIO_QUEUE_NOTIFY, q);
  }

  usedIdx(q: number): number {
    return this.view.getUint16(this.queues[q]!.used - FAKE_RAM_BASE + 2, true);
  }

  /** The used ring's element for used index `i`. */
  used(q: number, i: number): { id: number; len: number } {
    const queue = this.queues[q]!;
    const at = queue.used - FAKE_RAM_BASE + 4 + 8 * (i % queue.size);
    return { id: this.view.getUint32(at, true), len: this.view.getUint32(at + 4, true) };
  }

  setAvailFlags(q: number, flags: number): void {
    this.view.setUint16(this.queues[q]!.avail - FAKE_RAM_BASE, flags, true);
  }

  /** used_event: the driver's "interrupt me when used idx passes this" (after the available ring). */
  setUsedEvent(q: number, value: number): void {
    const queue = this.queues[q]!;
    this.view.setUint16(queue.avail - FAKE_RAM_BASE + 4 + 2 * queue.size, value, true);
  }

  /** avail_event: the device's "notify me when avail idx passes this" (after the used ring). */
  availEvent(q: number): number {
    const queue = this.queues[q]!;
    return this.view.getUint16(queue.used - FAKE_RAM_BASE + 4 + 8 * queue.size, true);
  }

  /** Reads and acknowledges InterruptStatus, as a driver's interrupt handler does. */
  acknowledge(): number {
    const status = this.reg(VIRTIO_MMIO_INTERRUPT_STATUS);
    this.setReg(VIRTIO_MMIO_INTERRUPT_ACK, status);
    return status;
  }
}
