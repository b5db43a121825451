import { describe, expect, it } from 'vitest';
import { GuestErrorLog } from '../bus/guest-log.ts';
import { MEMORY_MAP, PLIC_NUM_SOURCES } from '../machine/memory-map.ts';
import { Plic } from './plic.ts';
import { RecordingIrqLine, throughJson } from './test-support.ts';

// Offsets written out from the PLIC spec's memory map, independently of the constants in plic.ts.
const PRIORITY = (source: number): number => 4 * source;
const PENDING = (word: number): number => 0x1000 + 4 * word;
const ENABLE = (context: number, word: number): number => 0x2000 + 0x80 * context + 4 * word;
const THRESHOLD = (context: number): number => 0x20_0000 + 0x1000 * context;
const CLAIM = (context: number): number => 0x20_0004 + 0x1000 * context;

/** QEMU virt's PLIC, from the board's table. */
const VIRT_PLIC = { sources: PLIC_NUM_SOURCES, regionSize: MEMORY_MAP.plic.size };

function setup(harts = 2) {
  const lines = Array.from({ length: harts }, () => ({ meip: new RecordingIrqLine(), seip: new RecordingIrqLine() }));
  const messages: string[] = [];
  const plic = new Plic(lines, VIRT_PLIC, new GuestErrorLog((m) => messages.push(m)));
  /** Context c's output: M mode of hart c/2 for even c, S mode for odd c. */
  const output = (context: number): boolean => {
    const hart = lines[context >> 1]!;
    return (context & 1 ? hart.seip : hart.meip).level;
  };
  const write = (offset: number, value: number): void => plic.write(offset, BigInt(value), 4);
  const read = (offset: number): number => Number(plic.read(offset, 4));
  const enable = (context: number, ...sources: number[]): void => {
    for (const s of sources) write(ENABLE(context, s >> 5), read(ENABLE(context, s >> 5)) | (1 << (s & 31)));
  };
  const disable = (context: number, source: number): void =>
    write(ENABLE(context, source >> 5), read(ENABLE(context, source >> 5)) & ~(1 << (source & 31)));
  const pending = (source: number): boolean => ((read(PENDING(source >> 5)) >>> (source & 31)) & 1) === 1;
  return { plic, lines, messages, output, write, read, enable, disable, pending };
}

