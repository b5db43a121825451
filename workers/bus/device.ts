/**
 * The narrow device contract (STYLE.md habit 2). Offsets are relative to the device's region;
 * values travel as bigint so that 64-bit registers (CLINT mtime, mtimecmp) need no special path.
 * The bus checks `accessSizes` before calling, so a device only sees widths it declared.
 */
export type AccessSize = 1 | 2 | 4 | 8;

export interface MmioDevice {
  /** Access widths in bytes this device accepts; others read as 0 and are logged once by the bus. */
  readonly accessSizes: readonly AccessSize[];
  read(offset: number, size: AccessSize): bigint;
  write(offset: number, value: bigint, size: AccessSize): void;
}

/** An interrupt wire handed to a device (habit 3): the device only drives its level. */
export interface IrqLine {
  set(level: boolean): void;
}
