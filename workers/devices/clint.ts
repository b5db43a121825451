/**
 * SiFive CLINT as on QEMU's virt board (the RISC-V ACLINT spec 1.0's MSWI + MTIMER pair at their
 * legacy CLINT offsets): per hart a machine software interrupt bit (MSIP) and a timer compare
 * register (mtimecmp), and one shared mtime.
 *
 *   +0x0000 + 4·hart   msip      32-bit; bit 0 drives the hart's MSIP line, bits 31:1 read as 0
 *   +0x4000 + 8·hart   mtimecmp  64-bit; 8-byte or 4-byte (half) accesses
 *   +0xBFF8            mtime     64-bit; 8-byte or 4-byte (half) accesses
 *
 * ACLINT §3.2: "A machine timer interrupt becomes pending whenever mtime contains a value greater
 * than or equal to the mtimecmp register" — a level, so MTIP follows time, not register accesses.
 * Time moves without any access, hence update() (between instruction slices) and nextDeadline()
 * (how long a hart in WFI may sleep). mtime itself belongs to the GuestTimeSource, not to this
 * device's state.
 */
import type { AccessSize, IrqLine, MmioDevice } from '../bus/device.ts';
import { GuestErrorLog, hex } from '../bus/guest-log.ts';
import type { GuestTimeSource } from '../bus/time-source.ts';

export const CLINT_MSIP = 0x0000;
export const CLINT_MTIMECMP = 0x4000;
export const CLINT_MTIME = 0xbff8;

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const LOW_32 = 0xffff_ffffn;

export interface ClintHartLines {
  /** Machine software interrupt (mip.MSIP). */
  readonly msip: IrqLine;
  /** Machine timer interrupt (mip.MTIP). */
  readonly mtip: IrqLine;
}

export interface ClintState {
  v: 1;
  /** Per hart, the MSIP bit. */
  msip: boolean[];
  /** Per hart, mtimecmp as a decimal string (bigint does not survive JSON). */
  mtimecmp: string[];
}

export class Clint implements MmioDevice {
  readonly accessSizes: readonly AccessSize[] = [4, 8];
  /** QEMU's MSWI part takes 4-byte accesses only (riscv_aclint.c); its MTIMER part 4 or 8. */
  readonly accessRanges = [{ start: CLINT_MSIP, end: CLINT_MTIMECMP, sizes: [4] as const }];
  readonly #clock: GuestTimeSource;
  readonly #harts: readonly ClintHartLines[];
  readonly #log: GuestErrorLog;
  readonly #msip: boolean[];
  readonly #mtimecmp: bigint[];
  /** The level last driven on each hart's MTIP line, so update() only calls set() on a change. */
  readonly #mtipLevel: boolean[];

  constructor(clock: GuestTimeSource, harts: readonly ClintHartLines[], log: GuestErrorLog = new GuestErrorLog()) {
    if (harts.length === 0 || harts.length > (CLINT_MTIME - CLINT_MTIMECMP) / 8) {
      throw new RangeError(`clint: unsupported hart count ${harts.length}`);
    }
    this.#clock = clock;
    this.#harts = harts;
    this.#log = log;
    this.#msip = harts.map(() => false);
    // Reset value all ones: ACLINT leaves mtimecmp unspecified at reset, and all ones is the only
    // value that cannot raise a timer interrupt before software programs it.
    this.#mtimecmp = harts.map(() => U64_MAX);
    this.#mtipLevel = harts.map(() => false);
    this.#driveAll();
  }

