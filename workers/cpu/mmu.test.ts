// Virtual memory on the CPU core (privileged spec 1.12 §4.3–4.4, §3.7): Sv39 and Sv48 walks over page
// tables the test builds in RAM, with 4 KiB, 2 MiB, 1 GiB (and 512 GiB) pages; permission and format
// faults with their causes and tval; U/SUM/MXR; hardware A/D updates; SFENCE.VMA; MPRV; PMP against S
// and U; and the software TLB, which must not carry a translation across satp, privilege or
// SUM/MXR changes.
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item } from './test-support/asm.ts';
import * as L from './layout.ts';
import {
  CAUSE,
  CODE,
  DATA,
  ENTER,
  MPP_SHIFT,
  MSTATUS,
  Machine,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  PTE,
  PageTables,
  TABLES,
} from './test-support/machine.ts';

const { li, ebreak, ld, sd, lw, csrw, csrs, csrc } = A;
const { V, R, W, X, U, A: ACCESSED, D: DIRTY } = PTE;
const RWXAD = V | R | W | X | ACCESSED | DIRTY;
const RWAD = V | R | W | ACCESSED | DIRTY;
const RAM = 16 << 20;
const HIGH_RAM = 0x8080_0000n; // a 2 MiB-aligned physical page inside the 16 MiB of RAM
const VA = 0x4000_0000n; // the test mappings live in the gigabyte below RAM's identity mapping

interface Vm {
  m: Machine;
  pt: PageTables;
}

/** A machine whose tables identity-map RAM's gigabyte (for the code; with U when `user`). */
async function vm(mode: 'sv39' | 'sv48', user = false): Promise<Vm> {
  const m = await Machine.create(RAM);
  const pt = new PageTables(m, mode);
  pt.map(0x8000_0000n, 0x8000_0000n, RWXAD | (user ? U : 0n), 2);
  return { m, pt };
}

/** Places `code`, starts it in `priv` with translation on. */
function start({ m, pt }: Vm, code: Item[], priv = PRIV_S): void {
  m.boot(code, { priv });
  m.setCsr('satp', pt.satp);
}

// ---- walks ---------------------------------------------------------------------------------------------

