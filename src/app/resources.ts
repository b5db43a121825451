/**
 * Live resource figures, as a VM manager shows them: per VM, a sample a second of its host CPU use (%
 * of one core, from its worker threads' own time: VmView.cpuPercent), its disk bytes (downloaded
 * from the image's server and written to the browser's storage), its network card's bytes (received
 * and sent, VmView.net) and the guest's memory in use as its guest agent reports it (VmView.guestMemory),
 * kept for HISTORY_SECONDS for a chart; and the page's totals.
 */
import { ObservableState } from '../controller/observable-state.ts';
import type { VmView } from '../controller/vm-controller.ts';

/** How long a VM's chart reaches back. */
export const HISTORY_SECONDS = 300;
/** How often every VM is sampled. */
export const SAMPLE_INTERVAL_MS = 1000;

export interface ResourceSample {
  /** Seconds since the epoch (uPlot's x axis). */
  readonly at: number;
  readonly cpuPercent: number;
  /** Bytes so far in this run (they start again at 0 with the next start). */
  readonly downloadedBytes: number;
  readonly writtenBytes: number;
  readonly receivedBytes: number;
  readonly sentBytes: number;
  /** The guest's memory in use (MemTotal − MemAvailable) and MemTotal; undefined while it is not known. */
  readonly memory: { readonly usedBytes: number; readonly totalBytes: number } | undefined;
}

/**
 * A VM's chart data: x in seconds, CPU in %, disk traffic (downloads and writes together) and network
 * traffic (received and sent together) in KiB/s, and the guest's memory in use in % of its total (null
 * where it was not known: a gap in the line).
 */
export type ResourceSeries = [
  at: number[],
  cpuPercent: number[],
  diskKiBps: number[],
  netKiBps: number[],
  memoryPercent: (number | null)[],
];

export interface ResourceTotals {
  readonly cpuPercent: number;
  readonly downloadedBytes: number;
  readonly writtenBytes: number;
  readonly receivedBytes: number;
  readonly sentBytes: number;
  /** The guest memory in use of the VMs whose agents report it. */
  readonly memoryUsedBytes: number;
}

/** What is sampled of each VM. */
export interface SampledVm {
  readonly id: string;
  readonly view: Pick<VmView, 'phase' | 'cpuPercent' | 'disk' | 'net'> & Partial<Pick<VmView, 'guestMemory'>>;
}

export class ResourceHistory {
  readonly #samples = new Map<string, ResourceSample[]>();
  readonly #state = new ObservableState({ version: 0 });
  readonly subscribe = this.#state.subscribe;
  /** Changes at every sample (for useSyncExternalStore). */
  readonly getVersion = (): number => this.#state.get().version;

  /** Records a sample of each VM at `nowMs` (ms since the epoch); a VM that is not running records 0 % CPU. */
  sample(vms: readonly SampledVm[], nowMs: number): void {
    const at = nowMs / 1000;
    const ids = new Set<string>();
    for (const { id, view } of vms) {
      ids.add(id);
      const live = view.phase === 'running' || view.phase === 'paused';
      const list = this.#samples.get(id) ?? [];
      list.push({
        at,
        cpuPercent: live ? view.cpuPercent : 0,
        downloadedBytes: view.disk?.downloadedBytes ?? 0,
        writtenBytes: view.disk?.writtenBytes ?? 0,
        receivedBytes: view.net?.receivedBytes ?? 0,
        sentBytes: view.net?.sentBytes ?? 0,
        memory:
          live && view.guestMemory
            ? {
                usedBytes: view.guestMemory.totalBytes - view.guestMemory.availableBytes,
                totalBytes: view.guestMemory.totalBytes,
              }
            : undefined,
      });
      while (list.length > 0 && list[0]!.at < at - HISTORY_SECONDS) list.shift();
      this.#samples.set(id, list);
    }
    // A deleted VM's history goes with it.
    for (const id of [...this.#samples.keys()]) if (!ids.has(id)) this.#samples.delete(id);
    this.#state.update({ version: this.#state.get().version + 1 });
  }

  latest(vmId: string): ResourceSample | undefined {
    return this.#samples.get(vmId)?.at(-1);
  }

  /**
   * The VM's chart: CPU as sampled, disk and network traffic as the rate between samples (a counter
   * that went back, as at a new start, counts from 0).
   */
  series(vmId: string): ResourceSeries {
    const list = this.#samples.get(vmId) ?? [];
    const at: number[] = [];
    const cpu: number[] = [];
    const disk: number[] = [];
    const net: number[] = [];
    const memory: (number | null)[] = [];
    list.forEach((sample, i) => {
      at.push(sample.at);
      cpu.push(sample.cpuPercent);
      memory.push(sample.memory ? (100 * sample.memory.usedBytes) / sample.memory.totalBytes : null);
      const previous = list[i - 1];
      if (!previous || sample.at <= previous.at) {
        disk.push(0);
        net.push(0);
        return;
      }
      const moved = (now: number, before: number) => (now >= before ? now - before : now);
      const kiBps = (bytes: number) => bytes / 1024 / (sample.at - previous.at);
      disk.push(
        kiBps(
          moved(sample.downloadedBytes, previous.downloadedBytes) + moved(sample.writtenBytes, previous.writtenBytes),
        ),
      );
      net.push(
        kiBps(moved(sample.receivedBytes, previous.receivedBytes) + moved(sample.sentBytes, previous.sentBytes)),
      );
    });
    return [at, cpu, disk, net, memory];
  }

  /** The page's totals from each VM's latest sample. */
  totals(): ResourceTotals {
    let cpuPercent = 0;
    let downloadedBytes = 0;
    let writtenBytes = 0;
    let receivedBytes = 0;
    let sentBytes = 0;
    let memoryUsedBytes = 0;
    for (const list of this.#samples.values()) {
      const last = list.at(-1);
      if (!last) continue;
      cpuPercent += last.cpuPercent;
      downloadedBytes += last.downloadedBytes;
      writtenBytes += last.writtenBytes;
      receivedBytes += last.receivedBytes;
      sentBytes += last.sentBytes;
      memoryUsedBytes += last.memory?.usedBytes ?? 0;
    }
    return { cpuPercent, downloadedBytes, writtenBytes, receivedBytes, sentBytes, memoryUsedBytes };
  }
}

/** Samples the library's VMs every SAMPLE_INTERVAL_MS while started; returns the stop. */
export function sampleEverySecond(history: ResourceHistory, vms: () => readonly SampledVm[]): () => void {
  const timer = setInterval(() => history.sample(vms(), Date.now()), SAMPLE_INTERVAL_MS);
  return () => clearInterval(timer);
}
