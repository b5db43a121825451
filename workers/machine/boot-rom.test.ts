import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BOOT_ROM_LAYOUT,
  CSR_MHARTID,
  REG,
  buildBootRom,
  encodeAddi,
  encodeAuipc,
  encodeCsrrs,
  encodeJalr,
  encodeLd,
} from './boot-rom.ts';
import { MEMORY_MAP } from './memory-map.ts';

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
const HAS_OBJDUMP = hasTool('riscv64-linux-gnu-objdump');
const HAS_AS = hasTool('riscv64-linux-gnu-as') && hasTool('riscv64-linux-gnu-objcopy');

const workDir = mkdtempSync(join(tmpdir(), 'tabvm-rom-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const config = {
  fdtAddress: 0x8fe0_0000,
  firmwareEntry: 0x8000_0000,
  nextAddress: 0x8020_0000,
  nextMode: 'S',
  bootHart: 0,
} as const;

function words(bytes: Uint8Array, count: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return Array.from({ length: count }, (_, i) => view.getUint32(i * 4, true));
}

function u64(bytes: Uint8Array, at: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true);
}

describe('instruction encoders', () => {
  // Encodings worked out by hand from the unprivileged spec's instruction formats.
  it('encode the reset vector instructions', () => {
    expect(encodeAuipc(REG.t0, 0)).toBe(0x0000_0297); // auipc t0,0
    expect(encodeAddi(REG.a2, REG.t0, 40)).toBe(0x0282_8613); // addi a2,t0,40
    expect(encodeCsrrs(REG.a0, CSR_MHARTID, REG.zero)).toBe(0xf140_2573); // csrr a0,mhartid
    expect(encodeLd(REG.a1, REG.t0, 32)).toBe(0x0202_b583); // ld a1,32(t0)
    expect(encodeLd(REG.t0, REG.t0, 24)).toBe(0x0182_b283); // ld t0,24(t0)
    expect(encodeJalr(REG.zero, REG.t0, 0)).toBe(0x0002_8067); // jr t0
  });

  it('sign-extend negative immediates and refuse ones that do not fit', () => {
    expect(encodeAddi(1, 2, -1)).toBe(0xfff1_0093); // addi ra,sp,-1
    expect(encodeAuipc(REG.t0, -1)).toBe(0xffff_f297); // auipc t0,0xfffff
    expect(encodeLd(REG.a1, REG.t0, -2048)).toBe(0x8002_b583); // ld a1,-2048(t0)
    expect(() => encodeAddi(1, 2, 2048)).toThrow(/12-bit/);
    expect(() => encodeAddi(1, 2, -2049)).toThrow(/12-bit/);
    expect(() => encodeAddi(32, 2, 0)).toThrow(/register/);
    expect(() => encodeCsrrs(1, 0x1000, 0)).toThrow(/CSR/);
  });

  describe.skipIf(!HAS_AS)('against GNU as', () => {
    it('produce the bytes the assembler produces', () => {
      const source = join(workDir, 'encoders.s');
      writeFileSync(
        source,
        [
          'auipc t0, 0',
          'addi a2, t0, 40',
          'csrr a0, mhartid',
          'ld a1, 32(t0)',
          'ld t0, 24(t0)',
          'jr t0',
          'addi ra, sp, -2048',
          'auipc a1, 0x12345',
          'ld a2, 2047(a0)',
          'jalr ra, -4(a2)',
          'csrrs t0, mstatus, a1',
          '',
        ].join('\n'),
      );
      const object = join(workDir, 'encoders.o');
      const raw = join(workDir, 'encoders.bin');
      execFileSync('riscv64-linux-gnu-as', ['-march=rv64i_zicsr', '-o', object, source]);
      execFileSync('riscv64-linux-gnu-objcopy', ['-O', 'binary', '-j', '.text', object, raw]);
      const expected = words(new Uint8Array(readFileSync(raw)), 11);
      expect([
        encodeAuipc(REG.t0, 0),
        encodeAddi(REG.a2, REG.t0, 40),
        encodeCsrrs(REG.a0, CSR_MHARTID, REG.zero),
        encodeLd(REG.a1, REG.t0, 32),
        encodeLd(REG.t0, REG.t0, 24),
        encodeJalr(REG.zero, REG.t0, 0),
        encodeAddi(REG.ra, REG.sp, -2048),
        encodeAuipc(REG.a1, 0x12345),
        encodeLd(REG.a2, REG.a0, 2047),
        encodeJalr(REG.ra, REG.a2, -4),
        encodeCsrrs(REG.t0, 0x300, REG.a1),
      ]).toEqual(expected);
    });
  });
});