describe.each(['sv39', 'sv48'] as const)('%s walks', (mode) => {
  it('a 4 KiB page', async () => {
    const v = await vm(mode);
    v.pt.map(VA + 0x3000n, DATA, RWAD);
    start(v, [li('s0', VA + 0x3000n), ld('a0', 's0', 8), sd('a0', 's0', 16), ebreak()]);
    v.m.write64(DATA + 8n, 0x1122_3344n);
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(0x1122_3344n);
    expect(v.m.read64(DATA + 16n)).toBe(0x1122_3344n);
  });

  it('a 2 MiB page', async () => {
    const v = await vm(mode);
    v.pt.map(VA + 0x20_0000n, HIGH_RAM, RWAD, 1);
    start(v, [li('s0', VA + 0x21_2340n), ld('a0', 's0', 8), ebreak()]);
    v.m.write64(HIGH_RAM + 0x1_2348n, 77n);
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(77n);
  });

  it('a 1 GiB page', async () => {
    const v = await vm(mode);
    v.pt.map(0x1_0000_0000n, 0x8000_0000n, RWAD, 2);
    start(v, [li('s0', 0x1_0000_0000n + (DATA - 0x8000_0000n)), ld('a0', 's0', 8), ebreak()]);
    v.m.write64(DATA + 8n, 99n);
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(99n);
  });

  it('a negative (upper-half) canonical address', async () => {
    const v = await vm(mode);
    const high = mode === 'sv39' ? 0xffff_ffc0_0000_0000n : 0xffff_8000_0000_0000n;
    v.pt.map(high + 0x5000n, DATA, RWAD);
    start(v, [li('s0', high + 0x5000n), ld('a0', 's0', 0), ebreak()]);
    v.m.write64(DATA, 5n);
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(5n);
  });

  it('a non-canonical address is a page fault with tval = the address', async () => {
    const v = await vm(mode);
    const bad = mode === 'sv39' ? 0x0000_0040_0000_0000n : 0x0000_8000_0000_0000n;
    start(v, [li('s0', bad), ld('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ level: 'M', cause: CAUSE.loadPageFault, tval: bad });
    const w = await vm(mode);
    start(w, [li('s0', bad | 0x8000_0000_0000_0000n), sd('a0', 's0', 0), ebreak()]);
    expect(w.m.runToTrap()).toMatchObject({ cause: CAUSE.storePageFault, tval: bad | 0x8000_0000_0000_0000n });
  });

  it('an unmapped page: load, store and fetch page faults', async () => {
    const v = await vm(mode);
    start(v, [li('s0', VA + 0x7008n), lw('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA + 0x7008n });
    const w = await vm(mode);
    start(w, [li('s0', VA + 0x7008n), sd('a0', 's0', 0), ebreak()]);
    expect(w.m.runToTrap()).toMatchObject({ cause: CAUSE.storePageFault, tval: VA + 0x7008n });
    const f = await vm(mode);
    start(f, [li('s0', VA + 0x7000n), A.jalr('ra', 's0', 0), ebreak()]);
    expect(f.m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.fetchPageFault, epc: VA + 0x7000n, tval: VA + 0x7000n });
  });
});

describe('sv48 only', () => {
  it('a 512 GiB page', async () => {
    const v = await vm('sv48');
    v.pt.map(0x80_0000_0000n, 0n, RWAD, 3);
    start(v, [li('s0', 0x80_0000_0000n + DATA), ld('a0', 's0', 0), ebreak()]);
    v.m.write64(DATA, 512n);
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(512n);
  });
});

// ---- PTE format and permissions ----------------------------------------------------------------------

/** Maps VA+0x1000 → DATA with `flags`, runs `access` there in `priv`; returns the trap. */
async function tryAccess(flags: bigint, access: 'load' | 'store' | 'fetch', priv = PRIV_S, mstatus = 0n) {
  const v = await vm('sv39', priv === PRIV_U);
  const target = VA + 0x1000n;
  v.pt.map(target, DATA, flags);
  const code: Item[] =
    access === 'load'
      ? [li('s0', target), ld('a0', 's0', 0), ebreak()]
      : access === 'store'
        ? [li('s0', target), li('a0', 0x5a), sd('a0', 's0', 0), ebreak()]
        : [li('s0', target), A.jalr('ra', 's0', 0), ebreak()];
  start(v, code, priv);
  v.m.setCsr('mstatus', v.m.csr('mstatus') | mstatus);
  // At the target (for fetch): an ebreak, so a successful fetch ends like the others.
  v.m.place(DATA, [ebreak()]);
  return { trap: v.m.runToTrap(), v, target };
}

describe('permissions', () => {
  it.each([
    ['load from an X-only page', X | V | ACCESSED, 'load', CAUSE.loadPageFault],
    ['store to a read-only page', R | V | ACCESSED | DIRTY, 'store', CAUSE.storePageFault],
    ['store to an R+X page', R | X | V | ACCESSED | DIRTY, 'store', CAUSE.storePageFault],
    ['fetch from an R+W page', RWAD, 'fetch', CAUSE.fetchPageFault],
    ['load from an invalid PTE (V = 0)', R | W | X | ACCESSED | DIRTY, 'load', CAUSE.loadPageFault],
    ['load from a W-without-R PTE (reserved)', V | W | ACCESSED | DIRTY, 'load', CAUSE.loadPageFault],
    ['store to a W+X-without-R PTE (reserved)', V | W | X | ACCESSED | DIRTY, 'store', CAUSE.storePageFault],
    ['load with reserved PTE bit 54 set', RWAD | (1n << 54n), 'load', CAUSE.loadPageFault],
    ['load with PBMT bits set (Svpbmt not implemented)', RWAD | (1n << 61n), 'load', CAUSE.loadPageFault],
    ['load with the N bit set (Svnapot not implemented)', RWAD | (1n << 63n), 'load', CAUSE.loadPageFault],
  ] as const)('%s faults', async (_what, flags, access, cause) => {
    const { trap, target } = await tryAccess(flags, access);
    expect(trap).toMatchObject({ level: 'M', cause, tval: target });
  });

  it.each([
    ['load', RWAD | X, 'load'],
    ['store', RWAD, 'store'],
    ['fetch', V | X | ACCESSED, 'fetch'],
  ] as const)('a permitted %s succeeds', async (_n, flags, access) => {
    const { trap } = await tryAccess(flags, access);
    expect(trap.cause).toBe(CAUSE.breakpoint);
  });

  it('MXR makes X-only pages readable', async () => {
    const { trap, v } = await tryAccess(X | V | ACCESSED, 'load', PRIV_S, MSTATUS.MXR);
    expect(trap.cause).toBe(CAUSE.breakpoint);
    expect(v.m.x('a0')).toBe(v.m.read64(DATA));
  });

  it('S may not touch U pages without SUM', async () => {
    expect((await tryAccess(RWAD | U, 'load')).trap).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA + 0x1000n });
    expect((await tryAccess(RWAD | U, 'store')).trap).toMatchObject({ cause: CAUSE.storePageFault });
  });

  it('S may load and store U pages with SUM', async () => {
    expect((await tryAccess(RWAD | U, 'load', PRIV_S, MSTATUS.SUM)).trap.cause).toBe(CAUSE.breakpoint);
    expect((await tryAccess(RWAD | U, 'store', PRIV_S, MSTATUS.SUM)).trap.cause).toBe(CAUSE.breakpoint);
  });

  it('S may never execute U pages, SUM or not', async () => {
    const { trap } = await tryAccess(RWXAD | U, 'fetch', PRIV_S, MSTATUS.SUM);
    expect(trap).toMatchObject({ cause: CAUSE.fetchPageFault, tval: VA + 0x1000n });
  });

  it('U may use U pages only', async () => {
    expect((await tryAccess(RWAD | U, 'load', PRIV_U)).trap.cause).toBe(CAUSE.breakpoint);
    expect((await tryAccess(RWXAD | U, 'fetch', PRIV_U)).trap.cause).toBe(CAUSE.breakpoint);
    expect((await tryAccess(RWAD, 'load', PRIV_U)).trap).toMatchObject({ cause: CAUSE.loadPageFault });
    expect((await tryAccess(RWAD, 'store', PRIV_U)).trap).toMatchObject({ cause: CAUSE.storePageFault });
    expect((await tryAccess(RWXAD, 'fetch', PRIV_U)).trap).toMatchObject({ cause: CAUSE.fetchPageFault });
  });

  it('a misaligned superpage (low PPN bits set) is a page fault', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, HIGH_RAM + 0x1000n, RWAD, 1); // 2 MiB leaf whose PPN[0] != 0
    start(v, [li('s0', VA + 8n), ld('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA + 8n });
  });

  it('a pointer PTE at the last level is a page fault', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, V); // level-0 "pointer" (R = W = X = 0)
    start(v, [li('s0', VA), ld('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA });
  });

  it('a PTE that points outside RAM and the bus is an access fault', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, 0x4000_0000n, RWAD);
    start(v, [li('s0', VA + 16n), ld('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.loadAccess, tval: VA + 16n });
  });

  it('a page table outside RAM is an access fault of the original access type', async () => {
    const v = await vm('sv39');
    // VA's level-2 entry points to a table at 0x4000_0000 (no RAM there).
    v.m.write64(v.pt.root + ((VA >> 30n) & 0x1ffn) * 8n, ((0x4000_0000n >> 12n) << 10n) | V);
    start(v, [li('s0', VA), sd('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.storeAccess, tval: VA });
  });

  it('MMIO through a translation reaches the bus at the physical address', async () => {
    const v = await vm('sv39');
    const reg = v.m.bus.register(0x1000_0008, 0x1234n);
    v.pt.map(VA, 0x1000_0000n, RWAD);
    start(v, [li('s0', VA), ld('a0', 's0', 8), li('a1', 0x77), A.sw('a1', 's0', 8), ebreak()]);
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(0x1234n);
    expect(reg.value).toBe(0x77n);
    expect(v.m.bus.accesses).toEqual([
      { kind: 'read', addr: 0x1000_0008, size: 8, value: 0x1234n },
      { kind: 'write', addr: 0x1000_0008, size: 4, value: 0x77n },
    ]);
  });
});

// ---- A and D -------------------------------------------------------------------------------------------

describe('accessed and dirty bits (updated by the hardware)', () => {
  it('a load sets A; a store sets A and D; a fetch sets A', async () => {
    const v = await vm('sv39');
    v.pt.map(VA + 0x1000n, DATA, V | R | W);
    v.pt.map(VA + 0x2000n, DATA + 0x1000n, V | R | W);
    v.pt.map(VA + 0x3000n, DATA + 0x2000n, V | X);
    v.m.place(DATA + 0x2000n, [A.jalr(0, 'ra', 0)]);
    start(v, [
      li('s0', VA + 0x1000n),
      ld('a0', 's0', 0),
      li('s1', VA + 0x2000n),
      sd('a0', 's1', 0),
      li('s2', VA + 0x3000n),
      A.jalr('ra', 's2', 0),
      ebreak(),
    ]);
    v.m.runToEbreak();
    expect(v.pt.pte(VA + 0x1000n) & (ACCESSED | DIRTY)).toBe(ACCESSED);
    expect(v.pt.pte(VA + 0x2000n) & (ACCESSED | DIRTY)).toBe(ACCESSED | DIRTY);
    expect(v.pt.pte(VA + 0x3000n) & (ACCESSED | DIRTY)).toBe(ACCESSED);
  });

  it('a store after a load on the same page still sets D', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, V | R | W);
    start(v, [li('s0', VA), ld('a0', 's0', 0), ld('a0', 's0', 8), sd('a0', 's0', 16), ebreak()]);
    v.m.runToEbreak();
    expect(v.pt.pte(VA) & (ACCESSED | DIRTY)).toBe(ACCESSED | DIRTY);
  });

  it('a faulting access does not set A or D', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, V | R);
    start(v, [li('s0', VA), sd('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap().cause).toBe(CAUSE.storePageFault);
    expect(v.pt.pte(VA) & (ACCESSED | DIRTY)).toBe(0n);
  });
});

// ---- SFENCE.VMA and the TLB ------------------------------------------------------------------------

describe('TLB coherence', () => {
  it('sfence.vma makes a changed PTE take effect', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWAD);
    // Load through the old PTE; WFI, so that the host can change the PTE; sfence.vma; load again.
    start(v, [li('s0', VA), ld('a0', 's0', 0), A.wfi(), A.sfence_vma(), ld('a1', 's0', 0), ebreak()]);
    v.m.write64(DATA, 1n);
    v.m.write64(DATA + 0x1000n, 2n);
    expect(v.m.run(100).stop).toBe(L.STOP_WFI);
    v.pt.map(VA, DATA + 0x1000n, RWAD);
    v.m.hart.setField(L.WFI_STATE, 0n); // the host wakes the hart
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(1n);
    expect(v.m.x('a1')).toBe(2n);
  });

  it('sfence.vma makes an invalidated PTE fault', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWAD);
    start(v, [li('s0', VA), ld('a0', 's0', 0), A.wfi(), A.sfence_vma('s0', 0), ld('a1', 's0', 0), ebreak()]);
    expect(v.m.run(100).stop).toBe(L.STOP_WFI);
    v.pt.setPte(VA, 0n);
    v.m.hart.setField(L.WFI_STATE, 0n);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA });
  });

  it('a satp write does not keep translations of the previous address space', async () => {
    const m = await Machine.create(RAM);
    const a = new PageTables(m, 'sv39', TABLES);
    const b = new PageTables(m, 'sv39', TABLES + 0x10_0000n);
    for (const pt of [a, b]) pt.map(0x8000_0000n, 0x8000_0000n, RWXAD, 2);
    a.map(VA, DATA, RWAD);
    b.map(VA, DATA + 0x1000n, RWAD);
    m.write64(DATA, 0xaan);
    m.write64(DATA + 0x1000n, 0xbbn);
    m.boot(
      [
        li('s0', VA),
        ld('a0', 's0', 0),
        li('t0', b.satp),
        csrw('satp', 't0'),
        ld('a1', 's0', 0),
        li('t0', a.satp),
        csrw('satp', 't0'),
        ld('a2', 's0', 0),
        ebreak(),
      ],
      { priv: PRIV_S },
    );
    m.setCsr('satp', a.satp);
    m.runToEbreak();
    expect([m.x('a0'), m.x('a1'), m.x('a2')]).toEqual([0xaan, 0xbbn, 0xaan]);
  });

  it('turning translation off with satp = 0 takes effect at once', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWAD);
    v.m.write64(DATA, 2n);
    // After satp = 0, VA is a physical address where nothing answers.
    start(v, [li('s0', VA), ld('a0', 's0', 0), csrw('satp', 0), ld('a1', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.loadAccess, tval: VA });
    expect(v.m.x('a0')).toBe(2n);
  });

  // Code for the other mode lives in its own gigabyte: the identity gigapage is U or not for all of RAM.
  const OTHER_CODE_VA = 0xc000_0000n;
  const OTHER_CODE_PA = 0x8000_4000n;

  it('a U-mode translation of a U page is not reused by S without SUM', async () => {
    const v = await vm('sv39', true);
    v.pt.map(VA, DATA, RWAD | U);
    v.pt.map(OTHER_CODE_VA, OTHER_CODE_PA, RWXAD);
    start(v, [li('s0', VA), ld('a0', 's0', 0), A.ecall()], PRIV_U);
    v.m.place(OTHER_CODE_PA, [li('s0', VA), ld('a1', 's0', 0), ebreak()]);
    v.m.write64(DATA, 7n);
    expect(v.m.runToTrap().cause).toBe(CAUSE.ecallU);
    expect(v.m.x('a0')).toBe(7n);
    // Now S (through the harness's mret) loads the same VA.
    v.m.setCsr('mstatus', (v.m.csr('mstatus') & ~MSTATUS.MPP) | (BigInt(PRIV_S) << MPP_SHIFT));
    v.m.setCsr('mepc', OTHER_CODE_VA);
    v.m.resumeAt(ENTER);
    const trap = v.m.runToTrap();
    expect(trap).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA });
    expect(trap.epc).toBe(OTHER_CODE_VA + BigInt(A.sizeOf([li('s0', VA)])));
  });

  it('an S-mode translation of a supervisor page is not reused by U', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWAD);
    v.pt.map(OTHER_CODE_VA, OTHER_CODE_PA, RWXAD | U);
    start(v, [
      li('s0', VA),
      ld('a0', 's0', 0),
      li('t0', OTHER_CODE_VA),
      csrw('sepc', 't0'),
      li('t0', MSTATUS.SPP),
      csrc('sstatus', 't0'),
      A.sret(),
    ]);
    v.m.place(OTHER_CODE_PA, [li('s0', VA), ld('a1', 's0', 0), ebreak()]);
    v.m.write64(DATA, 7n);
    const trap = v.m.runToTrap();
    expect(v.m.x('a0')).toBe(7n);
    expect(trap).toMatchObject({
      cause: CAUSE.loadPageFault,
      tval: VA,
      epc: OTHER_CODE_VA + BigInt(A.sizeOf([li('s0', VA)])),
    });
  });

  it('clearing SUM takes effect for a page S already used', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWAD | U);
    start(v, [
      li('t0', MSTATUS.SUM),
      csrs('sstatus', 't0'),
      li('s0', VA),
      ld('a0', 's0', 0),
      sd('a0', 's0', 8),
      csrc('sstatus', 't0'),
      ld('a1', 's0', 0),
      ebreak(),
    ]);
    v.m.write64(DATA, 7n);
    const trap = v.m.runToTrap();
    expect(v.m.x('a0')).toBe(7n);
    expect(trap).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA });
  });

  it('clearing MXR takes effect for an X-only page S already read', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, V | X | ACCESSED);
    start(v, [
      li('t0', MSTATUS.MXR),
      csrs('sstatus', 't0'),
      li('s0', VA),
      ld('a0', 's0', 0),
      csrc('sstatus', 't0'),
      ld('a1', 's0', 0),
      ebreak(),
    ]);
    v.m.write64(DATA, 7n);
    const trap = v.m.runToTrap();
    expect(v.m.x('a0')).toBe(7n);
    expect(trap).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA });
  });
});

