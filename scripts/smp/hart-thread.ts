/** A hart's worker thread in Node (the VM runtime's RuntimeHost.spawnHart, scripts/vm-node-worker.ts). */
import { workerData } from 'node:worker_threads';
import { runHartThread, type HartThreadData } from '../../workers/machine/threads.ts';

runHartThread(workerData as HartThreadData);
