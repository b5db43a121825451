import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isElf, parseElf } from './elf.ts';
import { makeElf } from './elf-fixture.ts';
import { ImageError } from './image-error.ts';

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
const HAS_GCC = hasTool('riscv64-linux-gnu-gcc') && hasTool('riscv64-linux-gnu-readelf');

const workDir = mkdtempSync(join(tmpdir(), 'tabvm-elf-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const sample = (): Uint8Array =>
  makeElf({
    entry: 0x8000_0010n,
    segments: [
      { vaddr: 0x8000_0000n, paddr: 0x8000_0000n, data: [0x13, 0, 0, 0, 0x6f, 0, 0, 0], memsz: 8, flags: 5 },
      { vaddr: 0n, paddr: 0n, data: [], memsz: 0, flags: 4, type: 4 }, // PT_NOTE: skipped
      { vaddr: 0x8000_1000n, paddr: 0x8000_1000n, data: [1, 2, 3], memsz: 0x100, flags: 6 },
    ],
    symbols: [
      { name: 'tohost', value: 0x8000_1000n, size: 8n, bind: 1 },
      { name: 'fromhost', value: 0x8000_1040n, size: 8n, bind: 1 },
      { name: 'dup', value: 1n, size: 0n, bind: 0 },
      { name: 'dup', value: 2n, size: 0n, bind: 1 },
    ],
  });

function imageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ImageError);
    const message = (error as ImageError).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected an ImageError');
}

describe('parseElf', () => {
  it('reads the entry and only the PT_LOAD segments', () => {
    const elf = parseElf(sample());
    expect(elf.entry).toBe(0x8000_0010n);
    expect(elf.type).toBe(2);
    expect(elf.flags).toBe(5);
    expect(
      elf.segments.map(({ vaddr, paddr, filesz, memsz, flags }) => ({ vaddr, paddr, filesz, memsz, flags })),
    ).toEqual([
      { vaddr: 0x8000_0000n, paddr: 0x8000_0000n, filesz: 8, memsz: 8, flags: 5 },
      { vaddr: 0x8000_1000n, paddr: 0x8000_1000n, filesz: 3, memsz: 0x100, flags: 6 },
    ]);
    expect([...(elf.segments[0]?.data ?? [])]).toEqual([0x13, 0, 0, 0, 0x6f, 0, 0, 0]);
    expect([...(elf.segments[1]?.data ?? [])]).toEqual([1, 2, 3]);
  });

  it('finds symbols by name, a global over a local of the same name', () => {
    const elf = parseElf(sample());
    expect(elf.findSymbol('tohost')?.value).toBe(0x8000_1000n);
    expect(elf.findSymbol('fromhost')).toMatchObject({ value: 0x8000_1040n, size: 8n, bind: 1, type: 1 });
    expect(elf.findSymbol('dup')?.value).toBe(2n);
    expect(elf.findSymbol('missing')).toBeUndefined();
    const stripped = makeElf({
      segments: [{ vaddr: 0x8000_0000n, paddr: 0x8000_0000n, data: [0], memsz: 1, flags: 5 }],
    });
    expect(parseElf(stripped).findSymbol('tohost')).toBeUndefined();
  });

  it('keeps addresses above 2^53 exact', () => {
    const elf = parseElf(
      makeElf({
        entry: 0xffff_ffff_8000_0000n,
        segments: [{ vaddr: 0xffff_ffff_8000_0000n, paddr: 0x8020_0000n, data: [0], memsz: 1, flags: 5 }],
      }),
    );
    expect(elf.entry).toBe(0xffff_ffff_8000_0000n);
    expect(elf.segments[0]?.vaddr).toBe(0xffff_ffff_8000_0000n);
    expect(elf.segments[0]?.paddr).toBe(0x8020_0000n);
  });

  it('says in one line what is wrong with a file it cannot use', () => {
    const good = sample();
    expect(imageError(() => parseElf(new TextEncoder().encode('#!/bin/sh\necho hi\n'), 'kernel'))).toBe(
      'kernel: not an ELF file (no \\x7fELF magic)',
    );
    const elf32 = good.slice();
    elf32[4] = 1;
    expect(imageError(() => parseElf(elf32))).toMatch(/32-bit ELF/);
    const bigEndian = good.slice();
    bigEndian[5] = 2;
    expect(imageError(() => parseElf(bigEndian))).toMatch(/big-endian/);
    const x86 = makeElf({
      machine: 62,
      segments: [{ vaddr: 0x40_0000n, paddr: 0x40_0000n, data: [0xc3], memsz: 1, flags: 5 }],
    });
    expect(imageError(() => parseElf(x86, 'bios'))).toBe('bios: ELF for x86-64 (e_machine 62), not RISC-V');
    expect(imageError(() => parseElf(makeElf({ machine: 9999, segments: [] })))).toMatch(/machine 9999/);
    expect(imageError(() => parseElf(good.subarray(0, 40)))).toMatch(/truncated/);
    expect(imageError(() => parseElf(good.subarray(0, 100)))).toMatch(/truncated/);
    // Cut inside the second segment's bytes.
    const lastData = good.indexOf(3, 64 + 3 * 56);
    expect(imageError(() => parseElf(good.subarray(0, lastData)))).toMatch(/truncated ELF: segment 2/);
    const relocatable = makeElf({ type: 1, segments: [] });
    expect(imageError(() => parseElf(relocatable))).toMatch(/relocatable object/);
    expect(imageError(() => parseElf(makeElf({ segments: [] })))).toMatch(/no PT_LOAD/);
  });

  it('recognizes the magic', () => {
    expect(isElf(sample())).toBe(true);
    expect(isElf(new Uint8Array([0x7f, 0x45, 0x4c]))).toBe(false);
  });

  it('names the machine of the host’s own executable', () => {
    const host = new Uint8Array(readFileSync(process.execPath));
    expect(imageError(() => parseElf(host))).toMatch(/ELF for .+, not RISC-V/);
  });
});

