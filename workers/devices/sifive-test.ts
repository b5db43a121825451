/**
 * The SiFive test finisher (QEMU's "sifive,test1", on virt at 0x10_0000): the guest ends the machine
 * by writing a code to offset 0. Low 16 bits FINISHER_PASS powers off with exit code 0,
 * FINISHER_FAIL powers off with the exit code in bits 31:16, FINISHER_RESET reboots.
 *
 * 16- and 32-bit writes: OpenSBI's sifive_test driver stores the code with `writew` (16 bits), while
 * Linux's syscon-poweroff/syscon-reboot go through a 32-bit regmap. Reads return 0.
 */
import type { AccessSize, MmioDevice } from '../bus/device.ts';
import { GuestErrorLog, hex } from '../bus/guest-log.ts';

export const FINISHER_FAIL = 0x3333;
export const FINISHER_PASS = 0x5555;
export const FINISHER_RESET = 0x7777;

export interface PowerControl {
  /** The guest asked to power off; `code` is its exit status (0 = pass). */
  powerOff(code: number): void;
  /** The guest asked for a reboot. */
  reset(): void;
}

export class SifiveTest implements MmioDevice {
  readonly accessSizes: readonly AccessSize[] = [2, 4];
  readonly #power: PowerControl;
  readonly #log: GuestErrorLog;

  constructor(power: PowerControl, log: GuestErrorLog = new GuestErrorLog()) {
    this.#power = power;
    this.#log = log;
  }

  read(_offset: number, _size: AccessSize): bigint {
    return 0n;
  }

  write(offset: number, value: bigint, _size: AccessSize): void {
    if (offset !== 0) {
      this.#log.once(`write ${hex(offset)}`, `sifive test: write to absent register ${hex(offset)}`);
      return;
    }
    const word = Number(value & 0xffff_ffffn);
    const code = word & 0xffff;
    if (code === FINISHER_PASS) this.#power.powerOff(0);
    else if (code === FINISHER_FAIL) this.#power.powerOff(word >>> 16);
    else if (code === FINISHER_RESET) this.#power.reset();
    else this.#log.once(`code ${hex(code)}`, `sifive test: unknown finisher code ${hex(code)}`);
  }

  /** The finisher keeps no state; the record exists so that every device saves and loads alike. */
  saveState(): { v: 1 } {
    return { v: 1 };
  }

  loadState(state: { v: 1 }): void {
    if (state.v !== 1) throw new Error(`sifive test: unknown state version ${String(state.v)}`);
  }
}
