// The JIT (workers/cpu/jit.ts) against the interpreter: the same programs with translation off and with
// every block translated at its first visit must leave the same registers, memory, pc and instret,
// whatever the slice budgets; and the cases a translation must hand back to the interpreter (traps in
// the middle of a block, rewritten code, interrupts during a long loop, code that crosses a page).
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item } from './test-support/asm.ts';
import { MIP_MTIP } from './core.ts';
import * as L from './layout.ts';
import { CAUSE, CODE, DATA, INTERRUPT, IRQ, Machine, PRIV_S, PTE, PageTables } from './test-support/machine.ts';

const { li, addi, ebreak, c } = A;
const JIT = 1;
/** The harness's trap handler starts with a wfi, which retires before the harness notices the trap. */
const HANDLER_WFI = 1n;
const INTERPRETER = 0;

/** Runs `code` to its ebreak in slices of `slice` instructions; returns the machine. */
async function runSliced(code: readonly Item[], jitThreshold: number, slice: number): Promise<Machine> {
  const m = await Machine.boot(code, { jitThreshold });
  // The program ends in the harness's M handler, whose wfi stops the hart.
  for (let steps = 0; steps < 5_000_000 && m.hart.stopReason !== L.STOP_WFI; steps += slice) m.run(slice);
  expect(m.csr('mcause')).toBe(CAUSE.breakpoint);
  return m;
}

function state(m: Machine): { x: bigint[]; pc: bigint; instret: bigint; data: string } {
  return {
    x: Array.from({ length: 32 }, (_, r) => m.x(r)),
    pc: m.csr('mepc'),
    instret: m.csr('instret'),
    data: Buffer.from(m.readBytes(DATA, 64)).toString('hex'),
  };
}

// A loop whose body uses every instruction the JIT translates, with values that change every pass
// (including divisors that are sometimes 0 and -1) and forward branches of each kind that leave the
// block in the middle.
const seed = [...li('a0', 0x1234_5678_9abc_def0n), ...li('a1', -7), ...li('s0', DATA), ...li('s1', 300)];
const body: Item[] = [
  A.add('a2', 'a0', 'a1'),
  A.sub('a3', 'a0', 'a1'),
  A.xor('a4', 'a2', 'a3'),
  A.sll('a5', 'a0', 'a1'),
  A.srl('a6', 'a2', 'a1'),
  A.sra('a7', 'a3', 'a0'),
  A.slt('t0', 'a0', 'a1'),
  A.sltu('t1', 'a1', 'a0'),
  A.or('t2', 'a4', 't0'),
  A.and('t3', 'a5', 'a6'),
  A.addw('t4', 'a0', 'a1'),
  A.subw('t5', 'a0', 'a1'),
  A.sllw('t6', 'a0', 'a1'),
  A.srlw('s2', 'a2', 'a1'),
  A.sraw('s3', 'a3', 'a0'),
  A.slti('s4', 'a0', -5),
  A.sltiu('s5', 'a1', 100),
  A.xori('s6', 'a2', 0x5a5),
  A.ori('s7', 'a3', -0x100),
  A.andi('s8', 'a4', 0x7f3),
  A.slli('s9', 'a5', 13),
  A.srli('s10', 'a6', 7),
  A.srai('s11', 'a7', 41),
  A.addiw('t0', 'a0', 2047),
  A.slliw('t1', 'a1', 31),
  A.srliw('t2', 'a2', 3),
  A.sraiw('t3', 'a3', 17),
  A.andi('t4', 'a1', 3),
  A.addi('t4', 't4', -1), // divisor in {-1, 0, 1, 2}
  A.mul('t5', 'a0', 'a1'),
  A.mulw('t6', 'a2', 'a3'),
  A.div('s2', 'a0', 't4'),
  A.divu('s3', 'a1', 't4'),
  A.rem('s4', 'a2', 't4'),
  A.remu('s5', 'a3', 't4'),
  A.divw('s6', 'a4', 't4'),
  A.divuw('s7', 'a5', 't4'),
  A.remw('s8', 'a6', 't4'),
  A.remuw('s9', 'a7', 't4'),
  A.lui('s10', 0xfedcb),
  A.auipc('s11', 0x12),
  A.sd('a2', 's0', 0),
  A.sw('a3', 's0', 8),
  A.sh('a4', 's0', 12),
  A.sb('a5', 's0', 14),
  A.sd('t5', 's0', 17), // misaligned inside the page: the fast path does it
  A.ld('t0', 's0', 0),
  A.lw('t1', 's0', 8),
  A.lwu('t2', 's0', 8),
  A.lh('t3', 's0', 12),
  A.lhu('t4', 's0', 12),
  A.lb('t5', 's0', 14),
  A.lbu('t6', 's0', 14),
  A.ld('ra', 's0', 17),
  A.fence(),
  c(0x0505), // c.addi a0, 1
  c(0x8632), // c.mv a2, a2... (rd a2, rs2 a2: a harmless move)
  A.beq('t4', 'zero', 8),
  A.xor('a0', 'a0', 't0'),
  A.bne('t4', 'zero', 8),
  A.add('a1', 'a1', 't1'),
  A.blt('a0', 'a1', 8),
  A.sub('a0', 'a0', 's2'),
  A.bge('a0', 'a1', 8),
  A.add('a1', 'a1', 's3'),
  A.bltu('a0', 'a1', 8),
  A.xor('a1', 'a1', 's4'),
  A.bgeu('a0', 'a1', 8),
  A.add('a0', 'a0', 's5'),
  A.add('a0', 'a0', 'a2'),
  A.addi('a1', 'a1', 0x123),
  A.xor('a1', 'a1', 'a3'),
];
const loopProgram: Item[] = [
  ...seed,
  ...body,
  A.addi('s1', 's1', -1),
  A.bne('s1', 'zero', -(A.sizeOf(body) + 4)),
  ebreak(),
];