describe('PLIC', () => {
  it('has WARL 3-bit priorities and a hardwired source 0', () => {
    const { write, read } = setup();
    write(PRIORITY(0), 5);
    expect(read(PRIORITY(0))).toBe(0);
    write(PRIORITY(10), 0xff);
    expect(read(PRIORITY(10))).toBe(7);
    write(PRIORITY(95), 3);
    expect(read(PRIORITY(95))).toBe(3);
  });

  it('latches a rising level as pending and raises the contexts that enable it above threshold', () => {
    const { plic, write, enable, pending, output } = setup();
    write(PRIORITY(10), 1);
    enable(1, 10); // hart 0, S mode
    plic.irqLine(10).set(true);
    expect(pending(10)).toBe(true);
    expect(output(1)).toBe(true);
    expect(output(0)).toBe(false); // hart 0 M mode did not enable it
    expect(output(2)).toBe(false);
    expect(output(3)).toBe(false);
  });

  it('maps contexts to harts in QEMU order: 2h = M mode (MEIP), 2h+1 = S mode (SEIP)', () => {
    const { plic, lines, write, enable } = setup();
    write(PRIORITY(3), 1);
    enable(2, 3);
    plic.irqLine(3).set(true);
    expect(lines[1]!.meip.level).toBe(true);
    expect([lines[0]!.meip.level, lines[0]!.seip.level, lines[1]!.seip.level]).toEqual([false, false, false]);
  });

  it('masks the output at or below the threshold', () => {
    const { plic, write, enable, output } = setup();
    write(PRIORITY(5), 3);
    enable(0, 5);
    write(THRESHOLD(0), 3);
    plic.irqLine(5).set(true);
    expect(output(0)).toBe(false);
    write(THRESHOLD(0), 2);
    expect(output(0)).toBe(true);
    write(THRESHOLD(0), 0xff); // WARL: 7 masks everything
    expect(output(0)).toBe(false);
  });

  it('never signals a source of priority 0', () => {
    const { plic, enable, output, read } = setup();
    enable(0, 7);
    plic.irqLine(7).set(true);
    expect(output(0)).toBe(false);
    expect(read(CLAIM(0))).toBe(0);
  });

  it('claims the highest priority first, the lowest ID among equals, and clears pending', () => {
    const { plic, write, read, enable, pending, output } = setup();
    for (const [source, priority] of [
      [40, 2],
      [33, 5],
      [70, 5],
      [2, 1],
    ] as const) {
      write(PRIORITY(source), priority);
      enable(1, source);
      plic.irqLine(source).set(true);
    }
    expect(read(CLAIM(1))).toBe(33);
    expect(pending(33)).toBe(false);
    expect(read(CLAIM(1))).toBe(70);
    expect(read(CLAIM(1))).toBe(40);
    expect(output(1)).toBe(true);
    expect(read(CLAIM(1))).toBe(2);
    expect(output(1)).toBe(false);
    expect(read(CLAIM(1))).toBe(0);
  });

  it('claims regardless of the threshold (spec: "not affected by the setting of the priority threshold")', () => {
    const { plic, write, read, enable, output } = setup();
    write(PRIORITY(9), 2);
    enable(0, 9);
    write(THRESHOLD(0), 5);
    plic.irqLine(9).set(true);
    expect(output(0)).toBe(false);
    expect(read(CLAIM(0))).toBe(9);
  });

  it('does not re-pend a claimed source until it is completed, then re-pends if its level is still high', () => {
    const { plic, write, read, enable, pending, output } = setup();
    write(PRIORITY(10), 1);
    enable(1, 10);
    const line = plic.irqLine(10);
    line.set(true);
    expect(read(CLAIM(1))).toBe(10);
    // The device drops and raises its level again while the handler runs: the gateway holds it.
    line.set(false);
    line.set(true);
    expect(pending(10)).toBe(false);
    expect(output(1)).toBe(false);
    write(CLAIM(1), 10);
    expect(pending(10)).toBe(true);
    expect(output(1)).toBe(true);
    expect(read(CLAIM(1))).toBe(10);
    line.set(false);
    write(CLAIM(1), 10);
    expect(pending(10)).toBe(false);
    expect(output(1)).toBe(false);
  });

  it('keeps a forwarded request pending when the level falls before the claim (no retraction)', () => {
    const { plic, write, read, enable, pending } = setup();
    write(PRIORITY(4), 1);
    enable(0, 4);
    plic.irqLine(4).set(true);
    plic.irqLine(4).set(false);
    expect(pending(4)).toBe(true);
    expect(read(CLAIM(0))).toBe(4);
  });

  it('ignores a completion for a source not enabled for that context', () => {
    const { plic, write, read, enable, disable, pending } = setup();
    write(PRIORITY(12), 1);
    enable(1, 12);
    const line = plic.irqLine(12);
    line.set(true);
    expect(read(CLAIM(1))).toBe(12);
    disable(1, 12);
    write(CLAIM(1), 12); // ignored: the gateway still waits for a completion
    line.set(false);
    line.set(true);
    expect(pending(12)).toBe(false);
    enable(3, 12);
    write(CLAIM(3), 12); // another context that enables it may complete it (no claim check)
    expect(pending(12)).toBe(true);
  });

  it('keeps enables per context, with the bit for source 0 hardwired to 0', () => {
    const { write, read } = setup();
    write(ENABLE(0, 0), 0xffff_ffff);
    write(ENABLE(3, 2), 0x8000_0001);
    expect(read(ENABLE(0, 0)) >>> 0).toBe(0xffff_fffe);
    expect(read(ENABLE(1, 0))).toBe(0);
    expect(read(ENABLE(3, 2)) >>> 0).toBe(0x8000_0001);
  });

  it('logs and ignores writes to the read-only pending bits and accesses to absent registers', () => {
    const { plic, write, read, messages, pending, enable } = setup(1);
    write(PRIORITY(6), 1);
    enable(0, 6);
    plic.irqLine(6).set(true);
    write(PENDING(0), 0);
    expect(pending(6)).toBe(true);
    expect(read(PENDING(3))).toBe(0); // beyond the 96 sources
    expect(read(ENABLE(2, 0))).toBe(0); // context 2 does not exist with one hart
    expect(read(THRESHOLD(2))).toBe(0);
    expect(read(THRESHOLD(0) + 8)).toBe(0);
    write(CLAIM(0), 200);
    expect(messages.length).toBeGreaterThanOrEqual(6);
  });

  it('refuses wires for sources that do not exist', () => {
    const { plic } = setup();
    expect(() => plic.irqLine(0)).toThrow(RangeError);
    expect(() => plic.irqLine(96)).toThrow(RangeError);
    expect(plic.irqLine(95)).toBe(plic.irqLine(95));
  });

  it('takes its number of sources and its region from the board', () => {
    const hart = { meip: new RecordingIrqLine(), seip: new RecordingIrqLine() };
    const small = new Plic([hart], { sources: 32, regionSize: MEMORY_MAP.plic.size });
    expect(() => small.irqLine(32)).toThrow(RangeError);
    expect(small.irqLine(31)).toBe(small.irqLine(31));
    // Two contexts need the region to reach past the second context's threshold and claim registers.
    expect(() => new Plic([hart], { sources: 32, regionSize: 0x20_1000 })).toThrow(/do not fit/);
    expect(new Plic([hart], { sources: 32, regionSize: 0x20_2000 })).toBeInstanceOf(Plic);
  });

  it('saves and restores through JSON into a PLIC that behaves identically', () => {
    const build = () => {
      const s = setup(2);
      const wires = [1, 10, 33, 64, 95].map((n) => s.plic.irqLine(n));
      return { ...s, wires };
    };
    const a = build();
    [1, 10, 33, 64, 95].forEach((source, i) => a.write(PRIORITY(source), 1 + i));
    a.enable(1, 1, 10, 33, 64);
    a.enable(2, 95, 10);
    a.write(THRESHOLD(2), 3);
    for (const w of a.wires) w.set(true);
    expect(a.read(CLAIM(1))).toBe(64); // claimed, level still high: awaits completion
    a.wires[0]!.set(false); // source 1 stays pending though its level fell

    const b = build();
    b.plic.loadState(throughJson(a.plic.saveState()));
    for (const context of [0, 1, 2, 3]) expect(b.output(context)).toBe(a.output(context));
    for (const word of [0, 1, 2]) expect(b.read(PENDING(word))).toBe(a.read(PENDING(word)));
    // The same future: completions, level changes and claims give the same answers on both.
    for (const p of [a, b]) {
      p.write(CLAIM(1), 64);
      p.wires[1]!.set(false);
    }
    const claims = (p: typeof a) => [p.read(CLAIM(1)), p.read(CLAIM(1)), p.read(CLAIM(2)), p.read(CLAIM(1))];
    const fromA = claims(a);
    expect(fromA).toEqual([64, 33, 95, 10]);
    expect(claims(b)).toEqual(fromA);
  });

  it('refuses a state for another number of contexts or version', () => {
    const saved = setup(2).plic.saveState();
    expect(() => setup(1).plic.loadState(saved)).toThrow(/contexts/);
    expect(() => setup(2).plic.loadState({ ...saved, v: 9 as 1 })).toThrow(/version/);
    expect(() => setup(2).plic.loadState({ ...saved, pending: [0] })).toThrow(/source/);
  });
});
