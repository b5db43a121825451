/**
 * The boot ROM at MEMORY_MAP.bootRom: what QEMU's `virt` reset vector does for OpenSBI's
 * fw_dynamic firmware. Every hart starts here (the reset PC is the ROM base) and runs:
 *
 *     auipc t0, 0              t0 = the ROM base
 *     addi  a2, t0, INFO       a2 = &struct fw_dynamic_info
 *     csrr  a0, mhartid        a0 = this hart's id
 *     ld    a1, FDT(t0)        a1 = the device tree's address
 *     ld    t0, ENTRY(t0)      t0 = the firmware's entry point
 *     jr    t0
 *
 * followed by the two 64-bit data words and `struct fw_dynamic_info` (OpenSBI
 * include/sbi/fw_dynamic.h): six `unsigned long`s, so 8 bytes each on RV64 — magic "OSBI",
 * version, next_addr, next_mode, options, boot_hart. a0/a1/a2 are the fw_dynamic calling
 * convention; a kernel or bare-metal program started directly as the firmware sees the usual
 * a0 = hartid, a1 = FDT of the RISC-V boot protocol and ignores a2.
 *
 * The instructions are encoded by the small encoders below (unprivileged spec chapter 34, "RV32/64G
 * Instruction Set Listings"), not copied as magic numbers.
 */

import { MEMORY_MAP } from './memory-map.ts';

/** FW_DYNAMIC_INFO_MAGIC_VALUE: "OSBI" read as a little-endian u32. */
export const FW_DYNAMIC_INFO_MAGIC = 0x4942_534f;
/** Version 2 added boot_hart. */
export const FW_DYNAMIC_INFO_VERSION = 2;
/** FW_DYNAMIC_INFO_NEXT_MODE_* values. */
export const FW_DYNAMIC_NEXT_MODE = { U: 0, S: 1, M: 3 } as const;
export type FwDynamicNextMode = keyof typeof FW_DYNAMIC_NEXT_MODE;

/** Integer registers by ABI name (unprivileged spec, "RISC-V calling convention" table). */
export const REG = { zero: 0, ra: 1, sp: 2, t0: 5, a0: 10, a1: 11, a2: 12 } as const;
/** The CSR number of mhartid (privileged spec Table 2.5). */
export const CSR_MHARTID = 0xf14;

// Base opcodes (unprivileged spec, Table 34.1 "RISC-V base opcode map").
const OP_AUIPC = 0b001_0111;
const OP_IMM = 0b001_0011;
const OP_LOAD = 0b000_0011;
const OP_JALR = 0b110_0111;
const OP_SYSTEM = 0b111_0011;

function checkReg(reg: number): void {
  if (!Number.isInteger(reg) || reg < 0 || reg > 31) throw new RangeError(`x${reg} is not a register`);
}

function checkImm12(imm: number): void {
  if (!Number.isInteger(imm) || imm < -2048 || imm > 2047) {
    throw new RangeError(`${imm} does not fit a 12-bit signed immediate`);
  }
}

/** I-type: imm[11:0] rs1 funct3 rd opcode. */
function iType(opcode: number, funct3: number, rd: number, rs1: number, imm: number): number {
  checkReg(rd);
  checkReg(rs1);
  checkImm12(imm);
  return (((imm & 0xfff) << 20) | (rs1 << 15) | (funct3 << 12) | (rd << 7) | opcode) >>> 0;
}

/** auipc rd, imm20 — rd = pc + (imm20 << 12). */
export function encodeAuipc(rd: number, imm20: number): number {
  checkReg(rd);
  if (!Number.isInteger(imm20) || imm20 < -(1 << 19) || imm20 >= 1 << 20) {
    throw new RangeError(`${imm20} does not fit a 20-bit upper immediate`);
  }
  return (((imm20 & 0xf_ffff) << 12) | (rd << 7) | OP_AUIPC) >>> 0;
}

/** addi rd, rs1, imm */
export function encodeAddi(rd: number, rs1: number, imm: number): number {
  return iType(OP_IMM, 0b000, rd, rs1, imm);
}

/** ld rd, imm(rs1) (RV64I) */
export function encodeLd(rd: number, rs1: number, imm: number): number {
  return iType(OP_LOAD, 0b011, rd, rs1, imm);
}

/** jalr rd, imm(rs1); `jr rs` is jalr x0, 0(rs). */
export function encodeJalr(rd: number, rs1: number, imm: number): number {
  return iType(OP_JALR, 0b000, rd, rs1, imm);
}

