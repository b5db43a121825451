/**
 * The virtio-mmio transport (Virtual I/O Device spec 1.2, §4.2.2 "MMIO Device Register Layout"),
 * version 2 (non-legacy) only. One transport serves every device kind (STYLE.md habit 14): it owns the
 * registers, feature negotiation, device status, the queues and the interrupt; a `VirtioDevice`
 * supplies its ID, feature bits, config space and a handler per queue.
 *
 * Without a device the transport is an empty slot, as QEMU's virt board exposes unused transports:
 * MagicValue, Version and VendorID read as usual and DeviceID reads 0. §4.2.3.1.1: "If both values
 * are valid, it MUST read DeviceID and if its value is zero (0x0) MUST abort initialization and MUST
 * NOT access any other register". Every other register of an empty slot reads 0 and ignores writes.
 *
 * §4.2.2.2: "The driver MUST only use 32 bit wide and aligned reads and writes to access the control
 * registers"; the config space takes 1-, 2- and 4-byte accesses. A bad access is a guest error:
 * logged once, reads 0, writes ignored. A guest error in a queue's structures sets DEVICE_NEEDS_RESET
 * (§2.1.2: the device "MUST send a device configuration change notification to the driver").
 */
import type { AccessSize, IrqLine, MmioDevice } from '../../bus/device.ts';
import { GuestErrorLog, hex } from '../../bus/guest-log.ts';
import type { GuestMemory } from './queue.ts';
import { Virtqueue, VirtqueueError, type VirtqueueState } from './queue.ts';

/** "virt" in little-endian ASCII. */
export const VIRTIO_MMIO_MAGIC = 0x7472_6976;
export const VIRTIO_MMIO_VERSION_MODERN = 2;
/** QEMU's vendor ID ("QEMU" in little-endian ASCII); drivers do not interpret it. */
export const VIRTIO_MMIO_VENDOR = 0x554d_4551;

// Register offsets, §4.2.2.
export const VIRTIO_MMIO_MAGIC_VALUE = 0x000;
export const VIRTIO_MMIO_VERSION = 0x004;
export const VIRTIO_MMIO_DEVICE_ID = 0x008;
export const VIRTIO_MMIO_VENDOR_ID = 0x00c;
export const VIRTIO_MMIO_DEVICE_FEATURES = 0x010;
export const VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014;
export const VIRTIO_MMIO_DRIVER_FEATURES = 0x020;
export const VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024;
export const VIRTIO_MMIO_QUEUE_SEL = 0x030;
export const VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034;
export const VIRTIO_MMIO_QUEUE_NUM = 0x038;
export const VIRTIO_MMIO_QUEUE_READY = 0x044;
export const VIRTIO_MMIO_QUEUE_NOTIFY = 0x050;
export const VIRTIO_MMIO_INTERRUPT_STATUS = 0x060;
export const VIRTIO_MMIO_INTERRUPT_ACK = 0x064;
export const VIRTIO_MMIO_STATUS = 0x070;
export const VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080;
export const VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084;
export const VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090;
export const VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094;
export const VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0;
export const VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4;
export const VIRTIO_MMIO_SHM_SEL = 0x0ac;
export const VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0;
export const VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4;
export const VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8;
export const VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc;
export const VIRTIO_MMIO_QUEUE_RESET = 0x0c0;
export const VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc;
export const VIRTIO_MMIO_CONFIG = 0x100;

/** Device ID 0: "reserved (invalid)" in §5, the empty slot. */
export const VIRTIO_ID_NONE = 0;

// Device status bits, §2.1.
export const VIRTIO_STATUS_ACKNOWLEDGE = 1;
export const VIRTIO_STATUS_DRIVER = 2;
export const VIRTIO_STATUS_DRIVER_OK = 4;
export const VIRTIO_STATUS_FEATURES_OK = 8;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 64;
export const VIRTIO_STATUS_FAILED = 128;

// InterruptStatus bits, §4.2.2.
export const VIRTIO_MMIO_INT_VRING = 1;
export const VIRTIO_MMIO_INT_CONFIG = 2;

// Reserved feature bits the transport offers for every device, §6.
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
const TRANSPORT_FEATURES =
  (1n << BigInt(VIRTIO_F_INDIRECT_DESC)) | (1n << BigInt(VIRTIO_F_EVENT_IDX)) | (1n << BigInt(VIRTIO_F_VERSION_1));

