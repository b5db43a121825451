/**
 * The Goldfish RTC of the Android emulator (QEMU virt's "google,goldfish-rtc"), with the register
 * semantics Linux's drivers/rtc/rtc-goldfish.c relies on. Time is a 64-bit count of nanoseconds since
 * the Unix epoch; all registers are 32-bit.
 *
 *   0x00 TIME_LOW        read: the current time's low half, latching its high half for TIME_HIGH
 *   0x04 TIME_HIGH       read: the high half latched by the last TIME_LOW read
 *   0x08 ALARM_LOW       write: the alarm's low half, then arm the alarm
 *   0x0c ALARM_HIGH      write: the alarm's high half
 *   0x10 IRQ_ENABLED     bit 0 gates the interrupt line
 *   0x14 CLEAR_ALARM     write: disarm the alarm
 *   0x18 ALARM_STATUS    read: 1 while the alarm is armed
 *   0x1c CLEAR_INTERRUPT write: lower the interrupt
 *
 * Setting the time: Linux writes TIME_HIGH, then TIME_LOW. A TIME_HIGH write is held until the next
 * TIME_LOW write, which sets the whole 64-bit time at once (a lone TIME_LOW write keeps the current
 * high half), so a carry between the two writes cannot corrupt the result.
 *
 * The time is a wall-clock offset plus guest time: the guest sees the real date at VM creation, and
 * the RTC stands still while the VM is paused, in step with mtime.
 */
import type { AccessSize, IrqLine, MmioDevice } from '../bus/device.ts';
import { GuestErrorLog, hex } from '../bus/guest-log.ts';
import type { GuestTimeSource } from '../bus/time-source.ts';

export const RTC_TIME_LOW = 0x00;
export const RTC_TIME_HIGH = 0x04;
export const RTC_ALARM_LOW = 0x08;
export const RTC_ALARM_HIGH = 0x0c;
export const RTC_IRQ_ENABLED = 0x10;
export const RTC_CLEAR_ALARM = 0x14;
export const RTC_ALARM_STATUS = 0x18;
export const RTC_CLEAR_INTERRUPT = 0x1c;

const LOW_32 = 0xffff_ffffn;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

export interface GoldfishRtcOptions {
  readonly clock: GuestTimeSource;
  readonly irq: IrqLine;
  /** Host wall-clock time at VM creation in ms since the epoch; default Date.now(). */
  readonly wallClockMs?: number;
  readonly log?: GuestErrorLog;
}

export interface GoldfishRtcState {
  v: 1;
  /** RTC time minus guest time, in ns, decimal (bigint does not survive JSON). */
  offsetNs: string;
  /** TIME_HIGH as latched by the last TIME_LOW read. */
  timeHighLatch: number;
  /** A TIME_HIGH write waiting for its TIME_LOW write, or null. */
  pendingTimeHigh: number | null;
  /** The alarm time in ns since the epoch, decimal. */
  alarmNs: string;
  alarmArmed: boolean;
  irqEnabled: boolean;
  irqPending: boolean;
}

export class GoldfishRtc implements MmioDevice {
  readonly accessSizes: readonly AccessSize[] = [4];
  readonly #clock: GuestTimeSource;
  readonly #nsPerTick: bigint;
  readonly #irq: IrqLine;
  readonly #log: GuestErrorLog;
  #offsetNs: bigint;
  #timeHighLatch = 0;
  #pendingTimeHigh: number | null = null;
  #alarmNs = 0n;
  #alarmArmed = false;
  #irqEnabled = false;
  #irqPending = false;
  #irqLevel = false;

  constructor(options: GoldfishRtcOptions) {
    this.#clock = options.clock;
    this.#nsPerTick = BigInt(1_000_000_000 / options.clock.frequency);
    this.#irq = options.irq;
    this.#log = options.log ?? new GuestErrorLog();
    const wallNs = BigInt(Math.floor(options.wallClockMs ?? Date.now())) * 1_000_000n;
    this.#offsetNs = wallNs - this.#guestNs();
    this.#irq.set(false);
  }

