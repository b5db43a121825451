import { describe, expect, it } from 'vitest';
import { GuestErrorLog } from '../bus/guest-log.ts';
import { GuestClock } from '../machine/clock.ts';
import { GoldfishRtc } from './goldfish-rtc.ts';
import { FakeHostTime, RecordingIrqLine, throughJson } from './test-support.ts';

const TIME_LOW = 0x00;
const TIME_HIGH = 0x04;
const ALARM_LOW = 0x08;
const ALARM_HIGH = 0x0c;
const IRQ_ENABLED = 0x10;
const CLEAR_ALARM = 0x14;
const ALARM_STATUS = 0x18;
const CLEAR_INTERRUPT = 0x1c;
const CREATED = Date.UTC(2024, 1, 29, 13, 14, 15, 678); // a leap day

function setup(wallClockMs = CREATED) {
  const host = new FakeHostTime();
  const clock = new GuestClock(host.now);
  clock.resume();
  const irq = new RecordingIrqLine();
  const messages: string[] = [];
  const rtc = new GoldfishRtc({ clock, irq, wallClockMs, log: new GuestErrorLog((m) => messages.push(m)) });
  const read = (offset: number): bigint => rtc.read(offset, 4);
  const write = (offset: number, value: bigint): void => rtc.write(offset, value & 0xffff_ffffn, 4);
  /** What Linux's goldfish_rtc_read_time does: TIME_LOW, then TIME_HIGH. */
  const readTime = (): bigint => {
    const low = read(TIME_LOW);
    return (read(TIME_HIGH) << 32n) | low;
  };
  /** What goldfish_rtc_set_time does: TIME_HIGH, then TIME_LOW. */
  const setTime = (ns: bigint): void => {
    write(TIME_HIGH, ns >> 32n);
    write(TIME_LOW, ns);
  };
  /** What goldfish_rtc_set_alarm does when enabling an alarm. */
  const setAlarm = (ns: bigint): void => {
    write(ALARM_HIGH, ns >> 32n);
    write(ALARM_LOW, ns);
    write(IRQ_ENABLED, 1n);
  };
  return { host, clock, irq, messages, rtc, read, write, readTime, setTime, setAlarm };
}

const isoOf = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