// ---- page-crossing accesses ----------------------------------------------------------------------------

describe('accesses that cross into an unmapped page', () => {
  it('a misaligned load faults with tval = the first byte on the unmapped page', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWAD);
    start(v, [li('s0', VA + 0xffcn), ld('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.loadPageFault, tval: VA + 0x1000n });
  });

  it('a misaligned store faults without writing the mapped part', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWAD);
    start(v, [li('s0', VA + 0xffcn), li('a0', -1), sd('a0', 's0', 0), ebreak()]);
    expect(v.m.runToTrap()).toMatchObject({ cause: CAUSE.storePageFault, tval: VA + 0x1000n });
    expect(v.m.read32(DATA + 0xffcn)).toBe(0n);
  });

  it('a misaligned load across two mapped pages joins them', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA + 0x3000n, RWAD);
    v.pt.map(VA + 0x1000n, DATA, RWAD); // the next virtual page is physically *before* it
    v.m.write32(DATA + 0x3ffcn, 0x4433_2211n);
    v.m.write32(DATA, 0x8877_6655n);
    start(v, [li('s0', VA + 0xffcn), ld('a0', 's0', 0), ebreak()]);
    v.m.runToEbreak();
    expect(v.m.x('a0')).toBe(0x8877_6655_4433_2211n);
  });

  it('code on the page at virtual address 0 runs instruction after instruction', async () => {
    // riscv-tests' icache-alias runs S code at VA 0; a stale fetch page once matched pcs just above 0.
    const v = await vm('sv39');
    v.pt.map(0n, DATA, V | X | ACCESSED);
    const body = A.assemble([A.addi('a0', 'zero', 7), A.addi('a0', 'a0', 5), A.addi('a0', 'a0', 30), ebreak()]);
    for (let i = 0; i < body.length; i += 2) v.m.write16(DATA + BigInt(i), BigInt(body[i]! | (body[i + 1]! << 8)));
    start(v, [A.jalr(0, 'zero', 0)]);
    const trap = v.m.runToTrap();
    expect(trap.cause).toBe(CAUSE.breakpoint);
    expect(trap.epc).toBe(12n);
    expect(v.m.x('a0')).toBe(42n);
  });

  it('an instruction crossing into an unmapped page is a fetch page fault at the instruction', async () => {
    const v = await vm('sv39');
    v.pt.map(VA, DATA, RWXAD);
    // At VA+0xffe the first half of a 32-bit instruction; VA+0x1000 is unmapped.
    v.m.write16(DATA + 0xffen, 0x0013n); // low half of `addi x0, x0, 0`
    start(v, [li('s0', VA + 0xffen), A.jalr(0, 's0', 0)]);
    const trap = v.m.runToTrap();
    expect(trap.cause).toBe(CAUSE.fetchPageFault);
    expect(trap.epc).toBe(VA + 0xffen);
    expect(trap.tval).toBe(VA + 0x1000n);
  });
});

