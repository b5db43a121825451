/**
 * The narrow device contract (STYLE.md habit 2). Offsets are relative to the device's region;
 * values travel as bigint so that 64-bit registers (CLINT mtime, mtimecmp) need no special path.
 * The bus checks `accessSizes` before calling, so a device only sees widths it declared.
 */
export type AccessSize = 1 | 2 | 4 | 8;

export interface MmioDevice {
  /**
   * Access widths in bytes this device accepts (QEMU's MemoryRegionOps `valid` sizes). The CPU takes an
   * access fault on any other width, as on QEMU's `virt`; the bus logs it once.
   */
  readonly accessSizes: readonly AccessSize[];
  /**
   * Narrower widths for parts of the region, [start, end) relative to it: QEMU's CLINT is two devices,
   * whose MSIP words take 4-byte accesses and whose timer takes 4 or 8.
   */
  readonly accessRanges?: readonly AccessRange[];
  /**
   * The widest access the device handles itself (QEMU's `impl.max_access_size`): a wider accepted access
   * reaches it as naturally aligned pieces of this width, lowest address first, as QEMU's memory core
   * splits them. Default: no splitting.
   */
  readonly splitTo?: AccessSize;
  /** Whether instructions may be fetched from it (ROM). Fetching from any other device is an access fault. */
  readonly executable?: boolean;
  read(offset: number, size: AccessSize): bigint;
  write(offset: number, value: bigint, size: AccessSize): void;
}

/** An interrupt wire handed to a device (habit 3): the device only drives its level. */
export interface IrqLine {
  set(level: boolean): void;
}

export interface AccessRange {
  readonly start: number;
  readonly end: number;
  readonly sizes: readonly AccessSize[];
}
