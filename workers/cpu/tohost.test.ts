// The bare-metal tohost word: every kind of store that writes it ends run() right after that store
// (STOP_TOHOST), so the runner stops where a program reports — plain, FP and compressed stores, each
// AMO, and a successful SC. Stores that do not write it (a failed SC, the next word) do not stop.
// tests/baremetal.test.ts runs the same kinds as whole programs on the machine.
import { describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item } from './test-support/asm.ts';
import * as L from './layout.ts';
import { CODE, DATA, MSTATUS, Machine } from './test-support/machine.ts';

const { c, li } = A;
const TOHOST = DATA;
const MARK = A.addi('a2', 0, 5);

// Before the store: a0 = the value, a1 = sp = tohost's address (registers compressed stores can name),
// fa0 = the value as a double, fa1 as a NaN-boxed single.
const SETUP: Item[] = [li('a0', 1), li('a1', TOHOST), A.mv('sp', 'a1'), A.fmv_d_x(10, 'a0'), A.fmv_w_x(11, 'a0')];

const amo = (name: keyof typeof A.AMO_FUNCT5, width: 'w' | 'd'): [string, Item[], bigint] => [
  `${name}.${width}`,
  [A.amo(A.AMO_FUNCT5[name], width, 0, 'a0', 'a1')],
  // tohost holds 3 before each AMO: the value it leaves is op(3, 1).
  { amoswap: 1n, amoadd: 4n, amoxor: 2n, amoand: 1n, amoor: 3n, amomin: 1n, amomax: 3n, amominu: 1n, amomaxu: 3n }[
    name
  ],
];

/** [name, the store (after SETUP), tohost's 8 bytes afterwards when they held 3 before] */
const STORES: [string, Item[], bigint][] = [
  ['sd', [A.sd('a0', 'a1', 0)], 1n],
  ['sw', [A.sw('a0', 'a1', 0)], 1n],
  ['sh', [A.sh('a0', 'a1', 0)], 1n],
  ['sb', [A.sb('a0', 'a1', 0)], 1n],
  [
    'sd to the word before, 4 bytes into tohost (misaligned)',
    [li('a0', 0x0000_0007_0000_0000n), A.sd('a0', 'a1', -4)],
    7n,
  ],
  ['fsd', [A.fsd(10, 'a1', 0)], 1n],
  ['fsw', [A.fsw(11, 'a1', 0)], 1n],
  ['c.sd a0, 0(a1)', [c(0xe188)], 1n],
  ['c.sw a0, 0(a1)', [c(0xc188)], 1n],
  ['c.fsd fa0, 0(a1)', [c(0xa188)], 1n],
  ['c.sdsp a0, 0(sp)', [c(0xe02a)], 1n],
  ['c.swsp a0, 0(sp)', [c(0xc02a)], 1n],
  ['c.fsdsp fa0, 0(sp)', [c(0xa02a)], 1n],
  ...(['w', 'd'] as const).flatMap((width) =>
    (['amoswap', 'amoadd', 'amoxor', 'amoand', 'amoor', 'amomin', 'amomax', 'amominu', 'amomaxu'] as const).map(
      (name) => amo(name, width),
    ),
  ),
  ['lr.d + sc.d', [A.lr_d('a3', 'a1'), A.sc_d('a3', 'a0', 'a1')], 1n],
  ['lr.w + sc.w', [A.lr_w('a3', 'a1'), A.sc_w('a3', 'a0', 'a1')], 1n],
];

async function boot(store: readonly Item[]): Promise<Machine> {
  const m = await Machine.boot([...SETUP, ...store, MARK, A.ebreak()]);
  m.setCsr('mstatus', m.csr('mstatus') | MSTATUS.FS);
  m.write64(TOHOST, 3n);
  m.hart.setField(L.TOHOST_ADDR, TOHOST);
  return m;
}

describe('stores to the tohost word', () => {
  it.each(STORES)('%s stops run() right after it', async (_name, store, after) => {
    const m = await boot(store);
    const r = m.run(1000);
    expect(r.stop).toBe(L.STOP_TOHOST);
    expect(m.pc).toBe(CODE + BigInt(A.sizeOf([...SETUP, ...store])));
    expect(m.x('a2')).toBe(0n);
    expect(m.read64(TOHOST)).toBe(after);
  });

  it.each<[string, Item[]]>([
    ['a failed sc.d (no reservation)', [A.sc_d('a3', 'a0', 'a1')]],
    ['a failed sc.w (no reservation)', [A.sc_w('a3', 'a0', 'a1')]],
    ['sd to the next word', [A.sd('a0', 'a1', 8)]],
    ['amoswap.d on the next word', [A.addi('a1', 'a1', 8), A.amoswap_d(0, 'a0', 'a1')]],
    ['ld of tohost', [A.ld('a3', 'a1', 0)]],
  ])('%s does not stop run()', async (_name, store) => {
    const m = await boot(store);
    m.runToEbreak();
    expect(m.x('a2')).toBe(5n);
    expect(m.read64(TOHOST)).toBe(3n);
  });
});