// A loop in one page that calls a function in the same page (jal in, jalr back: an indirect jump whose
// target is a block of the region), skips ahead with a forward branch and loops with a backward one.
// f: addi a0,a0,1 / slli t1,a0,2 / add a3,a3,t1 / ret
const callee: Item[] = [A.addi('a0', 'a0', 1), A.slli('t1', 'a0', 2), A.add('a3', 'a3', 't1'), A.ret()];
function callLoop(passes: number): Item[] {
  const head = li('s1', passes);
  const loop: Item[] = [
    A.addi('a1', 'a1', 3),
    A.andi('t0', 's1', 3),
    A.beq('t0', 'zero', 8),
    A.xor('a2', 'a2', 'a0'),
    A.addi('s1', 's1', -1),
  ];
  // jal f (over the rest of the loop, the bne and the ebreak), the loop body, bne back to the jal
  const toCallee = 4 + A.sizeOf(loop) + 4 + 4;
  return [...head, A.jal('ra', toCallee), ...loop, A.bne('s1', 'zero', -(A.sizeOf(loop) + 4)), ebreak(), ...callee];
}

// A loop whose loads and stores alternate between two pages that share a set of the data TLBs (DATA
// and DATA + 1 MiB: their page numbers are equal in the low 8 bits). In a direct-mapped TLB every one
// of these accesses missed. The addi on a0 counts passes.
const conflictAt = DATA + 0x10_0000n;
const conflictBody: Item[] = [
  A.ld('a1', 's0', 0),
  A.ld('a2', 's3', 0),
  A.add('a1', 'a1', 'a2'),
  A.sd('a1', 's3', 8),
  A.sd('a2', 's0', 8),
  A.addi('a0', 'a0', 1),
  A.addi('s1', 's1', -1),
];
function conflictLoop(passes: number): Item[] {
  return [
    ...li('s0', DATA),
    ...li('s3', conflictAt),
    ...li('s1', passes),
    ...conflictBody,
    A.bne('s1', 'zero', -A.sizeOf(conflictBody)),
    ebreak(),
  ];
}