  read(offset: number, size: AccessSize): bigint {
    if (offset < CLINT_MTIMECMP) {
      const hart = this.#msipHart(offset, size, 'read');
      return hart === undefined ? 0n : this.#msip[hart] ? 1n : 0n;
    }
    if (offset < CLINT_MTIME) {
      const hart = this.#mtimecmpHart(offset, 'read');
      return hart === undefined ? 0n : half(this.#mtimecmp[hart]!, offset, size);
    }
    if (offset < CLINT_MTIME + 8) return half(this.#clock.ticks(), offset, size);
    this.#log.once(`read ${hex(offset)}`, `CLINT: read of reserved offset ${hex(offset)}`);
    return 0n;
  }

  write(offset: number, value: bigint, size: AccessSize): void {
    if (offset < CLINT_MTIMECMP) {
      const hart = this.#msipHart(offset, size, 'write');
      if (hart === undefined) return;
      const level = (value & 1n) === 1n;
      this.#msip[hart] = level;
      this.#harts[hart]!.msip.set(level);
      return;
    }
    if (offset < CLINT_MTIME) {
      const hart = this.#mtimecmpHart(offset, 'write');
      if (hart === undefined) return;
      this.#mtimecmp[hart] = deposit(this.#mtimecmp[hart]!, offset, value, size);
      this.#driveMtip(hart, this.#clock.ticks());
      return;
    }
    if (offset >= CLINT_MTIME + 8) {
      this.#log.once(`write ${hex(offset)}`, `CLINT: write to reserved offset ${hex(offset)}`);
      return;
    }
    this.#clock.setTicks(deposit(this.#clock.ticks(), offset, value, size));
    this.update();
  }

  /** Re-evaluates every hart's MTIP against the current time. Call between instruction slices. */
  update(): void {
    const now = this.#clock.ticks();
    for (let hart = 0; hart < this.#harts.length; hart++) this.#driveMtip(hart, now);
  }

  /**
   * The earliest mtimecmp still in the future (in ticks), or null if none is. All ones counts as
   * disarmed (the reset value, and what Linux asks SBI for to stop its timer): mtime cannot pass it.
   */
  nextDeadline(): bigint | null {
    const now = this.#clock.ticks();
    let next: bigint | null = null;
    for (const compare of this.#mtimecmp) {
      if (compare === U64_MAX) continue;
      if (compare > now && (next === null || compare < next)) next = compare;
    }
    return next;
  }

  saveState(): ClintState {
    return { v: 1, msip: [...this.#msip], mtimecmp: this.#mtimecmp.map((c) => c.toString()) };
  }

  /** Restores the registers and re-drives every line; restore the clock first (MTIP depends on it). */
  loadState(state: ClintState): void {
    if (state.v !== 1) throw new Error(`clint: unknown state version ${String(state.v)}`);
    const n = this.#harts.length;
    if (state.msip.length !== n || state.mtimecmp.length !== n) {
      throw new Error(`clint: state is for ${state.msip.length} harts, this machine has ${n}`);
    }
    for (let hart = 0; hart < n; hart++) {
      this.#msip[hart] = state.msip[hart] === true;
      this.#mtimecmp[hart] = BigInt.asUintN(64, BigInt(state.mtimecmp[hart]!));
    }
    this.#driveAll();
  }

  #driveAll(): void {
    const now = this.#clock.ticks();
    for (let hart = 0; hart < this.#harts.length; hart++) {
      const lines = this.#harts[hart]!;
      lines.msip.set(this.#msip[hart]!);
      const level = now >= this.#mtimecmp[hart]!;
      this.#mtipLevel[hart] = level;
      lines.mtip.set(level);
    }
  }

  #driveMtip(hart: number, now: bigint): void {
    const level = now >= this.#mtimecmp[hart]!;
    if (level === this.#mtipLevel[hart]) return;
    this.#mtipLevel[hart] = level;
    this.#harts[hart]!.mtip.set(level);
  }

  #msipHart(offset: number, size: AccessSize, kind: string): number | undefined {
    const hart = offset >>> 2;
    if (size !== 4) {
      this.#log.once(`msip ${kind} size`, `CLINT: ${size}-byte ${kind} of msip at ${hex(offset)} (only 4-byte)`);
      return undefined;
    }
    if (hart >= this.#harts.length) {
      this.#log.once(`msip ${kind} ${hex(offset)}`, `CLINT: ${kind} of msip for absent hart ${hart}`);
      return undefined;
    }
    return hart;
  }

  #mtimecmpHart(offset: number, kind: string): number | undefined {
    const hart = (offset - CLINT_MTIMECMP) >>> 3;
    if (hart >= this.#harts.length) {
      this.#log.once(`mtimecmp ${kind} ${hex(offset)}`, `CLINT: ${kind} of mtimecmp for absent hart ${hart}`);
      return undefined;
    }
    return hart;
  }
}

/** The part of a 64-bit register an access at `offset` (8-aligned base + 0 or 4) of `size` sees. */
function half(register: bigint, offset: number, size: AccessSize): bigint {
  if (size === 8) return register;
  return (offset & 4) === 0 ? register & LOW_32 : register >> 32n;
}

/** `register` with the bytes an access at `offset` of `size` writes replaced by `value`. */
function deposit(register: bigint, offset: number, value: bigint, size: AccessSize): bigint {
  if (size === 8) return BigInt.asUintN(64, value);
  const word = value & LOW_32;
  return (offset & 4) === 0 ? (register & ~LOW_32) | word : (word << 32n) | (register & LOW_32);
}