// ---- MPRV ---------------------------------------------------------------------------------------------

describe('MPRV (§3.1.6.3)', () => {
  /**
   * M-mode code with translation set up but not covering the code itself (M fetches are never
   * translated). mstatus is set by the guest: a host write to mstatus would not reach the core's cached
   * effective privilege until the next trap, xRET or CSR write.
   */
  const setup = (mstatus: bigint): Item[] => [li('t0', mstatus), csrs('mstatus', 't0')];
  async function mprv(mpp: number, flags: bigint, extra = 0n) {
    const m = await Machine.create(RAM);
    const pt = new PageTables(m, 'sv39');
    pt.map(VA, DATA, flags);
    // PMP must let S and U at memory, since MPRV makes the accesses S or U ones.
    m.boot([...setup(MSTATUS.MPRV | (BigInt(mpp) << MPP_SHIFT) | extra), li('s0', VA), ld('a0', 's0', 0), ebreak()], {
      openPmp: true,
    });
    m.setCsr('satp', pt.satp);
    m.write64(DATA, 0x77n);
    return m;
  }

  it('with MPP = S, M-mode loads are translated and checked as S', async () => {
    const m = await mprv(PRIV_S, RWAD);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x77n);
  });

  it('with MPP = U, a supervisor page faults', async () => {
    const m = await mprv(PRIV_U, RWAD);
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause: CAUSE.loadPageFault, tval: VA });
  });

  it('with MPP = S and SUM = 0, a user page faults; with SUM = 1 it loads', async () => {
    expect((await mprv(PRIV_S, RWAD | U)).runToTrap()).toMatchObject({ cause: CAUSE.loadPageFault });
    const m = await mprv(PRIV_S, RWAD | U, MSTATUS.SUM);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x77n);
  });

  it('with MPP = M, accesses stay physical', async () => {
    const m = await Machine.create(RAM);
    const pt = new PageTables(m, 'sv39');
    pt.map(DATA, DATA + 0x1000n, RWAD);
    m.boot([...setup(MSTATUS.MPRV | MSTATUS.MPP), li('s0', DATA), ld('a0', 's0', 0), ebreak()]);
    m.setCsr('satp', pt.satp);
    m.write64(DATA, 1n);
    m.write64(DATA + 0x1000n, 2n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(1n);
  });

  it('setting MPRV with csrs takes effect for the next load; clearing it too', async () => {
    const m = await Machine.create(RAM);
    const pt = new PageTables(m, 'sv39');
    pt.map(DATA, DATA + 0x1000n, RWAD);
    m.write64(DATA, 1n);
    m.write64(DATA + 0x1000n, 2n);
    m.boot(
      [
        li('s0', DATA),
        ld('a0', 's0', 0),
        li('t0', MSTATUS.MPRV | (1n << MPP_SHIFT)),
        csrs('mstatus', 't0'),
        ld('a1', 's0', 0),
        li('t0', MSTATUS.MPRV),
        csrc('mstatus', 't0'),
        ld('a2', 's0', 0),
        ebreak(),
      ],
      { openPmp: true },
    );
    m.setCsr('satp', pt.satp);
    m.runToEbreak();
    expect([m.x('a0'), m.x('a1'), m.x('a2')]).toEqual([1n, 2n, 1n]);
  });

  it('instruction fetch in M ignores MPRV', async () => {
    // Translation would map CODE's page nowhere; M keeps fetching physically.
    const m = await mprv(PRIV_S, RWAD);
    m.runToEbreak();
    expect(m.csr('mepc')).toBe(
      CODE + BigInt(A.sizeOf([...setup(MSTATUS.MPRV | (1n << MPP_SHIFT)), li('s0', VA), ld('a0', 's0', 0)])),
    );
  });
});

