// AMOs and LR/SC from harts in different threads over one memory (docs/harts.md "Memory model"): every
// hart's core does them as wasm atomics, so no increment is lost however the threads interleave. Each
// hart adds 1 to three counters many times over: with amoadd.d, with amoadd.w, and with an lr.d/sc.d loop.
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { createVmMemory } from '../../workers/cpu/core.ts';
import * as L from '../../workers/cpu/layout.ts';
import * as A from '../../workers/cpu/test-support/asm.ts';
import type { Item } from '../../workers/cpu/test-support/asm.ts';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const RAM = 4 << 20;
const CODE = BigInt(L.DRAM_BASE) + 0x1000n;
const DATA = BigInt(L.DRAM_BASE) + 0x10_0000n;
const ROUNDS = 100_000;
const HARTS = 3;

const retry: Item[] = [A.lr_d('a0', 'a1'), A.addi('a0', 'a0', 1), A.sc_d('a2', 'a0', 'a1')];
const loop: Item[] = [
  A.amoadd_d('zero', 't0', 's0'),
  A.amoadd_w('zero', 't0', 'a3'),
  ...retry,
  A.bne('a2', 'zero', -A.sizeOf(retry)),
  A.addi('s1', 's1', -1),
];
const program: Item[] = [
  ...A.li('s0', DATA),
  A.addi('a1', 's0', 8),
  A.addi('a3', 's0', 16),
  ...A.li('s1', ROUNDS),
  ...A.li('t0', 1),
  ...loop,
  A.bne('s1', 'zero', -(A.sizeOf(loop))),
  A.wfi(),
];

describe('atomics across hart threads', () => {
  it(`lose no increment: ${HARTS} harts, each adding 1 ${ROUNDS} times with amoadd.d, amoadd.w and lr.d/sc.d`, async () => {
    const memory = createVmMemory(RAM, true);
    const ram = new DataView(memory.buffer, L.RAM_OFFSET, RAM);
    const code = A.assemble(program);
    new Uint8Array(memory.buffer, L.RAM_OFFSET + Number(CODE - BigInt(L.DRAM_BASE)), code.length).set(code);
    const coreModule = new WebAssembly.Module(readFileSync(resolve(root, 'workers/cpu/build/core.wasm')));
    const workers = Array.from(
      { length: HARTS },
      (_, hartId) =>
        new Worker(new URL('./entry.mjs', import.meta.url), {
          workerData: {
            program: new URL('./amo-hart-thread.ts', import.meta.url).href,
            memory,
            coreModule,
            hartId,
            ramSize: RAM,
            harts: HARTS,
            pc: CODE,
          },
        }),
    );
    try {
      const results = await Promise.all(
        workers.map(
          (worker) =>
            new Promise<{ stop: number }>((done, fail) => {
              worker.once('message', done);
              worker.once('error', fail);
            }),
        ),
      );
      for (const result of results) expect(result.stop).toBe(L.STOP_WFI);
      const at = Number(DATA - BigInt(L.DRAM_BASE));
      expect(ram.getBigUint64(at, true)).toBe(BigInt(HARTS * ROUNDS));
      expect(ram.getBigUint64(at + 8, true)).toBe(BigInt(HARTS * ROUNDS));
      expect(ram.getUint32(at + 16, true)).toBe(HARTS * ROUNDS);
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  }, 120_000);
});