describe('Goldfish RTC', () => {
  it('reads the host date at VM creation, in nanoseconds since the epoch', () => {
    const { readTime } = setup();
    const ns = readTime();
    expect(isoOf(ns)).toBe('2024-02-29T13:14:15.678Z');
    expect(ns).toBe(1_709_212_455_678_000_000n);
  });

  it('advances with guest time and stands still while the VM is paused', () => {
    const { readTime, host, clock } = setup();
    const start = readTime();
    host.ms += 1500;
    expect(readTime() - start).toBe(1_500_000_000n);
    clock.pause();
    host.ms += 60_000;
    expect(readTime() - start).toBe(1_500_000_000n);
  });

  it('TIME_HIGH returns the high half latched by the last TIME_LOW read', () => {
    // Created 1 ms before the low half wraps: high = 5, low = 2^32 − 1e6 ns.
    const wrapMs = Number(((5n << 32n) + (1n << 32n) - 1_000_000n) / 1_000_000n);
    const { read, host } = setup(wrapMs);
    const low = read(TIME_LOW);
    expect(low).toBeGreaterThan(0xff00_0000n);
    host.ms += 2; // the live time's high half is now 6
    expect(read(TIME_HIGH)).toBe(5n);
    expect(read(TIME_LOW)).toBeLessThan(0x0100_0000n);
    expect(read(TIME_HIGH)).toBe(6n);
  });

  it('sets the time from a TIME_HIGH, TIME_LOW pair, and keeps counting from it', () => {
    const { readTime, setTime, host, write } = setup();
    const target = BigInt(Date.UTC(2030, 0, 1)) * 1_000_000n + 123n;
    setTime(target);
    expect(readTime()).toBe(target);
    host.ms += 10;
    expect(readTime()).toBe(target + 10_000_000n);
    // A lone TIME_LOW write keeps the current high half.
    write(TIME_LOW, 0n);
    const now = readTime();
    expect(now >> 32n).toBe((target + 10_000_000n) >> 32n);
    expect(now & 0xffff_ffffn).toBe(0n);
  });

  it('fires the alarm when due and holds the interrupt until it is cleared', () => {
    const { setAlarm, readTime, read, write, rtc, irq, host } = setup();
    const alarm = readTime() + 2_000_000n; // 2 ms from now
    setAlarm(alarm);
    expect(read(ALARM_STATUS)).toBe(1n);
    expect((read(ALARM_HIGH) << 32n) | read(ALARM_LOW)).toBe(alarm);
    expect(read(IRQ_ENABLED)).toBe(1n);
    expect(rtc.nextDeadline()).toBe(20_000n); // 2 ms of 10 MHz ticks
    host.ms = 1.9999;
    rtc.update();
    expect(irq.level).toBe(false);
    host.ms = 2;
    rtc.update();
    expect(irq.level).toBe(true);
    expect(read(ALARM_STATUS)).toBe(0n);
    expect(rtc.nextDeadline()).toBeNull();
    host.ms = 3;
    rtc.update();
    expect(irq.level).toBe(true); // stays until the driver clears it
    write(CLEAR_INTERRUPT, 1n);
    expect(irq.level).toBe(false);
  });

  it('fires at once for an alarm in the past', () => {
    const { setAlarm, readTime, irq } = setup();
    setAlarm(readTime() - 1n);
    expect(irq.level).toBe(true);
  });

  it('gates the line with IRQ_ENABLED without losing the pending interrupt', () => {
    const { readTime, write, rtc, irq, host } = setup();
    const alarm = readTime() + 1_000_000n;
    write(ALARM_HIGH, alarm >> 32n);
    write(ALARM_LOW, alarm & 0xffff_ffffn);
    host.ms = 5;
    rtc.update();
    expect(irq.level).toBe(false);
    write(IRQ_ENABLED, 1n);
    expect(irq.level).toBe(true);
    write(IRQ_ENABLED, 0n);
    expect(irq.level).toBe(false);
  });

  it('CLEAR_ALARM disarms the alarm', () => {
    const { setAlarm, readTime, read, write, rtc, irq, host } = setup();
    setAlarm(readTime() + 1_000_000n);
    write(CLEAR_ALARM, 1n);
    expect(read(ALARM_STATUS)).toBe(0n);
    host.ms = 5;
    rtc.update();
    expect(irq.level).toBe(false);
  });

  it('logs reads of write-only registers and writes to read-only ones', () => {
    const { read, write, messages } = setup();
    expect(read(CLEAR_INTERRUPT)).toBe(0n);
    write(ALARM_STATUS, 1n);
    expect(read(0x20)).toBe(0n);
    expect(messages).toHaveLength(3);
  });

  it('saves and restores through JSON into an RTC that behaves identically', () => {
    const a = setup();
    a.host.ms = 7;
    a.setTime(1_000_000_000_000_000_000n);
    a.setAlarm(1_000_000_000_003_000_000n);
    a.read(TIME_LOW); // latch
    a.write(TIME_HIGH, 0x1234n); // a set-time half way through

    const b = setup(Date.UTC(1999, 0, 1)); // a different creation date must not matter
    b.host.ms = 500;
    b.clock.loadState(throughJson(a.clock.saveState()));
    b.rtc.loadState(throughJson(a.rtc.saveState()));
    expect(b.read(TIME_HIGH)).toBe(a.read(TIME_HIGH));
    expect(b.rtc.nextDeadline()).toBe(a.rtc.nextDeadline());
    for (const u of [a, b]) {
      u.host.ms += 3;
      u.rtc.update();
    }
    expect(b.irq.level).toBe(true);
    expect(a.irq.level).toBe(true);
    for (const u of [a, b]) u.write(TIME_LOW, 5n); // completes the pending TIME_HIGH write
    expect(b.readTime()).toBe((0x1234n << 32n) | 5n);
    expect(a.readTime()).toBe((0x1234n << 32n) | 5n);
    expect(() => b.rtc.loadState({ ...a.rtc.saveState(), v: 0 as 1 })).toThrow(/version/);
  });
});
