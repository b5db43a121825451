/**
 * Test fixture: writes small ELF64 little-endian files straight from the gABI layout, so the tests
 * of elf.ts and loader.ts can feed exact segments and symbols without a toolchain. Only tests
 * import it; it is independent of the reader it checks.
 */

export interface FixtureSegment {
  vaddr: bigint;
  paddr: bigint;
  data: number[];
  memsz: number;
  flags: number;
  type?: number;
}

export interface FixtureSymbol {
  name: string;
  value: bigint;
  size: bigint;
  bind: number;
}

/**
 * Writes an ELF64 LE file from the gABI layout: header, program headers, segment bytes, then
 * a .symtab/.strtab/.shstrtab section table if symbols are given. A test fixture, independent of
 * the reader under test.
 */
export function makeElf(options: {
  machine?: number;
  type?: number;
  entry?: bigint;
  segments: FixtureSegment[];
  symbols?: FixtureSymbol[];
}): Uint8Array {
  const bytes: number[] = [];
  const put = (at: number, value: bigint | number, size: number): void => {
    let v = BigInt(value);
    for (let i = 0; i < size; i++) {
      bytes[at + i] = Number(v & 0xffn);
      v >>= 8n;
    }
  };
  const phoff = 64;
  let at = phoff + options.segments.length * 56;
  const offsets: number[] = [];
  for (const segment of options.segments) {
    offsets.push(at);
    segment.data.forEach((byte, i) => (bytes[at + i] = byte));
    at += segment.data.length;
  }
  // Section table: null, .symtab, .strtab, .shstrtab
  let shoff = 0;
  let shnum = 0;
  if (options.symbols) {
    const strtab: number[] = [0];
    const symtab: number[] = new Array(24).fill(0); // symbol 0 is the null symbol
    for (const symbol of options.symbols) {
      const nameOffset = strtab.length;
      strtab.push(...[...symbol.name].map((c) => c.charCodeAt(0)), 0);
      const entry: number[] = new Array(24).fill(0);
      const set = (offset: number, value: bigint | number, size: number): void => {
        let v = BigInt(value);
        for (let i = 0; i < size; i++) {
          entry[offset + i] = Number(v & 0xffn);
          v >>= 8n;
        }
      };
      set(0, nameOffset, 4);
      set(4, (symbol.bind << 4) | 1, 1); // STT_OBJECT
      set(6, 1, 2);
      set(8, symbol.value, 8);
      set(16, symbol.size, 8);
      symtab.push(...entry);
    }
    const shstrtab = [0, ...[...'.symtab\0.strtab\0.shstrtab\0'].map((c) => c.charCodeAt(0))];
    const symtabAt = at;
    symtab.forEach((byte, i) => (bytes[symtabAt + i] = byte));
    const strtabAt = symtabAt + symtab.length;
    strtab.forEach((byte, i) => (bytes[strtabAt + i] = byte));
    const shstrtabAt = strtabAt + strtab.length;
    shstrtab.forEach((byte, i) => (bytes[shstrtabAt + i] = byte));
    shoff = (shstrtabAt + shstrtab.length + 7) & ~7;
    shnum = 4;
    const section = (
      index: number,
      name: number,
      type: number,
      offset: number,
      size: number,
      link: number,
      entsize: number,
    ): void => {
      const base = shoff + index * 64;
      for (let i = 0; i < 64; i++) bytes[base + i] = 0;
      put(base, name, 4);
      put(base + 4, type, 4);
      put(base + 24, offset, 8);
      put(base + 32, size, 8);
      put(base + 40, link, 4);
      put(base + 56, entsize, 8);
    };
    section(0, 0, 0, 0, 0, 0, 0);
    section(1, 1, 2, symtabAt, symtab.length, 2, 24);
    section(2, 9, 3, strtabAt, strtab.length, 0, 0);
    section(3, 17, 3, shstrtabAt, shstrtab.length, 0, 0);
  }
  for (let i = 0; i < 64; i++) bytes[i] = 0;
  [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1].forEach((byte, i) => (bytes[i] = byte));
  put(16, options.type ?? 2, 2);
  put(18, options.machine ?? 243, 2);
  put(20, 1, 4);
  put(24, options.entry ?? options.segments[0]?.vaddr ?? 0n, 8);
  put(32, phoff, 8);
  put(40, shoff, 8);
  put(48, 5, 4); // EF_RISCV_RVC | EF_RISCV_FLOAT_ABI_DOUBLE
  put(52, 64, 2);
  put(54, 56, 2);
  put(56, options.segments.length, 2);
  put(58, 64, 2);
  put(60, shnum, 2);
  put(62, shnum ? 3 : 0, 2);
  options.segments.forEach((segment, i) => {
    const base = phoff + i * 56;
    for (let j = 0; j < 56; j++) bytes[base + j] = 0;
    put(base, segment.type ?? 1, 4);
    put(base + 4, segment.flags, 4);
    put(base + 8, offsets[i] ?? 0, 8);
    put(base + 16, segment.vaddr, 8);
    put(base + 24, segment.paddr, 8);
    put(base + 32, segment.data.length, 8);
    put(base + 40, segment.memsz, 8);
    put(base + 48, 0x1000, 8);
  });
  return Uint8Array.from(bytes, (byte) => byte ?? 0);
}
