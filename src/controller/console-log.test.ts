// The console a VM keeps apart from its workers: output replayed to late terminals within the
// scrollback, notes in the host's voice, and typed input that reaches the guest in order.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ByteRing } from '../../workers/protocol/ring.ts';
import {
  ConsoleInput,
  ConsoleLog,
  SCROLLBACK_BYTES,
  isTerminalReport,
  withoutTerminalQueries,
  type ConsoleInputTarget,
} from './console-log.ts';

const text = (chunks: readonly Uint8Array[]): string => chunks.map((c) => new TextDecoder().decode(c)).join('');
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

afterEach(() => vi.useRealTimers());

describe('ConsoleLog', () => {
  it('replays what was printed to a terminal that attaches later, then delivers what follows', () => {
    const onOutput = vi.fn();
    const log = new ConsoleLog(onOutput);
    log.append(bytes('boot '));
    log.append(new Uint8Array(0));
    expect(onOutput).toHaveBeenCalledTimes(1);
    const seen: Uint8Array[] = [];
    const unsubscribe = log.subscribe((chunk) => seen.push(chunk));
    log.note('restored snapshot "one"');
    unsubscribe();
    log.append(bytes('after'));
    expect(text(seen)).toBe('boot \r\n\x1b[2m[tabvm] restored snapshot "one"\x1b[0m\r\n');
  });

  it('keeps at most SCROLLBACK_BYTES, dropping the oldest chunks, and nothing once cleared', () => {
    const log = new ConsoleLog();
    const chunk = new Uint8Array(SCROLLBACK_BYTES / 4);
    for (let i = 0; i < 6; i++) log.append(chunk.slice().fill(i));
    const kept: Uint8Array[] = [];
    log.subscribe((c) => kept.push(c));
    expect(kept.map((c) => c[0])).toEqual([2, 3, 4, 5]);
    log.clear();
    const after: Uint8Array[] = [];
    log.subscribe((c) => after.push(c));
    expect(after).toEqual([]);
  });

  it('hands what it keeps to another log, which resets its terminals and shows it instead of its own', () => {
    const source = new ConsoleLog();
    source.append(bytes('# echo one\r\none\r\n'));
    source.append(bytes('# '));
    const target = new ConsoleLog();
    target.append(bytes('old output'));
    const seen: Uint8Array[] = [];
    target.subscribe((chunk) => seen.push(chunk));
    target.replace(source.kept());
    expect(text(seen)).toBe('old output\x1bc# echo one\r\none\r\n# ');
    const late: Uint8Array[] = [];
    target.subscribe((chunk) => late.push(chunk));
    expect(text(late)).toBe('\x1bc# echo one\r\none\r\n# ');
  });
});

describe('ConsoleLog.lastLine', () => {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  const bytes = (s: string) => new TextEncoder().encode(s);

  it('is what follows the last line feed, across chunks, capped at its most recent bytes', () => {
    const log = new ConsoleLog();
    expect(text(log.lastLine())).toBe('');
    log.append(bytes('boot\r\nmore\r\n~ '));
    log.append(bytes('# '));
    log.append(bytes('ech'));
    expect(text(log.lastLine())).toBe('~ # ech');
    expect(text(log.lastLine(4))).toBe(' ech');
    log.append(bytes('o\r\n'));
    expect(text(log.lastLine())).toBe('');
    log.note('restored');
    expect(text(log.lastLine())).toBe('');
  });
});

describe('terminal queries', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  it('are left out of a line shown again, and their answers are told from typing', () => {
    expect(new TextDecoder().decode(withoutTerminalQueries(bytes('\x1b[6n~ # \x1b[c')))).toBe('~ # ');
    const plain = bytes('~ # ls');
    expect(withoutTerminalQueries(plain)).toBe(plain);
    expect(isTerminalReport(bytes('\x1b[24;5R'))).toBe(true);
    expect(isTerminalReport(bytes('\x1b[?1;2c'))).toBe(true);
    expect(isTerminalReport(bytes('ls\r'))).toBe(false);
    expect(isTerminalReport(bytes('\x1b[A'))).toBe(false);
  });
});

describe('ConsoleInput', () => {
  it('writes to the console channel in order, retrying what did not fit', () => {
    vi.useFakeTimers();
    const ring = ByteRing.create(8, false);
    const target: ConsoleInputTarget = { alive: true, channels: { console: { write: (chunk) => ring.write(chunk) } } };
    const input = new ConsoleInput(() => target);
    input.send(bytes('0123456789'));
    input.send(bytes('ab'));
    expect(text([ring.read()])).toBe('01234567');
    vi.advanceTimersByTime(20);
    expect(text([ring.read()])).toBe('89ab');
  });

  it('drops everything for a worker that is gone', () => {
    const sent: string[] = [];
    let alive = true;
    const target = (): ConsoleInputTarget => ({
      alive,
      channels: { console: { write: (chunk) => (sent.push(text([chunk])), chunk.length) } },
    });
    const input = new ConsoleInput(target);
    input.send(bytes('ls'));
    input.send(bytes('\r'));
    expect(sent).toEqual(['ls', '\r']);
    alive = false;
    input.send(bytes('lost'));
    expect(sent).toEqual(['ls', '\r']);
  });
});