/** What a device gets from its transport. */
export interface VirtioDeviceContext {
  readonly memory: GuestMemory;
  readonly log: GuestErrorLog;
  /** The device changed its config space: bump ConfigGeneration and send a config-change interrupt. */
  configChanged(): void;
  /** A guest error found outside a notification (an async completion): DEVICE_NEEDS_RESET. */
  needsReset(message: string): void;
  /**
   * The device's queues, in queueSizes order, for a device that completes outside notifications or fills
   * them unprompted (the console's and virtio-net's receive queues).
   */
  readonly queues: readonly Virtqueue[];
  /** Whether the driver is running the device: DRIVER_OK set and DEVICE_NEEDS_RESET clear. */
  live(): boolean;
  /** The feature bits the driver accepted (meaningful once it is live). */
  features(): bigint;
}

/** A device behind the transport: declarative apart from its queue handlers (STYLE.md habit 14). */
export interface VirtioDevice {
  /** §5 device ID (2 = block, 4 = entropy, …). */
  readonly deviceId: number;
  /** Device-specific feature bits (below 24); the transport adds its own. */
  readonly features: bigint;
  /** One entry per queue: its maximum size (QueueNumMax). */
  readonly queueSizes: readonly number[];
  /** The device configuration space, read by the driver at VIRTIO_MMIO_CONFIG. */
  readonly config: Uint8Array;
  /** Called once, when the transport is built. */
  attach(context: VirtioDeviceContext): void;
  /** The driver notified `queue` (QueueNotify) after DRIVER_OK. */
  queueNotified(queue: Virtqueue): void;
  /** The driver set DRIVER_OK (§3.1.1 step 8): the device is live. Optional. */
  driverReady?(): void;
  /** The driver reset the device (Status 0): forget requests in flight. */
  reset(): void;
  /** A named, versioned state record (JSON-safe). */
  saveState(): { readonly v: number };
  loadState(state: unknown): void;
}

export interface VirtioMmioOptions {
  readonly memory: GuestMemory;
  readonly irq: IrqLine;
  readonly log?: GuestErrorLog;
}

export interface VirtioMmioState {
  readonly v: 2;
  readonly deviceId: number;
  readonly status: number;
  readonly deviceFeaturesSel: number;
  readonly driverFeaturesSel: number;
  /** Negotiated driver features, hex (JSON has no 64-bit integers). */
  readonly driverFeatures: string;
  readonly queueSel: number;
  readonly interruptStatus: number;
  readonly configGeneration: number;
  readonly queues: readonly VirtqueueState[];
  /** The device's own record; null for an empty slot. */
  readonly device: unknown;
}

export class VirtioMmioTransport implements MmioDevice {
  /** QEMU's virtio-mmio declares no valid sizes (all are), and its memory core splits 8 bytes into two 4. */
  readonly accessSizes: readonly AccessSize[] = [1, 2, 4, 8];
  readonly splitTo: AccessSize = 4;
  readonly deviceId: number;
  readonly device: VirtioDevice | undefined;
  readonly queues: readonly Virtqueue[];
  readonly #irq: IrqLine | undefined;
  readonly #log: GuestErrorLog;
  readonly #offered: bigint;
  #status = 0;
  #deviceFeaturesSel = 0;
  #driverFeaturesSel = 0;
  #driverFeatures = 0n;
  #queueSel = 0;
  #interruptStatus = 0;
  #configGeneration = 0;

