/**
 * A reader for the ELF executables tabvm boots: ELF64, little-endian, e_machine EM_RISCV (243).
 * Field layout from the System V ABI gABI ("ELF Header", "Program Header", "Sections", "Symbol
 * Table") and the RISC-V ELF psABI. It gives the entry point, the PT_LOAD segments and symbol
 * lookup in .symtab (bare-metal tests report through `tohost`/`fromhost`).
 *
 * Addresses stay bigint, exactly as in the file: a vmlinux has virtual addresses above 2^53. The
 * loader decides what fits in guest RAM. Anything this reader refuses is an ImageError with a
 * one-line message.
 */

import { ImageError } from './image-error.ts';

export const EM_RISCV = 243;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const PT_LOAD = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
/** e_phnum value meaning "the real count is in section 0's sh_info". */
const PN_XNUM = 0xffff;

const ELF_HEADER_SIZE = 64;
const PROGRAM_HEADER_SIZE = 56;
const SECTION_HEADER_SIZE = 64;
const SYMBOL_SIZE = 24;

/** Names for the machines people actually feed in by mistake. */
const MACHINE_NAMES: Readonly<Record<number, string>> = {
  3: 'x86 (i386)',
  8: 'MIPS',
  20: 'PowerPC',
  21: 'PowerPC64',
  22: 's390',
  40: 'ARM',
  62: 'x86-64',
  183: 'AArch64',
  243: 'RISC-V',
  258: 'LoongArch',
};

const ELF_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'ET_NONE',
  1: 'a relocatable object (ET_REL)',
  4: 'a core dump (ET_CORE)',
};

export interface ElfSegment {
  readonly vaddr: bigint;
  readonly paddr: bigint;
  /** Bytes taken from the file. */
  readonly filesz: number;
  /** Bytes in memory; those past filesz are zero (.bss). */
  readonly memsz: number;
  /** PF_X = 1, PF_W = 2, PF_R = 4. */
  readonly flags: number;
  /** The filesz bytes of the segment, a view into the file's bytes (no copy). */
  readonly data: Uint8Array;
}

export interface ElfSymbol {
  readonly name: string;
  readonly value: bigint;
  readonly size: bigint;
  /** STT_*: 0 NOTYPE, 1 OBJECT, 2 FUNC, 3 SECTION, 4 FILE. */
  readonly type: number;
  /** STB_*: 0 LOCAL, 1 GLOBAL, 2 WEAK. */
  readonly bind: number;
  readonly sectionIndex: number;
}

export interface ElfImage {
  /** ET_EXEC or ET_DYN. */
  readonly type: number;
  readonly entry: bigint;
  /** e_flags: for RISC-V, RVC (1) and the float ABI (bits 1-2). */
  readonly flags: number;
  /** The PT_LOAD segments, in file order. */
  readonly segments: readonly ElfSegment[];
  /**
   * The symbol called `name` in .symtab; a global one wins over a local one of the same name.
   * Undefined if there is no such symbol or the file is stripped.
   */
  findSymbol(name: string): ElfSymbol | undefined;
}

/** True if the bytes start with the ELF magic, whatever the class or machine. */
export function isElf(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46
  );
}

/**
 * Parses an ELF64 LE RISC-V executable. `what` names the image in messages ("kernel",
 * "bios", a file name).
 */
