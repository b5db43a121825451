import { describe, expect, it } from 'vitest';
import { FakeHostTime, throughJson } from '../devices/test-support.ts';
import { CLOCK_EPOCH_BYTES, GuestClock, hostEpochNow } from './clock.ts';

// 10 MHz: one host millisecond is 10 000 ticks (written out, not derived from the constant under test).
const TICKS_PER_MS = 10_000n;

function runningClock(): { host: FakeHostTime; clock: GuestClock } {
  const host = new FakeHostTime();
  host.ms = 5_000; // host time does not start at zero
  const clock = new GuestClock(host.now);
  clock.resume();
  return { host, clock };
}

describe('GuestClock', () => {
  it('starts paused at tick 0', () => {
    const host = new FakeHostTime();
    const clock = new GuestClock(host.now);
    host.ms = 100;
    expect(clock.running).toBe(false);
    expect(clock.ticks()).toBe(0n);
  });

  it('follows host time at 10 MHz while running', () => {
    const { host, clock } = runningClock();
    expect(clock.ticks()).toBe(0n);
    host.ms += 1;
    expect(clock.ticks()).toBe(TICKS_PER_MS);
    host.ms += 0.25;
    expect(clock.ticks()).toBe(12_500n);
    host.ms += 60_000;
    expect(clock.ticks()).toBe(60_001n * TICKS_PER_MS + 2_500n);
  });

  it('stands still while paused and continues where it stopped', () => {
    const { host, clock } = runningClock();
    host.ms += 3;
    clock.pause();
    expect(clock.running).toBe(false);
    host.ms += 1_000; // host time spent paused is invisible to the guest
    expect(clock.ticks()).toBe(3n * TICKS_PER_MS);
    clock.resume();
    clock.resume(); // idempotent: must not reset the base
    host.ms += 2;
    expect(clock.ticks()).toBe(5n * TICKS_PER_MS);
    clock.pause();
    clock.pause();
    expect(clock.ticks()).toBe(5n * TICKS_PER_MS);
  });

  it('never goes backwards when the host clock does', () => {
    const { host, clock } = runningClock();
    host.ms += 10;
    expect(clock.ticks()).toBe(10n * TICKS_PER_MS);
    host.ms -= 4;
    expect(clock.ticks()).toBe(10n * TICKS_PER_MS);
    host.ms += 5;
    expect(clock.ticks()).toBe(11n * TICKS_PER_MS);
  });

  it('setTicks sets the time, backwards too, and time continues from there', () => {
    const { host, clock } = runningClock();
    host.ms += 10;
    clock.setTicks(123n);
    expect(clock.ticks()).toBe(123n);
    host.ms += 1;
    expect(clock.ticks()).toBe(123n + TICKS_PER_MS);
    clock.pause();
    clock.setTicks(7n);
    host.ms += 1;
    expect(clock.ticks()).toBe(7n);
  });

  it('msUntil rounds up, is 0 for the past and Infinity while paused', () => {
    const { host, clock } = runningClock();
    expect(clock.msUntil(0n)).toBe(0);
    expect(clock.msUntil(TICKS_PER_MS)).toBe(1);
    expect(clock.msUntil(TICKS_PER_MS + 1n)).toBe(2);
    host.ms += 0.5;
    expect(clock.msUntil(TICKS_PER_MS)).toBe(1);
    host.ms += 0.5;
    expect(clock.msUntil(TICKS_PER_MS)).toBe(0);
    clock.pause();
    expect(clock.msUntil(TICKS_PER_MS * 2n)).toBe(Infinity);
    expect(clock.msUntil(TICKS_PER_MS)).toBe(0);
  });

  it('saves and restores guest time through JSON', () => {
    const { host, clock } = runningClock();
    host.ms += 42;
    const saved = throughJson(clock.saveState());
    const other = new GuestClock(host.now);
    other.loadState(saved);
    expect(other.ticks()).toBe(42n * TICKS_PER_MS);
    other.resume();
    host.ms += 1;
    expect(other.ticks()).toBe(43n * TICKS_PER_MS);
    expect(() => other.loadState({ ...saved, v: 2 as 1 })).toThrow(/version/);
  });

  it('works with the default host clock', () => {
    const clock = new GuestClock();
    clock.resume();
    expect(clock.ticks()).toBeGreaterThanOrEqual(0n);
  });

  describe('over a shared epoch (the device host and each hart in its own thread)', () => {
    function pair(): { host: FakeHostTime; writer: GuestClock; reader: GuestClock } {
      const host = new FakeHostTime();
      host.ms = 5_000;
      const epoch = { buffer: new SharedArrayBuffer(8 + CLOCK_EPOCH_BYTES), byteOffset: 8 };
      return { host, writer: new GuestClock(host.now, epoch), reader: new GuestClock(host.now, epoch) };
    }

    it('every clock over the epoch follows the one that pauses, resumes and sets it', () => {
      const { host, writer, reader } = pair();
      expect(reader.running).toBe(false);
      writer.resume();
      expect(reader.running).toBe(true);
      host.ms += 3;
      expect(reader.ticks()).toBe(3n * TICKS_PER_MS);
      writer.pause();
      host.ms += 100;
      expect(reader.ticks()).toBe(3n * TICKS_PER_MS);
      expect(reader.msUntil(4n * TICKS_PER_MS)).toBe(Infinity);
      writer.resume();
      host.ms += 1;
      expect(reader.ticks()).toBe(writer.ticks());
      expect(reader.ticks()).toBe(4n * TICKS_PER_MS);
    });

    it('a reader follows a set backwards, although its own floor was higher', () => {
      const { host, writer, reader } = pair();
      writer.resume();
      host.ms += 50;
      expect(reader.ticks()).toBe(50n * TICKS_PER_MS);
      writer.setTicks(9n);
      expect(reader.ticks()).toBe(9n);
      host.ms += 1;
      expect(reader.ticks()).toBe(9n + TICKS_PER_MS);
    });

    it('hostEpochNow counts from the process-wide time origin', () => {
      const before = Date.now();
      const now = hostEpochNow();
      expect(Math.abs(now - before)).toBeLessThan(1_000);
    });
  });
});