  /** An empty slot without arguments; otherwise `device` behind a live transport. */
  constructor(device?: VirtioDevice, options?: VirtioMmioOptions) {
    this.#log = options?.log ?? new GuestErrorLog();
    if (device === undefined || options === undefined) {
      this.deviceId = VIRTIO_ID_NONE;
      this.queues = [];
      this.#offered = 0n;
      return;
    }
    this.device = device;
    this.deviceId = device.deviceId;
    this.#irq = options.irq;
    this.#offered = device.features | TRANSPORT_FEATURES;
    this.queues = device.queueSizes.map(
      (max, i) => new Virtqueue(i, max, options.memory, () => this.#interrupt(VIRTIO_MMIO_INT_VRING)),
    );
    device.attach({
      memory: options.memory,
      log: this.#log,
      configChanged: () => {
        this.#configGeneration = (this.#configGeneration + 1) >>> 0;
        this.#interrupt(VIRTIO_MMIO_INT_CONFIG);
      },
      needsReset: (message) => this.needsReset(message),
      queues: this.queues,
      live: () =>
        (this.#status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) === VIRTIO_STATUS_DRIVER_OK,
      features: () => this.#driverFeatures,
    });
    this.#irq.set(false);
  }

  /** The device status register (§2.1). */
  get status(): number {
    return this.#status;
  }

  /** Features both sides agreed on; meaningful once FEATURES_OK is set. */
  get negotiatedFeatures(): bigint {
    return this.#driverFeatures;
  }

  read(offset: number, size: AccessSize): bigint {
    if (offset >= VIRTIO_MMIO_CONFIG) return this.#readConfig(offset - VIRTIO_MMIO_CONFIG, size);
    if (size !== 4) {
      this.#log.once(`width read ${offset}`, `${size}-byte read of control register ${hex(offset)}`);
      return 0n;
    }
    switch (offset) {
      case VIRTIO_MMIO_MAGIC_VALUE:
        return BigInt(VIRTIO_MMIO_MAGIC);
      case VIRTIO_MMIO_VERSION:
        return BigInt(VIRTIO_MMIO_VERSION_MODERN);
      case VIRTIO_MMIO_DEVICE_ID:
        return BigInt(this.deviceId);
      case VIRTIO_MMIO_VENDOR_ID:
        return BigInt(VIRTIO_MMIO_VENDOR);
    }
    if (this.device === undefined) return 0n;
    const queue = this.queues[this.#queueSel];
    switch (offset) {
      case VIRTIO_MMIO_DEVICE_FEATURES:
        return this.#deviceFeaturesSel > 1
          ? 0n
          : (this.#offered >> BigInt(32 * this.#deviceFeaturesSel)) & 0xffff_ffffn;
      case VIRTIO_MMIO_QUEUE_NUM_MAX:
        // §4.2.2: "Reading from the register returns the maximum size … or 0x0 if the queue is not available."
        return BigInt(queue?.maxSize ?? 0);
      case VIRTIO_MMIO_QUEUE_READY:
        return queue?.ready ? 1n : 0n;
      case VIRTIO_MMIO_INTERRUPT_STATUS:
        return BigInt(this.#interruptStatus);
      case VIRTIO_MMIO_STATUS:
        return BigInt(this.#status);
      case VIRTIO_MMIO_SHM_LEN_LOW:
      case VIRTIO_MMIO_SHM_LEN_HIGH:
        // §4.2.2: a length of all ones means "no shared memory region" with this ID.
        return 0xffff_ffffn;
      case VIRTIO_MMIO_CONFIG_GENERATION:
        return BigInt(this.#configGeneration);
      default:
        this.#log.once(`read ${offset}`, `read of write-only or reserved register ${hex(offset)}`);
        return 0n;
    }
  }

  write(offset: number, value: bigint, size: AccessSize): void {
    if (this.device === undefined) return;
    if (offset >= VIRTIO_MMIO_CONFIG) {
      // None of our devices has a writable config field (no VIRTIO_BLK_F_CONFIG_WCE and the like).
      this.#log.once(`config write ${offset}`, `write to read-only config space at ${hex(offset)}`);
      return;
    }
    if (size !== 4) {
      this.#log.once(`width write ${offset}`, `${size}-byte write of control register ${hex(offset)}`);
      return;
    }
    const v = Number(value);
    const queue = this.queues[this.#queueSel];
    switch (offset) {
      case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        this.#deviceFeaturesSel = v;
        return;
      case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        this.#driverFeaturesSel = v;
        return;
      case VIRTIO_MMIO_DRIVER_FEATURES:
        this.#writeDriverFeatures(value);
        return;
      case VIRTIO_MMIO_QUEUE_SEL:
        this.#queueSel = v;
        return;
      case VIRTIO_MMIO_QUEUE_NOTIFY:
        this.#notify(v & 0xffff);
        return;
      case VIRTIO_MMIO_INTERRUPT_ACK:
        this.#interruptStatus &= ~v;
        this.#irq!.set(this.#interruptStatus !== 0);
        return;
      case VIRTIO_MMIO_STATUS:
        this.#writeStatus(v & 0xff);
        return;
      case VIRTIO_MMIO_SHM_SEL:
        return;
    }
    if (!queue) {
      this.#log.once(
        `queue ${this.#queueSel}`,
        `queue register ${hex(offset)} written for missing queue ${this.#queueSel}`,
      );
      return;
    }
    if (offset === VIRTIO_MMIO_QUEUE_READY) {
      this.#writeQueueReady(queue, v);
      return;
    }
    if (queue.ready) {
      // §4.2.3.2: the driver sets up a queue while QueueReady is 0.
      this.#log.once(
        `live queue ${offset}`,
        `queue register ${hex(offset)} written while queue ${queue.index} is ready`,
      );
      return;
    }
    switch (offset) {
      case VIRTIO_MMIO_QUEUE_NUM:
        queue.size = v;
        return;
      case VIRTIO_MMIO_QUEUE_DESC_LOW:
        queue.descriptorArea = setLow(queue.descriptorArea, v);
        return;
      case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        queue.descriptorArea = setHigh(queue.descriptorArea, v);
        return;
      case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
        queue.driverArea = setLow(queue.driverArea, v);
        return;
      case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        queue.driverArea = setHigh(queue.driverArea, v);
        return;
      case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
        queue.deviceArea = setLow(queue.deviceArea, v);
        return;
      case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        queue.deviceArea = setHigh(queue.deviceArea, v);
        return;
      default:
        this.#log.once(`write ${offset}`, `write of read-only or reserved register ${hex(offset)}`);
    }
  }

  #readConfig(offset: number, size: AccessSize): bigint {
    const config = this.device?.config;
    if (config === undefined || offset + size > config.length) return 0n;
    let value = 0n;
    for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(config[offset + i]!);
    return value;
  }

  #writeDriverFeatures(value: bigint): void {
    if (this.#status & VIRTIO_STATUS_FEATURES_OK) {
      this.#log.once('late features', 'DriverFeatures written after FEATURES_OK');
      return;
    }
    if (this.#driverFeaturesSel > 1) return;
    const shift = BigInt(32 * this.#driverFeaturesSel);
    this.#driverFeatures = (this.#driverFeatures & ~(0xffff_ffffn << shift)) | (value << shift);
  }

  #writeStatus(value: number): void {
    if (value === 0) {
      this.#reset();
      return;
    }
    let status = value;
    // §2.2.2 / §3.1.1: the device checks the features when the driver sets FEATURES_OK, and leaves the
    // bit clear to refuse them. We refuse features we did not offer, and drivers without VERSION_1
    // (§6.1: a device "MAY fail to operate further if VIRTIO_F_VERSION_1 is not accepted"; this
    // transport has no legacy interface).
    if (status & VIRTIO_STATUS_FEATURES_OK && !(this.#status & VIRTIO_STATUS_FEATURES_OK)) {
      const unknown = this.#driverFeatures & ~this.#offered;
      const version1 = (this.#driverFeatures >> BigInt(VIRTIO_F_VERSION_1)) & 1n;
      if (unknown !== 0n || version1 === 0n) {
        this.#log.once(
          `features ${this.#driverFeatures.toString(16)}`,
          `refused driver features 0x${this.#driverFeatures.toString(16)} (offered 0x${this.#offered.toString(16)})`,
        );
        status &= ~VIRTIO_STATUS_FEATURES_OK;
      }
    }
    // The device alone sets DEVICE_NEEDS_RESET; the driver writing the register keeps it.
    status = (status & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | (this.#status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    const nowOk = (status & ~this.#status & VIRTIO_STATUS_DRIVER_OK) !== 0;
    this.#status = status;
    this.#applyFeatures();
    if (nowOk) this.device!.driverReady?.();
  }

  /** The queues follow the negotiated ring features. */
  #applyFeatures(): void {
    const indirect = ((this.#driverFeatures >> BigInt(VIRTIO_F_INDIRECT_DESC)) & 1n) === 1n;
    const eventIdx = ((this.#driverFeatures >> BigInt(VIRTIO_F_EVENT_IDX)) & 1n) === 1n;
    for (const queue of this.queues) {
      queue.indirect = indirect;
      queue.eventIdx = eventIdx;
    }
  }

  #writeQueueReady(queue: Virtqueue, value: number): void {
    if (value === 0) {
      queue.ready = false;
      return;
    }
    if (queue.size === 0 || queue.size > queue.maxSize || (queue.size & (queue.size - 1)) !== 0) {
      // §2.7: the Queue Size of a split virtqueue is a power of 2, at most QueueNumMax.
      this.#log.once(
        `queue size ${queue.index}`,
        `queue ${queue.index} made ready with size ${queue.size} (max ${queue.maxSize})`,
      );
      return;
    }
    queue.ready = true;
  }

  #notify(index: number): void {
    const queue = this.queues[index];
    if (!queue?.ready) {
      this.#log.once(`notify ${index}`, `notification for queue ${index}, which is not ready`);
      return;
    }
    if (!(this.#status & VIRTIO_STATUS_DRIVER_OK) || this.#status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) return;
    try {
      this.device!.queueNotified(queue);
    } catch (error) {
      if (!(error instanceof VirtqueueError)) throw error;
      this.needsReset(`queue ${index}: ${error.message}`);
    }
  }

  /** A guest error the device cannot recover from by itself: DEVICE_NEEDS_RESET and a config interrupt. */
  needsReset(message: string): void {
    this.#log.once(`needs reset: ${message}`, `${message}; device needs reset`);
    if (this.#status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) return;
    this.#status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    for (const queue of this.queues) queue.ready = false;
    this.#interrupt(VIRTIO_MMIO_INT_CONFIG);
  }

  #interrupt(bit: number): void {
    this.#interruptStatus |= bit;
    this.#irq!.set(true);
  }

  /** A machine reset: as the driver writing 0 to Status. */
  hardwareReset(): void {
    if (this.device) this.#reset();
  }

  #reset(): void {
    this.#status = 0;
    this.#deviceFeaturesSel = 0;
    this.#driverFeaturesSel = 0;
    this.#driverFeatures = 0n;
    this.#queueSel = 0;
    this.#interruptStatus = 0;
    for (const queue of this.queues) queue.reset();
    this.device!.reset();
    this.#irq!.set(false);
  }

  saveState(): VirtioMmioState {
    return {
      v: 2,
      deviceId: this.deviceId,
      status: this.#status,
      deviceFeaturesSel: this.#deviceFeaturesSel,
      driverFeaturesSel: this.#driverFeaturesSel,
      driverFeatures: this.#driverFeatures.toString(16),
      queueSel: this.#queueSel,
      interruptStatus: this.#interruptStatus,
      configGeneration: this.#configGeneration,
      queues: this.queues.map((q) => q.saveState()),
      device: this.device ? this.device.saveState() : null,
    };
  }

  loadState(state: VirtioMmioState): void {
    if (state.v !== 2) throw new Error(`virtio-mmio: unknown state version ${String(state.v)}`);
    if (state.deviceId !== this.deviceId) {
      throw new Error(`virtio-mmio: state is for device ${state.deviceId}, this slot holds ${this.deviceId}`);
    }
    if (state.queues.length !== this.queues.length) {
      throw new Error(`virtio-mmio: state has ${state.queues.length} queues, the device has ${this.queues.length}`);
    }
    if (!this.device) return;
    this.#status = state.status;
    this.#deviceFeaturesSel = state.deviceFeaturesSel;
    this.#driverFeaturesSel = state.driverFeaturesSel;
    this.#driverFeatures = BigInt(`0x${state.driverFeatures}`);
    this.#queueSel = state.queueSel;
    this.#interruptStatus = state.interruptStatus;
    this.#configGeneration = state.configGeneration;
    state.queues.forEach((q, i) => this.queues[i]!.loadState(q));
    this.#applyFeatures();
    this.device.loadState(state.device);
    this.#irq!.set(this.#interruptStatus !== 0);
  }
}

function setLow(address: number, low: number): number {
  return Math.floor(address / 2 ** 32) * 2 ** 32 + (low >>> 0);
}

function setHigh(address: number, high: number): number {
  return (high >>> 0) * 2 ** 32 + (address % 2 ** 32);
}