export function parseElf(bytes: Uint8Array, what = 'image'): ElfImage {
  const fail = (message: string): never => {
    throw new ImageError(`${what}: ${message}`);
  };
  if (!isElf(bytes)) fail('not an ELF file (no \\x7fELF magic)');
  if (bytes.length < 16) fail(`truncated ELF: ${bytes.length} bytes`);
  const elfClass = bytes[4];
  if (elfClass === 1) fail('32-bit ELF (ELFCLASS32); tabvm runs RV64 images');
  if (elfClass !== 2) fail(`unknown ELF class ${elfClass}`);
  const elfData = bytes[5];
  if (elfData === 2) fail('big-endian ELF; RISC-V is little-endian');
  if (elfData !== 1) fail(`unknown ELF data encoding ${elfData}`);
  if (bytes.length < ELF_HEADER_SIZE) fail(`truncated ELF: ${bytes.length} bytes, shorter than its header`);

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number): number => view.getUint16(at, true);
  const u32 = (at: number): number => view.getUint32(at, true);
  const u64 = (at: number): bigint => view.getBigUint64(at, true);
  /** A u64 that must be a byte count or offset inside (or near) the file. */
  const size = (at: number, field: string): number => {
    const value = u64(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${field} 0x${value.toString(16)} is absurdly large`);
    return Number(value);
  };

  const machine = u16(18);
  if (machine !== EM_RISCV) {
    const name = MACHINE_NAMES[machine];
    fail(`ELF for ${name ?? `machine ${machine}`}${name ? ` (e_machine ${machine})` : ''}, not RISC-V`);
  }
  const type = u16(16);
  if (type !== ET_EXEC && type !== ET_DYN)
    fail(`ELF is ${ELF_TYPE_NAMES[type] ?? `type ${type}`}, not an executable`);

  const entry = u64(24);
  const phoff = size(32, 'e_phoff');
  const shoff = size(40, 'e_shoff');
  const flags = u32(48);
  const phentsize = u16(54);
  let phnum = u16(56);
  const shentsize = u16(58);
  let shnum = u16(60);

  // Section 0 carries the real counts when they overflow 16 bits (gABI "Sections", "Extended
  // section header numbering").
  if (shoff !== 0 && (shnum === 0 || phnum === PN_XNUM)) {
    if (shoff + SECTION_HEADER_SIZE > bytes.length) fail(`truncated ELF: section headers at ${shoff}`);
    if (shnum === 0) shnum = size(shoff + 32, 'section 0 sh_size');
    if (phnum === PN_XNUM) phnum = u32(shoff + 44);
  }

  if (phnum > 0 && phentsize < PROGRAM_HEADER_SIZE) fail(`e_phentsize ${phentsize} is too small`);
  if (phoff + phnum * phentsize > bytes.length) {
    fail(`truncated ELF: ${phnum} program headers at ${phoff} end past the file's ${bytes.length} bytes`);
  }

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (u32(at) !== PT_LOAD) continue;
    const offset = size(at + 8, `segment ${i} p_offset`);
    const filesz = size(at + 32, `segment ${i} p_filesz`);
    const memsz = size(at + 40, `segment ${i} p_memsz`);
    if (filesz > memsz) fail(`segment ${i} has p_filesz ${filesz} > p_memsz ${memsz}`);
    if (offset + filesz > bytes.length) {
      fail(
        `truncated ELF: segment ${i} needs bytes ${offset}..${offset + filesz} of a ${bytes.length}-byte file`,
      );
    }
    segments.push({
      flags: u32(at + 4),
      vaddr: u64(at + 16),
      paddr: u64(at + 24),
      filesz,
      memsz,
      data: bytes.subarray(offset, offset + filesz),
    });
  }
  if (segments.length === 0) fail('ELF has no PT_LOAD segment: nothing to load');

  let symbols: Map<string, ElfSymbol> | undefined;
  const readSymbols = (): Map<string, ElfSymbol> => {
    const table = new Map<string, ElfSymbol>();
    if (shoff === 0 || shnum === 0) return table;
    if (shentsize < SECTION_HEADER_SIZE) fail(`e_shentsize ${shentsize} is too small`);
    if (shoff + shnum * shentsize > bytes.length) fail(`truncated ELF: section headers end past the file`);
    const section = (
      index: number,
    ): { type: number; offset: number; size: number; link: number; entsize: number } => {
      const at = shoff + index * shentsize;
      return {
        type: u32(at + 4),
        offset: size(at + 24, `section ${index} sh_offset`),
        size: size(at + 32, `section ${index} sh_size`),
        link: u32(at + 40),
        entsize: size(at + 56, `section ${index} sh_entsize`),
      };
    };
    const decoder = new TextDecoder();
    for (let index = 0; index < shnum; index++) {
      const symtab = section(index);
      if (symtab.type !== SHT_SYMTAB) continue;
      if (symtab.link >= shnum) fail(`symbol table's string table index ${symtab.link} is out of range`);
      const strtab = section(symtab.link);
      if (strtab.type !== SHT_STRTAB)
        fail(`symbol table links to section ${symtab.link}, not a string table`);
      const entsize = symtab.entsize || SYMBOL_SIZE;
      if (entsize < SYMBOL_SIZE) fail(`symbol entry size ${entsize} is too small`);
      if (symtab.offset + symtab.size > bytes.length || strtab.offset + strtab.size > bytes.length) {
        fail('truncated ELF: symbol or string table ends past the file');
      }
      const nameAt = (offset: number): string => {
        const start = strtab.offset + offset;
        const limit = strtab.offset + strtab.size;
        let end = start;
        while (end < limit && bytes[end] !== 0) end++;
        return decoder.decode(bytes.subarray(start, end));
      };
      for (let at = symtab.offset; at + SYMBOL_SIZE <= symtab.offset + symtab.size; at += entsize) {
        const nameOffset = u32(at);
        if (nameOffset === 0 || nameOffset >= strtab.size) continue;
        const info = bytes[at + 4] ?? 0;
        const symbol: ElfSymbol = {
          name: nameAt(nameOffset),
          bind: info >> 4,
          type: info & 0xf,
          sectionIndex: u16(at + 6),
          value: u64(at + 8),
          size: u64(at + 16),
        };
        const existing = table.get(symbol.name);
        // STB_LOCAL is 0: prefer any non-local binding over a local one.
        if (!existing || (existing.bind === 0 && symbol.bind !== 0)) table.set(symbol.name, symbol);
      }
    }
    return table;
  };

  return {
    type,
    entry,
    flags,
    segments,
    findSymbol(name: string): ElfSymbol | undefined {
      symbols ??= readSymbols();
      return symbols.get(name);
    },
  };
}