// ---- PMP against S and U (§3.7) ----------------------------------------------------------------------

describe('PMP', () => {
  const napot = (base: bigint, size: bigint): bigint => (base >> 2n) | ((size >> 3n) - 1n);
  const PMP_R = 1n;
  const PMP_W = 2n;
  const PMP_X = 4n;
  const PMP_NAPOT = 3n << 3n;
  const PMP_TOR = 1n << 3n;

  /** Entry 0: `cfg0` over the 4 KiB page at DATA; entry 1: all memory RWX. */
  async function pmpMachine(code: Item[], cfg0: bigint, priv = PRIV_S): Promise<Machine> {
    const m = await Machine.create();
    m.boot(code, { priv, openPmp: false });
    m.hart.setField(L.PMPADDR, napot(DATA, 0x1000n));
    m.hart.setField(L.PMPADDR + 8, (1n << 54n) - 1n);
    m.hart.setField(L.PMPCFG, ((PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 8n) | cfg0);
    return m;
  }

  it.each([
    ['S load', PRIV_S, PMP_NAPOT | PMP_W | PMP_X, [li('s0', DATA + 8n), ld('a0', 's0', 0)], CAUSE.loadAccess],
    ['S store', PRIV_S, PMP_NAPOT | PMP_R | PMP_X, [li('s0', DATA + 8n), sd('a0', 's0', 0)], CAUSE.storeAccess],
    ['U load', PRIV_U, PMP_NAPOT, [li('s0', DATA + 8n), ld('a0', 's0', 0)], CAUSE.loadAccess],
    ['U AMO', PRIV_U, PMP_NAPOT | PMP_R, [li('s0', DATA + 8n), A.amoadd_d('a0', 'a0', 's0')], CAUSE.storeAccess],
  ] as const)('denies an %s with an access fault', async (_n, priv, cfg, code, cause) => {
    const m = await pmpMachine([...code, ebreak()], cfg, priv);
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause, tval: DATA + 8n });
  });

  it('denies an S fetch from a page without X', async () => {
    const m = await pmpMachine([li('s0', DATA), A.jalr(0, 's0', 0)], PMP_NAPOT | PMP_R | PMP_W);
    m.place(DATA, [ebreak()]);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.fetchAccess, epc: DATA, tval: DATA });
  });

  it('allows what the entry grants', async () => {
    const m = await pmpMachine([li('s0', DATA + 8n), ld('a0', 's0', 0), ebreak()], PMP_NAPOT | PMP_R);
    m.write64(DATA + 8n, 3n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(3n);
  });

  it('an unlocked entry does not bind M-mode', async () => {
    const m = await pmpMachine([li('s0', DATA + 8n), sd('s0', 's0', 0), ebreak()], PMP_NAPOT, PRIV_M);
    m.runToEbreak();
    expect(m.read64(DATA + 8n)).toBe(DATA + 8n);
  });

  it('S and U fail where no entry matches (at least one entry is implemented)', async () => {
    const m = await Machine.create();
    m.boot([ebreak()], { priv: PRIV_S, openPmp: false });
    expect(m.runToTrap()).toMatchObject({ level: 'M', cause: CAUSE.fetchAccess, epc: CODE, tval: CODE });
  });

  it('the lowest-numbered matching entry wins', async () => {
    // Entry 0 grants R over DATA's page, entry 1 (all memory) RWX: a store to DATA is denied.
    const m = await pmpMachine([li('s0', DATA), sd('a0', 's0', 0), ebreak()], PMP_NAPOT | PMP_R);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.storeAccess, tval: DATA });
  });

  it('TOR ranges', async () => {
    // Entry 0: TOR [0, DATA) RWX; entry 1: TOR [DATA, DATA+0x1000) R only; entry 2: the rest, RWX.
    const m = await Machine.create();
    m.boot(
      [
        li('s0', DATA + 0x1000n),
        sd('a0', 's0', 0),
        li('s0', DATA + 0xff8n),
        ld('a1', 's0', 0),
        sd('a1', 's0', 0),
        ebreak(),
      ],
      { priv: PRIV_S, openPmp: false },
    );
    m.hart.setField(L.PMPADDR, DATA >> 2n);
    m.hart.setField(L.PMPADDR + 8, (DATA + 0x1000n) >> 2n);
    m.hart.setField(L.PMPADDR + 16, (1n << 54n) - 1n);
    m.hart.setField(L.PMPCFG, ((PMP_TOR | 7n) << 16n) | ((PMP_TOR | PMP_R) << 8n) | (PMP_TOR | 7n));
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.storeAccess, tval: DATA + 0xff8n });
  });

  it('an access that straddles two entries fails', async () => {
    // Entry 0: NA4 at DATA+4 RW; entry 1: everything RWX. An 8-byte load at DATA matches entry 0 only in part.
    const m = await Machine.create();
    m.boot([li('s0', DATA), ld('a0', 's0', 0), ebreak()], { priv: PRIV_S, openPmp: false });
    m.hart.setField(L.PMPADDR, (DATA + 4n) >> 2n);
    m.hart.setField(L.PMPADDR + 8, (1n << 54n) - 1n);
    m.hart.setField(L.PMPCFG, ((PMP_NAPOT | 7n) << 8n) | ((2n << 3n) | PMP_R | PMP_W));
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.loadAccess, tval: DATA });
  });

  it('a page-table walk denied by PMP is an access fault for the original access', async () => {
    const m = await Machine.create(RAM);
    const pt = new PageTables(m, 'sv39');
    pt.map(0x8000_0000n, 0x8000_0000n, RWXAD, 2);
    pt.map(VA, DATA, RWAD);
    m.boot([li('s0', VA), ld('a0', 's0', 0), ebreak()], { priv: PRIV_S, openPmp: false });
    m.setCsr('satp', pt.satp);
    // Entry 0: the leaf table's page (the third table page allocated) without R; entry 1: all RWX.
    const leafTable = pt.pteAddress(VA) & ~0xfffn;
    m.hart.setField(L.PMPADDR, napot(leafTable, 0x1000n));
    m.hart.setField(L.PMPADDR + 8, (1n << 54n) - 1n);
    m.hart.setField(L.PMPCFG, ((PMP_NAPOT | 7n) << 8n) | PMP_NAPOT);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.loadAccess, tval: VA });
  });

  it('PMP changes made by M take effect for S at once', async () => {
    // S loads DATA (allowed), ecalls; M removes R from entry 0 and returns; S loads again: denied.
    const m = await pmpMachine(
      [li('s0', DATA), ld('a0', 's0', 0), A.ecall(), ld('a1', 's0', 0), ebreak()],
      PMP_NAPOT | PMP_R,
    );
    const handler = 0x8000_3000n;
    m.place(handler, [
      li('t0', 0xffn),
      csrc('pmpcfg0', 't0'),
      li('t0', PMP_NAPOT),
      csrs('pmpcfg0', 't0'),
      A.csrr('t0', 'mepc'),
      A.addi('t0', 't0', 4),
      csrw('mepc', 't0'),
      li('t0', 0x8000_0000n),
      csrw('mtvec', 't0'),
      A.mret(),
    ]);
    m.setCsr('mtvec', handler);
    m.write64(DATA, 9n);
    const trap = m.runToTrap();
    expect(m.x('a0')).toBe(9n);
    expect(trap).toMatchObject({ cause: CAUSE.loadAccess, tval: DATA });
  });
});