describe('buildBootRom', () => {
  const rom = buildBootRom(config);

  it('fills the ROM region', () => {
    expect(rom.length).toBe(MEMORY_MAP.bootRom.size);
    expect(rom.subarray(BOOT_ROM_LAYOUT.info + BOOT_ROM_LAYOUT.infoSize).every((byte) => byte === 0)).toBe(
      true,
    );
  });

  it('starts with the fw_dynamic reset sequence', () => {
    expect(words(rom, 6)).toEqual([
      0x0000_0297, // auipc t0,0
      0x0282_8613, // addi a2,t0,40
      0xf140_2573, // csrr a0,mhartid
      0x0202_b583, // ld a1,32(t0)
      0x0182_b283, // ld t0,24(t0)
      0x0002_8067, // jr t0
    ]);
  });

  it('holds the entry, the FDT address and struct fw_dynamic_info', () => {
    expect(u64(rom, 24)).toBe(0x8000_0000n);
    expect(u64(rom, 32)).toBe(0x8fe0_0000n);
    // The magic reads "OSBI" in memory order.
    expect(String.fromCharCode(...rom.subarray(40, 44))).toBe('OSBI');
    expect(u64(rom, 40)).toBe(0x4942_534fn); // magic
    expect(u64(rom, 48)).toBe(2n); // version
    expect(u64(rom, 56)).toBe(0x8020_0000n); // next_addr
    expect(u64(rom, 64)).toBe(1n); // next_mode: S
    expect(u64(rom, 72)).toBe(0n); // options
    expect(u64(rom, 80)).toBe(0n); // boot_hart
  });

  it('encodes the other modes, -1 as "no preferred boot hart", and addresses above 4 GiB', () => {
    const other = buildBootRom({
      ...config,
      nextMode: 'M',
      bootHart: -1,
      fdtAddress: 0x1_7fe0_0000,
      nextAddress: 0,
    });
    expect(u64(other, 64)).toBe(3n);
    expect(u64(other, 80)).toBe(0xffff_ffff_ffff_ffffn);
    expect(u64(other, 32)).toBe(0x1_7fe0_0000n);
    expect(u64(other, 56)).toBe(0n);
    expect(u64(buildBootRom({ ...config, nextMode: 'U' }), 64)).toBe(0n);
    expect(() => buildBootRom({ ...config, fdtAddress: 0.5 })).toThrow(/fdtAddress/);
  });

  describe.skipIf(!HAS_OBJDUMP)('disassembled by objdump', () => {
    it('is the instruction sequence, and its loads point at the data words', () => {
      const file = join(workDir, 'rom.bin');
      writeFileSync(file, rom.subarray(0, 24));
      const listing = execFileSync(
        'riscv64-linux-gnu-objdump',
        [
          '-D',
          '-b',
          'binary',
          '-m',
          'riscv:rv64',
          '-M',
          'no-aliases',
          `--adjust-vma=${MEMORY_MAP.bootRom.base}`,
          file,
        ],
        { encoding: 'utf8' },
      );
      const instructions = [...listing.matchAll(/^\s*[0-9a-f]+:\s+[0-9a-f]+\s+(\S+)\s*(\S*)/gm)].map(
        (match) => `${match[1]} ${match[2]}`.trim(),
      );
      expect(instructions).toEqual([
        'auipc t0,0x0',
        'addi a2,t0,40',
        'csrrs a0,mhartid,zero',
        'ld a1,32(t0)',
        'ld t0,24(t0)',
        'jalr zero,0(t0)',
      ]);
      // t0 = the ROM base (auipc t0,0 at the first byte), so each load/addi offset is a ROM offset.
      const offset = (text: string | undefined): number => Number(/,(-?\d+)/.exec(text ?? '')?.[1]);
      expect(u64(rom, offset(instructions[3]))).toBe(BigInt(config.fdtAddress));
      expect(u64(rom, offset(instructions[4]))).toBe(BigInt(config.firmwareEntry));
      expect(u64(rom, offset(instructions[1]))).toBe(0x4942_534fn);
    });
  });
});
