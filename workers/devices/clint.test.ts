import { describe, expect, it } from 'vitest';
import { Bus } from '../bus/bus.ts';
import { GuestErrorLog } from '../bus/guest-log.ts';
import { GuestClock } from '../machine/clock.ts';
import { Clint, type ClintHartLines } from './clint.ts';
import { FakeHostTime, RecordingIrqLine, throughJson } from './test-support.ts';

const MSIP = (hart: number): number => 4 * hart;
const MTIMECMP = (hart: number): number => 0x4000 + 8 * hart;
const MTIME = 0xbff8;
const ALL_ONES = 0xffff_ffff_ffff_ffffn;

interface Lines {
  msip: RecordingIrqLine;
  mtip: RecordingIrqLine;
}

function setup(harts = 2): { host: FakeHostTime; clock: GuestClock; clint: Clint; lines: Lines[]; messages: string[] } {
  const host = new FakeHostTime();
  const clock = new GuestClock(host.now);
  clock.resume();
  const lines = Array.from({ length: harts }, () => ({ msip: new RecordingIrqLine(), mtip: new RecordingIrqLine() }));
  const messages: string[] = [];
  const clint = new Clint(clock, lines satisfies ClintHartLines[], new GuestErrorLog((m) => messages.push(m)));
  return { host, clock, clint, lines, messages };
}

