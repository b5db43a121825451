/**
 * The virtio-mmio transport (Virtual I/O Device spec 1.2, §4.2.2 "MMIO Device Register Layout"),
 * version 2 (non-legacy). For now it models an empty slot, as QEMU's virt board exposes unused
 * transports: MagicValue, Version and VendorID read as usual and DeviceID reads 0. §4.2.3.1.1: "If
 * both values are valid, it MUST read DeviceID and if its value is zero (0x0) MUST abort
 * initialization and MUST NOT access any other register" (Linux's virtio_mmio probe returns -ENODEV
 * quietly). Every other register reads 0 and every write is ignored, silently, as in QEMU.
 *
 * Where this grows (STYLE.md habit 14): the transport keeps owning these registers, feature
 * negotiation, status and the queues; a declarative device description (device ID, feature bits,
 * config space, one handler per queue) plugs into the constructor. The config space at
 * VIRTIO_MMIO_CONFIG will accept 1-, 2- and 4-byte accesses, so accessSizes then widens and this
 * file checks the width of the other registers itself (§4.2.2.2: "The driver MUST only use 32 bit
 * wide and aligned reads and writes to access the control registers").
 */
import type { AccessSize, MmioDevice } from '../../bus/device.ts';

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

export class VirtioMmioTransport implements MmioDevice {
  readonly accessSizes: readonly AccessSize[] = [4];
  /** The device behind the transport; an empty slot until devices exist. */
  readonly deviceId = VIRTIO_ID_NONE;

  read(offset: number, _size: AccessSize): bigint {
    switch (offset) {
      case VIRTIO_MMIO_MAGIC_VALUE:
        return BigInt(VIRTIO_MMIO_MAGIC);
      case VIRTIO_MMIO_VERSION:
        return BigInt(VIRTIO_MMIO_VERSION_MODERN);
      case VIRTIO_MMIO_DEVICE_ID:
        return BigInt(this.deviceId);
      case VIRTIO_MMIO_VENDOR_ID:
        return BigInt(VIRTIO_MMIO_VENDOR);
      default:
        return 0n;
    }
  }

  write(_offset: number, _value: bigint, _size: AccessSize): void {
    // An empty slot ignores writes.
  }

  /** An empty slot has no state; versioned like every device record so the transport's can grow. */
  saveState(): { v: 1; deviceId: number } {
    return { v: 1, deviceId: this.deviceId };
  }

  loadState(state: { v: 1; deviceId: number }): void {
    if (state.v !== 1) throw new Error(`virtio-mmio: unknown state version ${String(state.v)}`);
    if (state.deviceId !== this.deviceId) {
      throw new Error(`virtio-mmio: state is for device ${state.deviceId}, this slot holds ${this.deviceId}`);
    }
  }
}
