// Compressed instructions executing on the CPU core (unprivileged spec ch. 16). rvc.test.ts checks the
// expander against binutils parcel by parcel; here the parcels run: results, links of 2 bytes, mixed
// 16/32-bit streams, a 32-bit instruction split across a page, and illegal parcels whose mtval must
// be the 16-bit parcel alone. Parcels were taken from `riscv64-linux-gnu-as` + `objdump` (binutils 2.40).
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { AbiName } from './test-support/asm.ts';
import { CAUSE, CODE, DATA, Machine } from './test-support/machine.ts';

const { c, ebreak } = A;
const C_EBREAK = c(0x9002);
const C_LI_A1_5 = c(0x4595);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

type Regs = Partial<Record<AbiName, bigint>>;

const ALU: [string, number, Regs, Regs][] = [
  ['c.li a0, 5', 0x4515, {}, { a0: 5n }],
  ['c.addi a0, 3', 0x050d, { a0: 10n }, { a0: 13n }],
  ['c.mv a1, a0', 0x85aa, { a0: 0x1234n }, { a1: 0x1234n }],
  ['c.add a1, a0', 0x95aa, { a0: 2n, a1: 1n }, { a1: 3n }],
  ['c.slli a1, 60', 0x15f2, { a1: 0xfn }, { a1: 0xf000_0000_0000_0000n }],
  ['c.srai a1, 4', 0x8591, { a1: 1n << 63n }, { a1: 0xf800_0000_0000_0000n }],
  ['c.srli a1, 1', 0x8185, { a1: 1n << 63n }, { a1: 1n << 62n }],
  ['c.lui a2, 0xfffe1', 0x7605, {}, { a2: 0xffff_ffff_fffe_1000n }],
  ['c.addiw a2, -1', 0x367d, { a2: 0x1_0000_0000n }, { a2: u64(-1n) }],
  ['c.sub a1, a0', 0x8d89, { a1: 10n, a0: 3n }, { a1: 7n }],
  ['c.and a1, a0', 0x8de9, { a1: 0b1100n, a0: 0b1010n }, { a1: 0b1000n }],
  ['c.or a1, a0', 0x8dc9, { a1: 0b1100n, a0: 0b1010n }, { a1: 0b1110n }],
  ['c.xor a1, a0', 0x8da9, { a1: 0b1100n, a0: 0b1010n }, { a1: 0b0110n }],
  ['c.andi a0, -2', 0x9979, { a0: 0xffn }, { a0: 0xfen }],
  ['c.subw a1, a0', 0x9d89, { a1: 0x8000_0000n, a0: 1n }, { a1: 0x7fff_ffffn }],
  ['c.addw a1, a0', 0x9da9, { a1: 0x7fff_ffffn, a0: 1n }, { a1: 0xffff_ffff_8000_0000n }],
  ['c.nop', 0x0001, { a0: 9n }, { a0: 9n }],
  ['c.addi4spn s1, sp, 16', 0x0804, { sp: 0x1000n }, { s1: 0x1010n }],
  ['c.addi16sp sp, -32', 0x713d, { sp: 0x1000n }, { sp: 0xfe0n }],
];

async function runOne(parcels: A.Item[], regs: Regs): Promise<Machine> {
  const m = await Machine.boot([...parcels, ebreak()]);
  for (const [r, v] of Object.entries(regs)) m.setX(r as AbiName, v);
  m.runToEbreak();
  return m;
}

describe('compressed ALU instructions', () => {
  it.each(ALU)('%s', async (_text, parcel, before, after) => {
    const m = await runOne([c(parcel)], before);
    for (const [r, v] of Object.entries(after)) expect(m.x(r as AbiName)).toBe(v);
    // It was 2 bytes long: the ebreak right after it is what stopped the program.
    expect(m.csr('mepc')).toBe(CODE + 2n);
  });
});

describe('compressed loads and stores', () => {
  it('c.ldsp/c.sdsp/c.lwsp/c.swsp and c.ld/c.sd/c.lw/c.sw', async () => {
    const m = await Machine.create();
    m.boot([
      c(0x66a2), // c.ldsp a3, 8(sp)
      c(0xe836), // c.sdsp a3, 16(sp)
      c(0x4712), // c.lwsp a4, 4(sp)
      c(0xc63a), // c.swsp a4, 12(sp)
      c(0x641c), // c.ld a5, 8(s0)
      c(0xe81c), // c.sd a5, 16(s0)
      c(0x4058), // c.lw a4, 4(s0)
      c(0xc458), // c.sw a4, 12(s0)
      ebreak(),
    ]);
    m.setX('sp', DATA);
    m.setX('s0', DATA + 0x100n);
    m.write64(DATA + 8n, 0x1122_3344_5566_7788n);
    m.write32(DATA + 4n, 0x8000_0001n);
    m.write64(DATA + 0x108n, 0x99n);
    m.write32(DATA + 0x104n, 0x7fn);
    m.runToEbreak();
    expect(m.x('a3')).toBe(0x1122_3344_5566_7788n);
    expect(m.read64(DATA + 16n)).toBe(0x1122_3344_5566_7788n);
    expect(m.read32(DATA + 12n)).toBe(0x8000_0001n);
    expect(m.x('a5')).toBe(0x99n);
    expect(m.read64(DATA + 0x110n)).toBe(0x99n);
    expect(m.x('a4')).toBe(0x7fn); // the last c.lw; the c.lwsp before it sign-extended (checked below)
    expect(m.read32(DATA + 0x10cn)).toBe(0x7fn);
  });

  it('c.lwsp sign-extends', async () => {
    const m = await Machine.create();
    m.boot([c(0x4712), ebreak()]); // c.lwsp a4, 4(sp)
    m.setX('sp', DATA);
    m.write32(DATA + 4n, 0x8000_0001n);
    m.runToEbreak();
    expect(m.x('a4')).toBe(0xffff_ffff_8000_0001n);
  });
});

