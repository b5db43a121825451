/**
 * A hart's Worker in the browser: started by the VM's worker (workers/vm.worker.ts) for each hart of a
 * VM with more than one (docs/harts.md), over the VM's shared memory. It blocks in Atomics.wait (MMIO
 * round trips, WFI), which a dedicated Worker may; it runs until the machine halts and is then terminated.
 */
import { runHartThread, type HartThreadData } from './machine/threads.ts';

self.onmessage = (event: MessageEvent<HartThreadData>) => {
  self.onmessage = null;
  runHartThread(event.data);
};