// ---- the physical bus --------------------------------------------------------------------------------

describe('physical accesses outside RAM go to the bus', () => {
  const DEV = 0x1000_0000;

  it('loads and stores of every width reach the device with their size', async () => {
    const m = await Machine.create();
    const reg = m.bus.register(DEV, 0x8877_6655_4433_2211n);
    m.boot([
      li('s0', BigInt(DEV)),
      A.lb('a0', 's0', 1),
      A.lhu('a1', 's0', 2),
      A.lw('a2', 's0', 4),
      ld('a3', 's0', 0),
      li('t0', 0xabn),
      A.sb('t0', 's0', 7),
      ebreak(),
    ]);
    m.runToEbreak();
    expect(m.x('a0')).toBe(0x22n);
    expect(m.x('a1')).toBe(0x4433n);
    expect(m.x('a2')).toBe(0xffff_ffff_8877_6655n);
    expect(m.x('a3')).toBe(0x8877_6655_4433_2211n);
    expect(reg.value).toBe(0xab77_6655_4433_2211n);
    expect(m.bus.accesses.map((a) => [a.kind, a.addr - DEV, a.size])).toEqual([
      ['read', 1, 1],
      ['read', 2, 2],
      ['read', 4, 4],
      ['read', 0, 8],
      ['write', 7, 1],
    ]);
  });

  it('a load where no device answers is a load access fault; a store a store access fault', async () => {
    const m = await Machine.boot([li('s0', 0x3000_0000n), ld('a0', 's0', 8), ebreak()]);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.loadAccess, tval: 0x3000_0008n });
    const s = await Machine.boot([li('s0', 0x3000_0000n), sd('a0', 's0', 8), ebreak()]);
    expect(s.runToTrap()).toMatchObject({ cause: CAUSE.storeAccess, tval: 0x3000_0008n });
  });

  it('code outside RAM (the boot ROM) is fetched through the bus', async () => {
    const m = await Machine.create();
    const rom = A.assemble([A.addi('a0', 0, 42), li('t0', CODE + 4n), A.jalr(0, 't0', 0)]);
    m.bus.map(0x1000, 0x100, {
      executable: true,
      read: (off, size) => {
        let v = 0n;
        for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(rom[off + i] ?? 0);
        return v;
      },
    });
    m.boot([ebreak(), ebreak()]);
    m.resumeAt(0x1000n);
    m.runToEbreak();
    expect(m.x('a0')).toBe(42n);
    expect(m.csr('mepc')).toBe(CODE + 4n);
  });

  it('fetching from a device that holds no code is an instruction access fault; loading from it is not', async () => {
    // QEMU's virt raises an instruction access fault for a jump into the CLINT; the register still reads.
    const m = await Machine.create();
    m.bus.map(0x200_0000, 0x1_0000, { read: () => 0x13n });
    m.boot([li('t0', 0x200_0000n), A.lw('a0', 't0', 0), A.jalr(0, 't0', 0)]);
    expect(m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.fetchAccess, epc: 0x200_0000n, tval: 0x200_0000n });
    expect(m.x('a0')).toBe(0x13n);
  });

  it('fetching where nothing answers is an instruction access fault', async () => {
    const m = await Machine.boot([li('t0', 0x3000_0000n), A.jalr(0, 't0', 0)]);
    expect(m.runToTrap()).toEqual({ level: 'M', cause: CAUSE.fetchAccess, epc: 0x3000_0000n, tval: 0x3000_0000n });
  });

  it('physical addresses beyond 56 bits are access faults', async () => {
    const m = await Machine.boot([li('s0', 0x0100_0000_8000_0000n), ld('a0', 's0', 0), ebreak()]);
    expect(m.runToTrap()).toMatchObject({ cause: CAUSE.loadAccess, tval: 0x0100_0000_8000_0000n });
  });
});

