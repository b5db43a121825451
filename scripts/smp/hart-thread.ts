/**
 * A hart's worker thread in Node (the VM runtime's RuntimeHost.spawnHart, scripts/vm-node-worker.ts).
 * TABVM_JIT_THRESHOLD=N (tests): translate a block after N executions, 0 = interpreter only.
 */
import { workerData } from 'node:worker_threads';
import { runHartThread, type HartThreadData } from '../../workers/machine/threads.ts';

const data = workerData as HartThreadData;
const threshold = process.env.TABVM_JIT_THRESHOLD;
if (threshold !== undefined && !/^\d+$/.test(threshold)) {
  throw new Error(`TABVM_JIT_THRESHOLD=${threshold}: a number of executions, 0 for the interpreter only`);
}
runHartThread(threshold === undefined ? data : { ...data, jitThreshold: Number(threshold) });
