// The A extension on the CPU core (unprivileged spec ch. 8): LR/SC reservations, every AMO in .w and
// .d against a BigInt model, and the alignment rule ("an address-misaligned exception ... will be
// generated": load-misaligned for LR, store/AMO-misaligned for SC and the AMOs).
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { AmoName, Item } from './test-support/asm.ts';
import { CAUSE, CODE, DATA, M_TRAP, Machine, runProgram } from './test-support/machine.ts';

const { li, ebreak, addi, sd } = A;
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);

describe('LR/SC', () => {
  it('lr.d then sc.d to the same address succeeds (rd = 0) and stores', async () => {
    const m = await Machine.create();
    m.boot([li('s0', DATA), li('a2', 0x1111_2222_3333_4444n), A.lr_d('a0', 's0'), A.sc_d('a1', 'a2', 's0'), ebreak()]);
    m.write64(DATA, 0x8765_4321_0fed_cba9n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x8765_4321_0fed_cba9n);
    expect(m.x('a1')).toBe(0n);
    expect(m.read64(DATA)).toBe(0x1111_2222_3333_4444n);
  });

  it('sc.d without a reservation fails (rd = 1) and does not store', async () => {
    const m = await Machine.create();
    m.boot([li('s0', DATA), li('a2', 5), A.sc_d('a1', 'a2', 's0'), ebreak()]);
    m.write64(DATA, 9n);
    m.runToEbreak();
    expect(m.x('a1')).toBe(1n);
    expect(m.read64(DATA)).toBe(9n);
  });

  it('a reservation is used up by the first sc', async () => {
    const m = await runProgram([
      li('s0', DATA),
      li('a2', 5),
      li('a3', 6),
      A.lr_d('a0', 's0'),
      A.sc_d('a1', 'a2', 's0'),
      A.sc_d('a4', 'a3', 's0'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(0n);
    expect(m.x('a4')).toBe(1n);
    expect(m.read64(DATA)).toBe(5n);
  });

  it('sc to another address than the reserved one fails', async () => {
    const m = await runProgram([
      li('s0', DATA),
      li('s1', DATA + 64n),
      li('a2', 5),
      A.lr_d('a0', 's0'),
      A.sc_d('a1', 'a2', 's1'),
      ebreak(),
    ]);
    expect(m.x('a1')).toBe(1n);
    expect(m.read64(DATA + 64n)).toBe(0n);
  });

  it('lr.w sign-extends; sc.w stores only 32 bits', async () => {
    const m = await Machine.create();
    m.boot([li('s0', DATA), li('a2', 0xaaaa_bbbb_1234_5678n), A.lr_w('a0', 's0'), A.sc_w('a1', 'a2', 's0'), ebreak()]);
    m.write64(DATA, 0x5555_6666_8000_0001n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0xffff_ffff_8000_0001n);
    expect(m.x('a1')).toBe(0n);
    expect(m.read64(DATA)).toBe(0x5555_6666_1234_5678n);
  });

  // "The SC must fail if a store to the reservation set from another hart can be observed to occur
  // between the LR and the SC" (§8.2): the test plays the other hart (or a device's DMA) by storing to
  // the word while the hart stands between its lr and its sc.
  for (const width of ['d', 'w'] as const) {
    it(`sc.${width} fails when another hart stored to the reserved word after the lr`, async () => {
      const lr = width === 'd' ? A.lr_d('a0', 's0') : A.lr_w('a0', 's0');
      const sc = width === 'd' ? A.sc_d('a1', 'a2', 's0') : A.sc_w('a1', 'a2', 's0');
      const head = [li('s0', DATA), li('a2', 5), lr];
      const m = await Machine.create();
      m.boot([...head, sc, ebreak()]);
      m.write64(DATA, 0x10n);
      const scAt = CODE + BigInt(A.sizeOf(head));
      for (let steps = 0; m.pc !== scAt && steps < 100; steps++) m.run(1);
      expect(m.pc).toBe(scAt);
      m.write64(DATA, 0x11n);
      m.runToEbreak();
      expect(m.x('a0')).toBe(0x10n);
      expect(m.x('a1')).toBe(1n);
      expect(m.read64(DATA)).toBe(0x11n);
    });
  }

  it('a trap between lr and sc drops the reservation', async () => {
    // The ecall's handler steps over it (mepc += 4), points mtvec back at the harness and returns; the sc
    // after it must fail.
    const handler = [
      A.csrr('t1', 'mepc'),
      addi('t1', 't1', 4),
      A.csrw('mepc', 't1'),
      li('t1', M_TRAP),
      A.csrw('mtvec', 't1'),
      A.mret(),
    ];
    const body = [li('s0', DATA), li('a2', 5), A.lr_d('a0', 's0'), A.ecall(), A.sc_d('a1', 'a2', 's0'), ebreak()];
    const m = await Machine.create();
    m.boot([...body, handler]);
    m.setCsr('mtvec', CODE + BigInt(A.sizeOf(body)));
    m.runToEbreak();
    expect(m.x('a1')).toBe(1n);
    expect(m.read64(DATA)).toBe(0n);
  });

  it('lr with rs2 != 0 is illegal', async () => {
    const insn = A.amo(0x02, 'd', 'a0', 'a1', 's0');
    const m = await Machine.boot([li('s0', DATA), insn, ebreak()]);
    const trap = m.runToTrap();
    expect(trap.cause).toBe(CAUSE.illegalInstruction);
    expect(trap.tval).toBe(BigInt(insn));
  });
});

// ---- AMOs ---------------------------------------------------------------------------------------------

const AMO_MODELS: Record<AmoName, (old: bigint, src: bigint, width: 32 | 64) => bigint> = {
  amoswap: (_o, s) => s,
  amoadd: (o, s) => o + s,
  amoxor: (o, s) => o ^ s,
  amoand: (o, s) => o & s,
  amoor: (o, s) => o | s,
  amomin: (o, s, wd) => (BigInt.asIntN(wd, s) < BigInt.asIntN(wd, o) ? s : o),
  amomax: (o, s, wd) => (BigInt.asIntN(wd, s) > BigInt.asIntN(wd, o) ? s : o),
  amominu: (o, s, wd) => (BigInt.asUintN(wd, s) < BigInt.asUintN(wd, o) ? s : o),
  amomaxu: (o, s, wd) => (BigInt.asUintN(wd, s) > BigInt.asUintN(wd, o) ? s : o),
};

const AMO_VALUES = [
  0n,
  1n,
  5n,
  u64(-1n),
  u64(-5n),
  0x7fff_ffffn,
  0x8000_0000n,
  0x7fff_ffff_ffff_ffffn,
  1n << 63n,
  0x1234_5678_9abc_def0n,
];

describe('AMOs', () => {
  const cases: [AmoName, 'w' | 'd'][] = [];
  for (const name of Object.keys(AMO_MODELS) as AmoName[]) for (const wd of ['w', 'd'] as const) cases.push([name, wd]);

  it.each(cases)('%s.%s', async (name, width) => {
    const pairs: [bigint, bigint][] = [];
    for (const a of AMO_VALUES) for (const b of AMO_VALUES) pairs.push([a, b]);
    // Each case: memory word i at DATA + 16i holds `old` (and a guard word after it); amo a0, a1, (s0).
    const code: Item[] = [li('s0', DATA), li('s1', DATA + 0x1000n)];
    for (const [, src] of pairs) {
      code.push(
        li('a1', src),
        A.amo(A.AMO_FUNCT5[name], width, 'a0', 'a1', 's0'),
        sd('a0', 's1'),
        addi('s0', 's0', 16),
        addi('s1', 's1', 8),
      );
    }
    code.push(ebreak());
    const m = await Machine.create();
    m.boot(code);
    pairs.forEach(([old], i) => {
      m.write64(DATA + 16n * BigInt(i), old);
      m.write64(DATA + 16n * BigInt(i) + 8n, 0x5a5a_5a5a_5a5a_5a5an);
    });
    m.runToEbreak();
    const wrong: string[] = [];
    pairs.forEach(([old, src], i) => {
      const at = DATA + 16n * BigInt(i);
      const rd = m.read64(DATA + 0x1000n + 8n * BigInt(i));
      const mem = m.read64(at);
      const guard = m.read64(at + 8n);
      let wantRd: bigint;
      let wantMem: bigint;
      if (width === 'd') {
        wantRd = old;
        wantMem = u64(AMO_MODELS[name](old, src, 64));
      } else {
        // .w: the low word is the operand; rd gets it sign-extended; the high word of memory is untouched.
        wantRd = u64(s32(old));
        wantMem = (old & 0xffff_ffff_0000_0000n) | u32(AMO_MODELS[name](u32(old), u32(src), 32));
      }
      if (rd !== wantRd || mem !== wantMem || guard !== 0x5a5a_5a5a_5a5a_5a5an) {
        wrong.push(
          `old 0x${old.toString(16)} src 0x${src.toString(16)}: rd 0x${rd.toString(16)} mem 0x${mem.toString(16)}`,
        );
      }
    });
    expect(wrong).toEqual([]);
  });

  it('amoswap with rd = rs2 swaps', async () => {
    const m = await Machine.create();
    m.boot([li('s0', DATA), li('a0', 7), A.amoswap_d('a0', 'a0', 's0'), ebreak()]);
    m.write64(DATA, 3n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(3n);
    expect(m.read64(DATA)).toBe(7n);
  });

  it('an AMO with rd = x0 still writes memory', async () => {
    const m = await Machine.create();
    m.boot([li('s0', DATA), li('a1', 7), A.amoadd_d(0, 'a1', 's0'), ebreak()]);
    m.write64(DATA, 3n);
    m.runToEbreak();
    expect(m.x(0)).toBe(0n);
    expect(m.read64(DATA)).toBe(10n);
  });

  it('a reserved AMO funct5 is illegal', async () => {
    const insn = A.amo(0x05, 'd', 'a0', 'a1', 's0');
    const m = await Machine.boot([li('s0', DATA), insn, ebreak()]);
    const trap = m.runToTrap();
    expect(trap.cause).toBe(CAUSE.illegalInstruction);
    expect(trap.tval).toBe(BigInt(insn));
  });

  // Privileged spec table 3.7: illegal instruction outranks address-misaligned and access faults.
  it.each([
    ['a reserved funct5 at a misaligned address', A.amo(0x05, 'd', 'a0', 'a1', 's0'), DATA + 1n],
    ['lr.d with rs2 != 0 at a misaligned address', A.amo(0x02, 'd', 'a0', 'a1', 's0'), DATA + 4n],
    ['a reserved funct5 where nothing answers', A.amo(0x06, 'w', 'a0', 'a1', 's0'), 0x4000_0000n],
  ])('%s is illegal, not a memory fault', async (_n, insn, addr) => {
    const m = await Machine.boot([li('s0', addr), insn, ebreak()]);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.illegalInstruction, tval: BigInt(insn) });
  });

  it('AMO width other than w/d is illegal', async () => {
    const insn = (A.amoadd_d('a0', 'a1', 's0') & ~0x7000) | 0x1000; // funct3 = 1
    const m = await Machine.boot([li('s0', DATA), insn, ebreak()]);
    const trap = m.runToTrap();
    expect(trap.cause).toBe(CAUSE.illegalInstruction);
  });
});

describe('alignment', () => {
  it.each([
    ['lr.w', A.lr_w('a0', 's0'), 2n, CAUSE.misalignedLoad],
    ['lr.d', A.lr_d('a0', 's0'), 4n, CAUSE.misalignedLoad],
    ['sc.w', A.sc_w('a0', 'a1', 's0'), 1n, CAUSE.misalignedStore],
    ['sc.d', A.sc_d('a0', 'a1', 's0'), 4n, CAUSE.misalignedStore],
    ['amoadd.w', A.amoadd_w('a0', 'a1', 's0'), 2n, CAUSE.misalignedStore],
    ['amoswap.d', A.amoswap_d('a0', 'a1', 's0'), 4n, CAUSE.misalignedStore],
    ['amomaxu.d', A.amomaxu_d('a0', 'a1', 's0'), 1n, CAUSE.misalignedStore],
  ])('misaligned %s', async (_name, insn, offset, cause) => {
    const m = await Machine.create();
    m.boot([li('s0', DATA + offset), li('a1', 1), insn, ebreak()]);
    m.write64(DATA, 0x1234n);
    const trap = m.runToTrap();
    expect(trap.cause).toBe(cause);
    expect(trap.tval).toBe(DATA + offset);
    expect(m.read64(DATA)).toBe(0x1234n);
    expect(m.read64(DATA + 8n)).toBe(0n);
  });

  it('AMOs on MMIO raise a store access fault and do not touch the device', async () => {
    const m = await Machine.create();
    m.bus.register(0x1000_0000, 5n);
    m.boot([li('s0', 0x1000_0000), li('a1', 1), A.amoadd_d('a0', 'a1', 's0'), ebreak()]);
    const trap = m.runToTrap();
    expect(trap.cause).toBe(CAUSE.storeAccess);
    expect(trap.tval).toBe(0x1000_0000n);
    expect(m.bus.accesses).toEqual([]);
  });
});