/** csrrs rd, csr, rs1; `csrr rd, csr` is csrrs rd, csr, x0 (Zicsr). */
export function encodeCsrrs(rd: number, csr: number, rs1: number): number {
  if (!Number.isInteger(csr) || csr < 0 || csr > 0xfff) throw new RangeError(`CSR 0x${csr.toString(16)}`);
  checkReg(rd);
  checkReg(rs1);
  return ((csr << 20) | (rs1 << 15) | (0b010 << 12) | (rd << 7) | OP_SYSTEM) >>> 0;
}

export interface BootRomConfig {
  /** Guest physical address of the DTB, passed in a1. */
  readonly fdtAddress: number;
  /** Where the ROM jumps: the firmware's entry (MEMORY_MAP.dram.base for fw_dynamic.bin). */
  readonly firmwareEntry: number;
  /** fw_dynamic_info.next_addr: where OpenSBI continues, usually the kernel (0 if none). */
  readonly nextAddress: number;
  /** fw_dynamic_info.next_mode: the privilege OpenSBI enters next_addr in (S for Linux). */
  readonly nextMode: FwDynamicNextMode;
  /**
   * fw_dynamic_info.boot_hart: the hart that does OpenSBI's cold boot. QEMU passes 0; -1 means
   * "no preference" (OpenSBI's relocation lottery).
   */
  readonly bootHart: number;
}

/** Byte offsets inside the ROM image. */
export const BOOT_ROM_LAYOUT = {
  /** Six 4-byte instructions, then the data words. */
  code: 0,
  entry: 24,
  fdt: 32,
  info: 40,
  infoSize: 48,
} as const;

function toU64(value: number, what: string): bigint {
  if (!Number.isSafeInteger(value)) throw new RangeError(`${what}: ${value} is not an integer address`);
  // -1 and other negatives become their two's-complement u64, as the C `unsigned long` would.
  return BigInt.asUintN(64, BigInt(value));
}

/** The ROM image, MEMORY_MAP.bootRom.size bytes, zero after the info struct. */
export function buildBootRom(config: BootRomConfig): Uint8Array {
  const { code, entry, fdt, info, infoSize } = BOOT_ROM_LAYOUT;
  const rom = new Uint8Array(MEMORY_MAP.bootRom.size);
  const view = new DataView(rom.buffer);
  // The data words are read with `ld`; keep them naturally aligned so no hart takes a misaligned
  // access before the firmware has even installed its trap handler.
  if (entry % 8 !== 0 || fdt % 8 !== 0 || info % 8 !== 0) throw new Error('boot ROM layout misaligned');

  // Offsets are relative to t0 = the address of the auipc, which is the first instruction.
  const program = [
    encodeAuipc(REG.t0, 0), // auipc t0, 0
    encodeAddi(REG.a2, REG.t0, info - code), // addi a2, t0, INFO
    encodeCsrrs(REG.a0, CSR_MHARTID, REG.zero), // csrr a0, mhartid
    encodeLd(REG.a1, REG.t0, fdt - code), // ld a1, FDT(t0)
    encodeLd(REG.t0, REG.t0, entry - code), // ld t0, ENTRY(t0)
    encodeJalr(REG.zero, REG.t0, 0), // jr t0
  ];
  if (code + program.length * 4 > entry) throw new Error('boot ROM code overruns its data words');
  program.forEach((word, i) => view.setUint32(code + i * 4, word, true));

  view.setBigUint64(entry, toU64(config.firmwareEntry, 'firmwareEntry'), true);
  view.setBigUint64(fdt, toU64(config.fdtAddress, 'fdtAddress'), true);

  const infoWords = [
    BigInt(FW_DYNAMIC_INFO_MAGIC),
    BigInt(FW_DYNAMIC_INFO_VERSION),
    toU64(config.nextAddress, 'nextAddress'),
    BigInt(FW_DYNAMIC_NEXT_MODE[config.nextMode]),
    0n, // options: none (OpenSBI's FW_OPTIONS bits such as "no boot prints")
    toU64(config.bootHart, 'bootHart'),
  ];
  if (infoWords.length * 8 !== infoSize) throw new Error('fw_dynamic_info size mismatch');
  infoWords.forEach((word, i) => view.setBigUint64(info + i * 8, word, true));
  return rom;
}