describe('delegated page faults', () => {
  it.each([
    ['load', CAUSE.loadPageFault, [li('s0', VA + 0x10n), ld('a0', 's0', 0)]],
    ['store', CAUSE.storePageFault, [li('s0', VA + 0x10n), sd('a0', 's0', 0)]],
    ['fetch', CAUSE.fetchPageFault, [li('s0', VA + 0x10n), A.jalr(0, 's0', 0)]],
  ] as const)('a %s page fault delegated to S reports stval = the address', async (_n, cause, code) => {
    const v = await vm('sv39', true);
    // RAM's identity mapping is a U page here, which S may not execute: reach the harness's S handler
    // through a supervisor alias instead.
    const S_ALIAS = 0xc000_0000n;
    v.pt.map(S_ALIAS, 0x8000_0000n, RWXAD);
    start(v, [...code, ebreak()], PRIV_U);
    v.m.setCsr('medeleg', 1n << cause);
    v.m.setCsr('stvec', S_ALIAS + 0x100n);
    const r = v.m.runToHalt();
    expect(r.stop).toBe(L.STOP_WFI);
    expect(v.m.pc).toBe(S_ALIAS + 0x104n); // after the S handler's wfi
    expect(v.m.privilege).toBe(PRIV_S);
    expect([v.m.csr('scause'), v.m.csr('stval')]).toEqual([cause, VA + 0x10n]);
    expect(v.m.csr('mcause')).toBe(0n);
  });
});