describe('CLINT', () => {
  it('resets with mtimecmp all ones, no timer and no software interrupt', () => {
    const { clint, lines, host } = setup();
    expect(clint.read(MTIMECMP(0), 8)).toBe(ALL_ONES);
    expect(clint.read(MTIMECMP(1), 4)).toBe(0xffff_ffffn);
    expect(clint.read(MTIMECMP(1) + 4, 4)).toBe(0xffff_ffffn);
    expect(clint.read(MSIP(0), 4)).toBe(0n);
    host.ms += 1e9;
    clint.update();
    for (const l of lines) {
      expect(l.mtip.level).toBe(false);
      expect(l.msip.level).toBe(false);
    }
  });

  it("msip bit 0 drives the hart's MSIP line; other bits read as 0", () => {
    const { clint, lines } = setup();
    clint.write(MSIP(1), 0xffff_ffffn, 4);
    expect(lines[1]!.msip.level).toBe(true);
    expect(lines[0]!.msip.level).toBe(false);
    expect(clint.read(MSIP(1), 4)).toBe(1n);
    clint.write(MSIP(1), 0xffff_fffen, 4);
    expect(lines[1]!.msip.level).toBe(false);
    expect(clint.read(MSIP(1), 4)).toBe(0n);
  });

  it('mtime reads guest time, whole or in halves', () => {
    const { clint, clock, host } = setup();
    host.ms = 3;
    expect(clint.read(MTIME, 8)).toBe(30_000n);
    clock.setTicks(0x1_2345_6789n);
    expect(clint.read(MTIME, 4)).toBe(0x2345_6789n);
    expect(clint.read(MTIME + 4, 4)).toBe(1n);
  });

  it('raises MTIP exactly when mtime reaches mtimecmp, as a level', () => {
    const { clint, lines, host } = setup();
    clint.write(MTIMECMP(0), 25_000n, 8); // 2.5 ms
    expect(lines[0]!.mtip.level).toBe(false);
    host.ms = 2.4999;
    clint.update();
    expect(lines[0]!.mtip.level).toBe(false);
    host.ms = 2.5;
    clint.update();
    expect(lines[0]!.mtip.level).toBe(true);
    expect(lines[1]!.mtip.level).toBe(false);
    // Still a level: it stays up while mtime >= mtimecmp, and writing a later compare lowers it.
    host.ms = 3;
    clint.update();
    expect(lines[0]!.mtip.level).toBe(true);
    clint.write(MTIMECMP(0), 40_000n, 8);
    expect(lines[0]!.mtip.level).toBe(false);
    // A compare already in the past raises it at once, without waiting for update().
    clint.write(MTIMECMP(0), 100n, 8);
    expect(lines[0]!.mtip.level).toBe(true);
  });

  it('only calls the line when the level changes', () => {
    const { clint, lines, host } = setup();
    const before = lines[0]!.mtip.history.length;
    clint.write(MTIMECMP(0), 10_000n, 8);
    for (let i = 0; i < 5; i++) {
      host.ms += 0.5;
      clint.update();
    }
    expect(lines[0]!.mtip.history.slice(before)).toEqual([true]);
  });

  it('writes mtimecmp in 32-bit halves', () => {
    const { clint } = setup();
    clint.write(MTIMECMP(1), 0x0000_0002n, 4);
    expect(clint.read(MTIMECMP(1), 8)).toBe(0xffff_ffff_0000_0002n);
    clint.write(MTIMECMP(1) + 4, 0x0000_0001n, 4);
    expect(clint.read(MTIMECMP(1), 8)).toBe(0x1_0000_0002n);
  });

  it('a write to mtime sets guest time and re-evaluates the timers', () => {
    const { clint, clock, lines, host } = setup();
    clint.write(MTIMECMP(1), 1_000_000n, 8);
    clint.write(MTIME, 999_999n, 8);
    expect(clock.ticks()).toBe(999_999n);
    expect(lines[1]!.mtip.level).toBe(false);
    clint.write(MTIME, 2_000_000n, 4); // low half
    expect(clock.ticks()).toBe(2_000_000n);
    expect(lines[1]!.mtip.level).toBe(true);
    clint.write(MTIME + 4, 0n, 4); // high half
    clint.write(MTIME, 5n, 4);
    expect(lines[1]!.mtip.level).toBe(false);
    host.ms += 1;
    expect(clint.read(MTIME, 8)).toBe(10_005n);
  });

  it('nextDeadline is the earliest future mtimecmp, ignoring fired and disarmed timers', () => {
    const { clint, host } = setup(3);
    expect(clint.nextDeadline()).toBeNull();
    clint.write(MTIMECMP(0), 50_000n, 8);
    clint.write(MTIMECMP(2), 30_000n, 8);
    expect(clint.nextDeadline()).toBe(30_000n);
    host.ms = 3;
    expect(clint.nextDeadline()).toBe(50_000n);
    host.ms = 5;
    expect(clint.nextDeadline()).toBeNull();
  });

  it('logs and ignores accesses to absent harts and reserved offsets', () => {
    const { clint, messages } = setup(1);
    expect(clint.read(MSIP(1), 4)).toBe(0n);
    clint.write(MTIMECMP(1), 5n, 8);
    expect(clint.read(MTIMECMP(1), 8)).toBe(0n);
    expect(clint.read(0xc000, 4)).toBe(0n);
    clint.write(MSIP(0), 1n, 8);
    expect(clint.read(MSIP(0), 4)).toBe(0n);
    expect(messages.length).toBeGreaterThanOrEqual(4);
  });

  it('accepts only 4- and 8-byte accesses on the bus', () => {
    const { clint, clock } = setup(1);
    const bus = new Bus(new GuestErrorLog(() => {}));
    bus.map('clint', 0x0200_0000, 0x1_0000, clint);
    clock.setTicks(0x1234n);
    expect(bus.read(0x0200_bff8, 8)).toBe(0x1234n);
    expect(bus.read(0x0200_bff8, 2)).toBe(0n);
  });

  it('saves and restores through JSON into a CLINT that behaves identically', () => {
    const a = setup(2);
    a.clint.write(MSIP(1), 1n, 4);
    a.clint.write(MTIMECMP(0), 70_000n, 8);
    a.clint.write(MTIMECMP(1), 20_000n, 8);
    a.host.ms = 4; // hart 1's timer has fired, hart 0's has not
    a.clint.update();
    const saved = throughJson(a.clint.saveState());

    const b = setup(2);
    b.host.ms = 1000; // a different host time base must not matter
    b.clock.loadState(throughJson(a.clock.saveState()));
    b.clint.loadState(saved);
    expect(b.lines.map((l) => [l.msip.level, l.mtip.level])).toEqual([
      [false, false],
      [true, true],
    ]);
    for (const offset of [MSIP(0), MSIP(1), MTIMECMP(0), MTIMECMP(1)]) {
      expect(b.clint.read(offset, offset >= 0x4000 ? 8 : 4)).toBe(a.clint.read(offset, offset >= 0x4000 ? 8 : 4));
    }
    expect(b.clint.nextDeadline()).toBe(a.clint.nextDeadline());
    a.host.ms += 3;
    b.host.ms += 3;
    a.clint.update();
    b.clint.update();
    expect(b.lines[0]!.mtip.level).toBe(true);
    expect(a.lines[0]!.mtip.level).toBe(true);
  });

  it('refuses a state from another version or hart count', () => {
    const { clint } = setup(2);
    const saved = clint.saveState();
    expect(() => setup(1).clint.loadState(saved)).toThrow(/harts/);
    expect(() => setup(2).clint.loadState({ ...saved, v: 3 as 1 })).toThrow(/version/);
  });
});