describe('compressed control transfer', () => {
  it('c.j', async () => {
    // 0: c.j +6; 2, 4: c.li a0, 5 (skipped); 6: c.ebreak
    const m = await runOne([c(0xa019), c(0x4515), c(0x4515), C_EBREAK], {});
    expect(m.x('a0')).toBe(0n);
    expect(m.csr('mepc')).toBe(CODE + 6n);
  });

  it.each([
    ['c.beqz taken', 0xc119, 0n, true],
    ['c.beqz not taken', 0xc119, 1n, false],
    ['c.bnez taken', 0xe119, 1n, true],
    ['c.bnez not taken', 0xe119, 0n, false],
  ])('%s', async (_n, parcel, a0, taken) => {
    // 0: branch +6; 2: c.ebreak (not taken); 4: c.nop; 6: c.ebreak (taken)
    const m = await Machine.boot([c(parcel), C_EBREAK, c(0x0001), C_EBREAK]);
    m.setX('a0', a0);
    m.runToEbreak();
    expect(m.csr('mepc')).toBe(CODE + (taken ? 6n : 2n));
  });

  it('c.jr jumps to rs1; c.jalr links pc + 2', async () => {
    const m = await Machine.boot([c(0x9502), C_EBREAK, C_EBREAK, C_EBREAK]); // c.jalr a0
    m.setX('a0', CODE + 6n);
    m.runToEbreak();
    expect(m.csr('mepc')).toBe(CODE + 6n);
    expect(m.x('ra')).toBe(CODE + 2n);
    const j = await Machine.boot([c(0x8502), C_EBREAK, C_EBREAK]); // c.jr a0
    j.setX('a0', CODE + 4n);
    j.setX('ra', 0x55n);
    j.runToEbreak();
    expect(j.csr('mepc')).toBe(CODE + 4n);
    expect(j.x('ra')).toBe(0x55n);
  });

  it('c.ebreak: cause 3 at its own address', async () => {
    const m = await Machine.boot([c(0x0001), C_EBREAK]);
    expect(m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.breakpoint, epc: CODE + 2n, tval: CODE + 2n });
  });
});

describe('mixed instruction streams', () => {
  it('a 32-bit instruction at a 2-byte boundary', async () => {
    const m = await runOne([c(0x0001), A.addi('a0', 0, 7), C_LI_A1_5], {});
    expect(m.x('a0')).toBe(7n);
    expect(m.x('a1')).toBe(5n);
    expect(m.csr('mepc')).toBe(CODE + 8n);
  });

  it('a 32-bit instruction split across a page boundary', async () => {
    const at = CODE + 0xffcn; // c.nop at 0x…ffc, the addi at 0x…ffe–0x…001
    const m = await Machine.boot([c(0x0001), A.addi('a0', 0, 9), C_LI_A1_5, ebreak()], { at });
    m.runToEbreak();
    expect(m.x('a0')).toBe(9n);
    expect(m.x('a1')).toBe(5n);
    expect(m.csr('mepc')).toBe(at + 8n);
  });
});

describe('illegal parcels', () => {
  it.each([
    ['0x0000 (defined illegal)', 0x0000],
    ['c.jr with rs1 = 0 (reserved)', 0x8002],
    ['c.addi16sp with imm = 0 (reserved)', 0x6101],
    ['c.lui with imm = 0 (reserved)', 0x6501],
    ['quadrant 1 funct6 100111 funct2 10 (reserved)', 0x9c41],
  ])('%s: mtval is the 16-bit parcel only', async (_n, parcel) => {
    // The parcel is followed by a non-zero one, which must not leak into mtval.
    const m = await Machine.boot([c(0x0001), c(parcel), c(0xffff), c(0xffff)]);
    expect(m.runToTrap()).toEqual({
      level: 'M',
      cause: CAUSE.illegalInstruction,
      epc: CODE + 2n,
      tval: BigInt(parcel),
    });
  });

  it('c.fld while mstatus.FS = Off is illegal with mtval = the parcel', async () => {
    const m = await Machine.boot([c(0x2408), c(0x1234)]); // c.fld fa0, 8(s0)
    m.setX('s0', DATA);
    expect(m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.illegalInstruction, epc: CODE, tval: 0x2408n });
  });
});
