/** One hart of tests/threads/amo-threads.test.ts: runs the program at `pc` in its own thread until its WFI. */
import { parentPort, workerData } from 'node:worker_threads';
import { Hart } from '../../workers/cpu/core.ts';
import * as L from '../../workers/cpu/layout.ts';

const { memory, coreModule, hartId, ramSize, harts, pc } = workerData as {
  memory: WebAssembly.Memory;
  coreModule: WebAssembly.Module;
  hartId: number;
  ramSize: number;
  harts: number;
  pc: bigint;
};
// The program touches only RAM: any MMIO is an access fault.
const hart = new Hart(coreModule, memory, hartId, ramSize, { read: () => undefined, write: () => false, fetch: () => undefined }, undefined, {
  harts,
});
hart.reset(pc);
for (let slice = 0; slice < 100_000 && hart.stopReason !== L.STOP_WFI; slice++) hart.run(10_000);
parentPort!.postMessage({ stop: hart.stopReason, instret: hart.instret });
