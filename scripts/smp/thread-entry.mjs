// Entry of the multi-hart runner's worker threads: Node 20 does not apply tsx's loader to a worker's own
// entry module, so this plain module registers it and then imports the TypeScript program it was given.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.program);