/** `readelf` facts about a file: entry, LOAD segments and one symbol's value. */
function readelf(
  file: string,
  symbol: string,
): { entry: bigint; loads: bigint[][]; symbol: bigint | undefined } {
  const text = execFileSync('riscv64-linux-gnu-readelf', ['-h', '-l', '-s', '--wide', file], {
    encoding: 'utf8',
  });
  const entry = BigInt(/Entry point address:\s+(0x[0-9a-f]+)/.exec(text)?.[1] ?? 'x');
  const loads = [...text.matchAll(/^\s+LOAD\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)\s+(0x\S+)/gm)].map(
    (match) => match.slice(2, 6).map((value) => BigInt(value)),
  );
  const symbolLine = text
    .split('\n')
    .find((line) => line.trim().endsWith(` ${symbol}`) && /GLOBAL|LOCAL/.test(line));
  const value = symbolLine?.trim().split(/\s+/)[1];
  return { entry, loads, symbol: value === undefined ? undefined : BigInt(`0x${value}`) };
}

describe.skipIf(!HAS_GCC)('with a program built by riscv64-linux-gnu-gcc', () => {
  it('agrees with readelf on entry, segments and the tohost symbol', () => {
    const source = join(workDir, 'prog.c');
    writeFileSync(
      source,
      [
        'volatile unsigned long tohost __attribute__((section(".tohost"))) = 0;',
        'volatile unsigned long fromhost __attribute__((section(".tohost"))) = 0;',
        'static unsigned char scratch[8192];',
        'void _start(void) { scratch[100] = 1; tohost = scratch[100]; for (;;) {} }',
        '',
      ].join('\n'),
    );
    const program = join(workDir, 'prog.elf');
    execFileSync('riscv64-linux-gnu-gcc', [
      '-nostdlib',
      '-static',
      '-O1',
      '-march=rv64gc',
      '-mabi=lp64d',
      '-mcmodel=medany',
      '-Wl,-Ttext=0x80000000',
      '-Wl,--no-relax',
      '-o',
      program,
      source,
    ]);
    const facts = readelf(program, 'tohost');
    const elf = parseElf(new Uint8Array(readFileSync(program)));
    expect(elf.entry).toBe(facts.entry);
    expect(facts.loads.length).toBeGreaterThan(0);
    expect(elf.segments.map((s) => [s.vaddr, s.paddr, BigInt(s.filesz), BigInt(s.memsz)])).toEqual(
      facts.loads,
    );
    expect(facts.symbol).toBeDefined();
    expect(elf.findSymbol('tohost')?.value).toBe(facts.symbol);
    expect(elf.findSymbol('fromhost')?.value).toBe(readelf(program, 'fromhost').symbol);
  });

  const opensbi = '/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.elf';
  it.runIf(existsSync(opensbi))('reads Debian’s OpenSBI fw_dynamic.elf as readelf does', () => {
    const facts = readelf(opensbi, '_fw_start');
    const elf = parseElf(new Uint8Array(readFileSync(opensbi)));
    expect(elf.entry).toBe(facts.entry);
    expect(elf.segments.map((s) => [s.vaddr, s.paddr, BigInt(s.filesz), BigInt(s.memsz)])).toEqual(
      facts.loads,
    );
  });
});
