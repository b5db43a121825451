/**
 * The one table of the guest hardware (STYLE.md habit 1, DESIGN.md §2). It matches QEMU's `virt`
 * board so that firmware and kernels built for it run unchanged. The bus, the PLIC wiring and the
 * generated device tree all read this table.
 */

export const VIRTIO_MMIO_SLOTS = 8;

export interface Region {
  readonly base: number;
  readonly size: number;
}

export const MEMORY_MAP = {
  bootRom: { base: 0x0000_1000, size: 0x1000 },
  sifiveTest: { base: 0x0010_0000, size: 0x1000 },
  rtc: { base: 0x0010_1000, size: 0x1000 },
  clint: { base: 0x0200_0000, size: 0x1_0000 },
  plic: { base: 0x0c00_0000, size: 0x60_0000 },
  uart0: { base: 0x1000_0000, size: 0x100 },
  virtio: { base: 0x1000_1000, size: 0x1000 }, // slot i at base + i * size
  dram: { base: 0x8000_0000, size: 0 }, // size comes from the VM's configuration
} as const satisfies Record<string, Region>;

/** PLIC interrupt source numbers. */
export const IRQ = {
  uart0: 10,
  rtc: 11,
  virtio: (slot: number): number => 1 + slot,
} as const;

export const PLIC_NUM_SOURCES = 96;
/** The CLINT's mtime frequency, and the device tree's timebase-frequency. */
export const TIMEBASE_FREQUENCY = 10_000_000;
/** Where QEMU's virt board loads a kernel after fw_dynamic. */
export const KERNEL_OFFSET = 0x20_0000;