describe('JIT', () => {
  it('leaves the same registers, memory, pc and instret as the interpreter, for any slice budget', async () => {
    const expected = state(await runSliced(loopProgram, INTERPRETER, 1000));
    for (const slice of [1000, 37, 5, 1]) {
      const m = await runSliced(loopProgram, JIT, slice);
      expect(state(m), `slices of ${slice}`).toEqual(expected);
      if (slice > 1) expect(m.hart.jit.blocks, `slices of ${slice}`).toBeGreaterThan(0);
    }
  });

  it('never retires more than the slice budget, even in a block that loops', async () => {
    const m = await Machine.boot([A.addi('a0', 'zero', 0), A.addi('a0', 'a0', 1), A.addi('a1', 'a1', 2), A.j(-8)], {
      jitThreshold: JIT,
    });
    for (const budget of [1000, 7, 3, 1, 249]) expect(m.run(budget).retired).toBe(budget);
    expect(m.hart.jit.blocks).toBeGreaterThan(0);
    // 1259 instructions after the first: 419 passes of the loop's three, then two more.
    expect(m.csr('instret')).toBe(1260n);
    expect(m.x('a0')).toBe(420n);
    expect(m.x('a1')).toBe(840n);
    expect(m.pc).toBe(CODE + 12n);
  });

  it('hands a faulting load in the middle of a block to the interpreter: precise pc, instret and registers', async () => {
    for (const jitThreshold of [INTERPRETER, JIT]) {
      const m = await Machine.boot(
        [
          ...li('t0', 0x4000_0000),
          A.addi('a0', 'zero', 1),
          A.addi('a0', 'a0', 1),
          A.addi('a0', 'a0', 1),
          A.ld('a1', 't0', 8),
          A.addi('a0', 'a0', 1),
          ebreak(),
        ],
        { jitThreshold },
      );
      const trap = m.runToTrap();
      expect(trap.cause).toBe(CAUSE.loadAccess);
      expect(trap.epc).toBe(CODE + 4n * BigInt(li('t0', 0x4000_0000).length + 3));
      expect(trap.tval).toBe(0x4000_0008n);
      expect(m.x('a0')).toBe(3n);
      // The load does not retire; the handler's wfi, where the harness stops, does.
      expect(m.csr('instret')).toBe(BigInt(li('t0', 0x4000_0000).length + 3) + HANDLER_WFI);
    }
  });

  it('runs rewritten code after FENCE.I (self-modifying code)', async () => {
    // A function at loopAt adds 1 to a0 ten times; the program calls it, patches its first instruction
    // to add 100, executes FENCE.I and calls it again.
    const loopAt = CODE + 0x800n;
    const loop: Item[] = [
      A.addi('a0', 'a0', 1),
      A.addi('s1', 's1', -1),
      A.bne('s1', 'zero', -8),
      A.jalr('zero', 'ra', 0),
    ];
    const call = (index: number): number => A.jal('ra', Number(loopAt - CODE) - 4 * index);
    const head = [...li('s1', 10)];
    const patch = [
      ...li('t0', A.addi('a0', 'a0', 100)),
      ...li('t1', loopAt),
      A.sw('t0', 't1', 0),
      A.fence_i(),
      ...li('s1', 10),
    ];
    const main: Item[] = [...head, call(head.length), ...patch, call(head.length + 1 + patch.length), ebreak()];
    for (const jitThreshold of [INTERPRETER, JIT]) {
      const m = await Machine.boot(main, { jitThreshold });
      m.place(loopAt, loop);
      m.runToEbreak();
      expect(m.x('a0'), `threshold ${jitThreshold}`).toBe(10n + 1000n);
      if (jitThreshold === JIT) expect(m.hart.jit.blocks).toBeGreaterThan(0);
    }
  });

  it('takes an interrupt that arrives while a translated loop runs, at the next slice, with exact instret', async () => {
    // Three setup instructions, then loop: addi a0, a0, 1 / j loop.
    const m = await Machine.boot(
      [A.addi('t0', 'zero', 0x80), A.csrs('mie', 't0'), A.csrrsi('zero', 'mstatus', 8), A.addi('a0', 'a0', 1), A.j(-4)],
      {
        jitThreshold: JIT,
      },
    );
    expect(m.run(10_000).retired).toBe(10_000);
    expect(m.hart.jit.blocks).toBeGreaterThan(0);
    // 9997 loop instructions: 4999 increments, and the pc is at the jump.
    expect(m.x('a0')).toBe(4999n);
    expect(m.pc).toBe(CODE + 16n);
    m.hart.setPending(MIP_MTIP, true);
    m.run(1);
    expect(m.csr('mcause')).toBe(INTERRUPT | IRQ.MTI);
    expect(m.csr('mepc')).toBe(CODE + 16n);
    // The interrupt retires nothing; the handler's first instruction (wfi, not sleeping with MTIP pending) does.
    expect(m.csr('instret')).toBe(10_001n);
  });

  it('runs a loop whose body crosses a page boundary, with a 32-bit instruction straddling it', async () => {
    // loop at 0x…1ff4: c.addi a0,1 | addi a1,a1,3 | c.addi a0,1 | c.addi a0,1 | addi a2,a2,5 (at 0x…1ffe,
    // straddling) | addi s1,s1,-1 | bnez s1, loop
    const at = CODE + 0xfe0n;
    const loop: Item[] = [
      c(0x0505),
      addi('a1', 'a1', 3),
      c(0x0505),
      c(0x0505),
      addi('a2', 'a2', 5),
      addi('s1', 's1', -1),
    ];
    const code: Item[] = [
      addi('s1', 'zero', 20),
      ...Array.from({ length: 4 }, () => addi('zero', 'zero', 0)),
      ...loop,
      A.bne('s1', 'zero', -A.sizeOf(loop)),
      ebreak(),
    ];
    expect(at + 4n + 16n + 2n + 4n + 2n + 2n).toBe(CODE + 0xffen);
    const results = [];
    for (const jitThreshold of [INTERPRETER, JIT]) {
      const m = await Machine.boot(code, { at, jitThreshold });
      m.runToEbreak();
      results.push([m.x('a0'), m.x('a1'), m.x('a2'), m.csr('instret')]);
      if (jitThreshold === JIT) expect(m.hart.jit.blocks).toBeGreaterThan(0);
    }
    expect(results[0]).toEqual([60n, 60n, 100n, BigInt(5 + 20 * 7) + HANDLER_WFI]);
    expect(results[1]).toEqual(results[0]);
  });

  it('is derived state: a state load or reset drops every translation', async () => {
    const m = await Machine.boot(loopProgram, { jitThreshold: JIT });
    m.run(5000);
    expect(m.hart.jit.blocks).toBeGreaterThan(0);
    const saved = m.hart.saveState();
    expect(saved.length).toBe(L.HART_STRIDE);
    m.hart.loadState(saved);
    expect(m.hart.jit.blocks).toBe(0);
    m.run(5000);
    expect(m.hart.jit.blocks).toBeGreaterThan(0);
    m.hart.reset(CODE);
    expect(m.hart.jit.blocks).toBe(0);
  });

  it('runs calls, returns and branches inside one region as the interpreter does, for any slice budget', async () => {
    const program = callLoop(300);
    const expected = state(await runSliced(program, INTERPRETER, 1000));
    expect(expected.x[10]).toBe(300n); // a0: f ran once per pass
    for (const slice of [100_000, 1000, 37, 5, 1]) {
      const m = await runSliced(program, JIT, slice);
      expect(state(m), `slices of ${slice}`).toEqual(expected);
    }
    // The region entered at the call (the loop's head, which the bne reaches) holds the whole loop: the
    // call, f and the call's return point, so calls, returns and both branches stay inside it.
    const m = await runSliced(program, JIT, 100_000);
    const call = CODE + 4n * BigInt(li('s1', 300).length);
    const f = call + 4n + 20n + 4n + 4n;
    expect(m.hart.jit.regionOf(call)).toEqual(expect.arrayContaining([call, call + 4n, f]));
  });

  it('never retires more than the slice budget in a region that loops through several blocks', async () => {
    const m = await Machine.boot(callLoop(100_000), { jitThreshold: JIT });
    let total = 0;
    for (const budget of [1000, 7, 3, 1, 249, 50_000]) {
      expect(m.run(budget).retired).toBe(budget);
      total += budget;
    }
    expect(m.csr('instret')).toBe(BigInt(total));
    expect(m.hart.jit.regions).toBeGreaterThan(0);
  });

  it('hands a faulting load in a later block of a region to the interpreter: precise pc, instret and registers', async () => {
    // The loop runs f four times; in the fourth pass f's load (reached by jal, then a taken branch) faults.
    const results = [];
    for (const jitThreshold of [INTERPRETER, JIT]) {
      const program: Item[] = [
        ...li('s1', 4),
        ...li('s0', DATA),
        A.jal('ra', 16), // f
        A.addi('s1', 's1', -1),
        A.bne('s1', 'zero', -8),
        ebreak(),
        // f: count, and on the fourth call point s0 at nothing before the load
        A.addi('a0', 'a0', 1),
        A.addi('t0', 'zero', 4),
        A.bne('a0', 't0', 8),
        A.lui('s0', 0x40000),
        A.ld('a1', 's0', 8),
        A.ret(),
      ];
      const m = await Machine.boot(program, { jitThreshold });
      const trap = m.runToTrap();
      expect(trap.cause).toBe(CAUSE.loadAccess);
      expect(trap.tval).toBe(0x4000_0008n);
      const ld = CODE + 4n * BigInt(li('s1', 4).length + li('s0', DATA).length + 8);
      expect(trap.epc).toBe(ld);
      results.push([m.x('a0'), m.x('s1'), m.x('ra'), m.csr('instret')]);
    }
    expect(results[0]![0]).toBe(4n);
    expect(results[1]).toEqual(results[0]);
  });

  it('drops a region when code in the middle of it is rewritten (FENCE.I), and translates the new code', async () => {
    // The loop at loopAt calls f (same page) ten times; the program then patches f's first instruction
    // (a block the region reaches by its jal, not the region's entry) and runs the loop again.
    const loopAt = CODE + 0x800n;
    const f = loopAt + 0x40n;
    const loop: Item[] = [A.jal('ra', 0x40), A.addi('s1', 's1', -1), A.bne('s1', 'zero', -8), A.jalr('zero', 's2', 0)];
    const main: Item[] = [
      ...li('s1', 10),
      A.jal('s2', Number(loopAt - CODE) - 4 * li('s1', 10).length),
      ...li('t0', A.addi('a0', 'a0', 100)),
      ...li('t1', f),
      A.sw('t0', 't1', 0),
      A.fence_i(),
      ...li('s1', 10),
    ];
    main.push(A.jal('s2', Number(loopAt - CODE) - A.sizeOf(main)), ebreak());
    for (const jitThreshold of [INTERPRETER, JIT]) {
      const m = await Machine.boot(main, { jitThreshold });
      m.place(loopAt, loop);
      m.place(f, [A.addi('a0', 'a0', 1), A.ret()]);
      m.runToEbreak();
      expect(m.x('a0'), `threshold ${jitThreshold}`).toBe(10n + 1000n);
      if (jitThreshold === JIT) expect(m.hart.jit.regions).toBeGreaterThan(0);
    }
  });

  it('takes an interrupt that arrives while a region loops through several blocks, at the next slice, with exact instret', async () => {
    const setup = [A.addi('t0', 'zero', 0x80), A.csrs('mie', 't0'), A.csrrsi('zero', 'mstatus', 8)];
    const m = await Machine.boot([...setup, ...callLoop(1_000_000)], { jitThreshold: JIT });
    expect(m.run(10_000).retired).toBe(10_000);
    expect(m.hart.jit.regions).toBeGreaterThan(0);
    const before = m.csr('instret');
    const pc = m.pc;
    const a0 = m.x('a0');
    m.hart.setPending(MIP_MTIP, true);
    m.run(1);
    expect(m.csr('mcause')).toBe(INTERRUPT | IRQ.MTI);
    expect(m.csr('mepc')).toBe(pc);
    expect(m.x('a0')).toBe(a0);
    // The interrupt retires nothing; the handler's first instruction (wfi, not sleeping with MTIP pending) does.
    expect(m.csr('instret')).toBe(before + 1n);
    expect(before).toBe(10_000n);
  });

  it('keeps calls and returns inside the region: code rewritten without FENCE.I keeps running translated', async () => {
    // Zifencei lets a hart run the old code until FENCE.I; the interpreter runs the new code at once. So
    // after f is patched behind the JIT's back, f runs the old code exactly as long as calls and returns
    // stay in the region: the interpreter may run at most the few instructions at the slice's end.
    const program = callLoop(1_000_000);
    const m = await Machine.boot(program, { jitThreshold: JIT });
    m.run(10_000);
    const call = CODE + 4n * BigInt(li('s1', 1_000_000).length);
    const f = call + 4n + 20n + 4n + 4n;
    const before = m.x('a0');
    m.write32(f, BigInt(A.addi('a0', 'a0', 100)));
    expect(m.run(100_000).retired).toBe(100_000);
    const calls = m.x('a0') - before;
    // A pass of the loop is 10.75 instructions on average (the xor is skipped every fourth pass), so
    // 100 000 instructions make ~9302 calls; the old f adds 1 per call, the new one 100. A few calls at
    // the slices' ends may run in the interpreter; if every call left the region, a0 would grow ~930 000.
    expect(calls).toBeGreaterThan(9000n);
    expect(calls).toBeLessThan(9302n + 5n * 99n);
  });
  it('stays in the region when its loads and stores alternate between two pages of one TLB set', async () => {
    // As above, the addi that counts passes is patched behind the JIT's back to add 100: the
    // interpreter runs the new code, the region the old. If each access missed the TLB and left the
    // region, the interpreter would run the rest of every pass and a0 would grow by 100 a pass.
    const program = conflictLoop(1_000_000);
    const m = await Machine.boot(program, { jitThreshold: JIT });
    m.run(10_000);
    expect(m.hart.jit.regions).toBeGreaterThan(0);
    const count = CODE + BigInt(A.sizeOf(program.slice(0, program.length - 2)) - 8);
    expect(m.read32(count)).toBe(BigInt(A.addi('a0', 'a0', 1)));
    m.write32(count, BigInt(A.addi('a0', 'a0', 100)));
    const before = m.x('a0');
    expect(m.run(100_000).retired).toBe(100_000);
    // A pass is 8 instructions: 12 500 passes. A few at the slices' ends may run in the interpreter.
    const passes = m.x('a0') - before;
    expect(passes).toBeGreaterThanOrEqual(12_499n);
    expect(passes).toBeLessThan(12_500n + 5n * 99n);
  });

  it('leaves the same registers, memory and instret as the interpreter when a region alternates between two pages of one TLB set, for any slice budget', async () => {
    const results = [];
    for (const [jitThreshold, slice] of [
      [INTERPRETER, 100_000],
      [JIT, 100_000],
      [JIT, 7],
      [JIT, 3],
    ] as const) {
      const m = await runSliced(conflictLoop(300), jitThreshold, slice);
      results.push({ ...state(m), far: Buffer.from(m.readBytes(conflictAt, 16)).toString('hex') });
    }
    expect(results[0]!.x[10]).toBe(300n);
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
  });
  it('hands a page fault at a TLB miss in a region to the interpreter (S-mode, Sv39, pages of one TLB set): precise trap, the same A/D bits', async () => {
    // Two virtual pages sharing a TLB entry, the second without D (the first store through it sets D);
    // after 300 passes s3 moves to a third such page that is not mapped and its load faults.
    const VA = 0x4000_0000n;
    const program: Item[] = [
      ...li('s0', VA),
      ...li('s3', VA + 0x10_0000n),
      ...li('s1', 500),
      ...li('t6', 200),
      A.ld('a1', 's0', 0),
      A.ld('a2', 's3', 0),
      A.add('a1', 'a1', 'a2'),
      A.sd('a1', 's3', 8),
      A.sd('a2', 's0', 8),
      A.addi('a0', 'a0', 1),
      A.addi('s1', 's1', -1),
      A.bne('s1', 't6', 8),
      A.lui('s3', Number((VA + 0x20_0000n) >> 12n)),
      A.bne('s1', 'zero', -36),
      ebreak(),
    ];
    const results = [];
    for (const jitThreshold of [INTERPRETER, JIT]) {
      const m = await Machine.create(16 << 20, jitThreshold);
      const pt = new PageTables(m, 'sv39');
      const { V, R, W, X, A: ACCESSED, D } = PTE;
      pt.map(0x8000_0000n, 0x8000_0000n, V | R | W | X | ACCESSED | D, 2);
      pt.map(VA, DATA, V | R | W | ACCESSED | D);
      pt.map(VA + 0x10_0000n, DATA + 0x1000n, V | R | W | ACCESSED);
      pt.pteAddress(VA + 0x20_0000n); // its table exists, its PTE is invalid
      m.boot(program, { priv: PRIV_S });
      m.setCsr('satp', pt.satp);
      m.write64(DATA + 0x1000n, 3n);
      const trap = m.runToTrap();
      expect(trap.cause).toBe(CAUSE.loadPageFault);
      expect(trap.tval).toBe(VA + 0x20_0000n);
      expect(trap.epc).toBe(CODE + BigInt(A.sizeOf(program.slice(0, program.indexOf(A.ld('a2', 's3', 0))))));
      if (jitThreshold === JIT) expect(m.hart.jit.regions).toBeGreaterThan(0);
      results.push({
        ...state(m),
        pte: pt.pte(VA + 0x10_0000n),
        pages:
          Buffer.from(m.readBytes(DATA, 16)).toString('hex') +
          Buffer.from(m.readBytes(DATA + 0x1000n, 16)).toString('hex'),
      });
    }
    expect(results[0]!.x[10]).toBe(300n);
    expect(results[0]!.pte & PTE.D).toBe(PTE.D);
    expect(results[1]).toEqual(results[0]);
  });
});
