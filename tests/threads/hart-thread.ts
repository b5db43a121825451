/** The hart's worker thread of tests/harts-threads.test.ts: hart 0, its MMIO through the mailbox. */
import { parentPort, workerData } from 'node:worker_threads';
import { HartRunner } from '../../workers/machine/hart-runner.ts';
import { MailboxBus } from '../../workers/machine/mmio-mailbox.ts';
import { runHart, sharedGuestClock } from '../../workers/machine/threads.ts';
import { MEMORY_MAP } from '../../workers/machine/memory-map.ts';
import type { ThreadData, ThreadMessage } from './thread-data.ts';

const data = workerData as ThreadData;
const runner = new HartRunner({
  coreModule: data.coreModule,
  memory: data.memory,
  hartId: 0,
  ramSize: data.files.ramSize,
  bus: new MailboxBus(data.memory, 0),
  clock: sharedGuestClock(data.memory),
});
runner.reset(BigInt(MEMORY_MAP.bootRom.base), undefined);
runHart(runner, data.memory);
parentPort!.postMessage({ kind: 'hart-stopped', instret: runner.hart.instret } satisfies ThreadMessage);
