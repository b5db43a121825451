/**
 * Live resource figures, as a VM manager shows them: per VM, a sample a second of its host CPU use (%
 * of one core, from its worker threads' own time: VmView.cpuPercent) and its disk bytes (downloaded
 * from the image's server and written to the browser's storage), kept for HISTORY_SECONDS for a chart;
 * and the page's totals. Guest memory in use is not among them: it needs the guest to report it
 * (virtio-balloon statistics), which tabvm's machine does not have (docs/app.md).
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
}

/** A VM's chart data: x in seconds, CPU in %, disk traffic in KiB/s (downloads and writes together). */
export type ResourceSeries = [at: number[], cpuPercent: number[], diskKiBps: number[]];

export interface ResourceTotals {
  readonly cpuPercent: number;
  readonly downloadedBytes: number;
  readonly writtenBytes: number;
}

/** What is sampled of each VM. */
export interface SampledVm {
  readonly id: string;
  readonly view: Pick<VmView, 'phase' | 'cpuPercent' | 'disk'>;
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
   * The VM's chart: CPU as sampled, disk traffic as the rate between samples (a counter that went back,
   * as at a new start, counts from 0).
   */
  series(vmId: string): ResourceSeries {
    const list = this.#samples.get(vmId) ?? [];
    const at: number[] = [];
    const cpu: number[] = [];
    const disk: number[] = [];
    list.forEach((sample, i) => {
      at.push(sample.at);
      cpu.push(sample.cpuPercent);
      const previous = list[i - 1];
      if (!previous || sample.at <= previous.at) {
        disk.push(0);
        return;
      }
      const moved = (now: number, before: number) => (now >= before ? now - before : now);
      const bytes =
        moved(sample.downloadedBytes, previous.downloadedBytes) + moved(sample.writtenBytes, previous.writtenBytes);
      disk.push(bytes / 1024 / (sample.at - previous.at));
    });
    return [at, cpu, disk];
  }

  /** The page's totals from each VM's latest sample. */
  totals(): ResourceTotals {
    let cpuPercent = 0;
    let downloadedBytes = 0;
    let writtenBytes = 0;
    for (const list of this.#samples.values()) {
      const last = list.at(-1);
      if (!last) continue;
      cpuPercent += last.cpuPercent;
      downloadedBytes += last.downloadedBytes;
      writtenBytes += last.writtenBytes;
    }
    return { cpuPercent, downloadedBytes, writtenBytes };
  }
}

/** Samples the library's VMs every SAMPLE_INTERVAL_MS while started; returns the stop. */
export function sampleEverySecond(history: ResourceHistory, vms: () => readonly SampledVm[]): () => void {
  const timer = setInterval(() => history.sample(vms(), Date.now()), SAMPLE_INTERVAL_MS);
  return () => clearInterval(timer);
}