  /** The RTC's time in nanoseconds since the Unix epoch. */
  nowNs(): bigint {
    return BigInt.asUintN(64, this.#offsetNs + this.#guestNs());
  }

  read(offset: number, _size: AccessSize): bigint {
    switch (offset) {
      case RTC_TIME_LOW: {
        const now = this.nowNs();
        this.#timeHighLatch = Number(now >> 32n);
        return now & LOW_32;
      }
      case RTC_TIME_HIGH:
        return BigInt(this.#timeHighLatch);
      case RTC_ALARM_LOW:
        return this.#alarmNs & LOW_32;
      case RTC_ALARM_HIGH:
        return this.#alarmNs >> 32n;
      case RTC_IRQ_ENABLED:
        return this.#irqEnabled ? 1n : 0n;
      case RTC_ALARM_STATUS:
        return this.#alarmArmed ? 1n : 0n;
      default:
        this.#log.once(`read ${hex(offset)}`, `goldfish RTC: read of write-only or absent register ${hex(offset)}`);
        return 0n;
    }
  }

  write(offset: number, value: bigint, _size: AccessSize): void {
    const word = value & LOW_32;
    switch (offset) {
      case RTC_TIME_LOW: {
        const high = this.#pendingTimeHigh === null ? this.nowNs() >> 32n : BigInt(this.#pendingTimeHigh);
        this.#pendingTimeHigh = null;
        this.#offsetNs = ((high << 32n) | word) - this.#guestNs();
        this.update();
        return;
      }
      case RTC_TIME_HIGH:
        this.#pendingTimeHigh = Number(word);
        return;
      case RTC_ALARM_LOW:
        this.#alarmNs = (this.#alarmNs & ~LOW_32) | word;
        this.#alarmArmed = true;
        // An alarm set in the past fires at once.
        this.update();
        return;
      case RTC_ALARM_HIGH:
        this.#alarmNs = (word << 32n) | (this.#alarmNs & LOW_32);
        return;
      case RTC_IRQ_ENABLED:
        this.#irqEnabled = (word & 1n) === 1n;
        this.#drive();
        return;
      case RTC_CLEAR_ALARM:
        this.#alarmArmed = false;
        return;
      case RTC_CLEAR_INTERRUPT:
        this.#irqPending = false;
        this.#drive();
        return;
      default:
        this.#log.once(`write ${hex(offset)}`, `goldfish RTC: write to read-only or absent register ${hex(offset)}`);
    }
  }

  /** Fires the alarm if it is due. Call between instruction slices. */
  update(): void {
    if (this.#alarmArmed && this.nowNs() >= this.#alarmNs) {
      this.#alarmArmed = false;
      this.#irqPending = true;
    }
    this.#drive();
  }

  /** The guest tick at which the armed alarm fires, or null when none is armed. */
  nextDeadline(): bigint | null {
    if (!this.#alarmArmed) return null;
    const ns = this.#alarmNs - this.#offsetNs;
    if (ns <= 0n) return 0n;
    const ticks = (ns + this.#nsPerTick - 1n) / this.#nsPerTick;
    return ticks > U64_MAX ? U64_MAX : ticks;
  }

  saveState(): GoldfishRtcState {
    return {
      v: 1,
      offsetNs: this.#offsetNs.toString(),
      timeHighLatch: this.#timeHighLatch,
      pendingTimeHigh: this.#pendingTimeHigh,
      alarmNs: this.#alarmNs.toString(),
      alarmArmed: this.#alarmArmed,
      irqEnabled: this.#irqEnabled,
      irqPending: this.#irqPending,
    };
  }

  /** Restores the registers and re-drives the interrupt line (the saved offset keeps the guest's date). */
  loadState(state: GoldfishRtcState): void {
    if (state.v !== 1) throw new Error(`goldfish RTC: unknown state version ${String(state.v)}`);
    this.#offsetNs = BigInt(state.offsetNs);
    this.#timeHighLatch = state.timeHighLatch >>> 0;
    this.#pendingTimeHigh = state.pendingTimeHigh === null ? null : state.pendingTimeHigh >>> 0;
    this.#alarmNs = BigInt.asUintN(64, BigInt(state.alarmNs));
    this.#alarmArmed = state.alarmArmed;
    this.#irqEnabled = state.irqEnabled;
    this.#irqPending = state.irqPending;
    this.#irqLevel = this.#irqEnabled && this.#irqPending;
    this.#irq.set(this.#irqLevel);
  }

  #guestNs(): bigint {
    return this.#clock.ticks() * this.#nsPerTick;
  }

  #drive(): void {
    const level = this.#irqEnabled && this.#irqPending;
    if (level === this.#irqLevel) return;
    this.#irqLevel = level;
    this.#irq.set(level);
  }
}
