/** A hart's worker thread of the multi-hart runner: one hart, its MMIO through its mailbox. */
import { parentPort, workerData } from 'node:worker_threads';
import { HartRunner } from '../../workers/machine/hart-runner.ts';
import { MailboxBus } from '../../workers/machine/mmio-mailbox.ts';
import { runHart, sharedGuestClock } from '../../workers/machine/threads.ts';
import { MEMORY_MAP } from '../../workers/machine/memory-map.ts';
import { SLICE_INSTRUCTIONS } from '../../workers/machine/machine.ts';
import type { SmpThreadData, SmpThreadMessage } from './thread-data.ts';

const data = workerData as SmpThreadData;
const runner = new HartRunner({
  coreModule: data.coreModule,
  memory: data.memory,
  hartId: data.hartId,
  ramSize: data.files.ramSize,
  bus: new MailboxBus(data.memory, data.hartId),
  clock: sharedGuestClock(data.memory),
  harts: data.harts,
});
runner.reset(BigInt(MEMORY_MAP.bootRom.base), data.tohost);
runHart(runner, data.memory, data.tohost, SLICE_INSTRUCTIONS, data.harts);
parentPort!.postMessage({ kind: 'hart-stopped', hartId: data.hartId } satisfies SmpThreadMessage);
