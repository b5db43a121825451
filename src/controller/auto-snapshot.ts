/**
 * When a running VM's automatic snapshot is due (docs/snapshots.md, "Nothing lost"): only when the
 * guest has changed since the last one, judged by what the page sees of it without asking the worker:
 * console output (a person typing is echoed), and guest instructions beyond what an idle guest retires
 * (a silent job writing a file). A guest at its prompt retires few instructions between timer ticks,
 * so it is not captured again and again; the capture (~50 ms of guest pause for a child) is then spent
 * only on work that would otherwise be lost.
 */
import type { ConsoleEndpoint, VmView } from './vm-controller.ts';

/**
 * Millions of guest instructions per second below which a VM counts as idle. Measured (docs/snapshots.md):
 * Linux at its prompt retires well under it, and the smallest job (a shell loop that writes a file and
 * sleeps a second) well over it on average.
 */
export const IDLE_MIPS = 1;

/** What the meter watches of a VM: its view (MIPS once a second) and its console's output. */
export interface MeteredVm {
  readonly subscribe: (listener: () => void) => () => void;
  readonly getView: () => Pick<VmView, 'phase' | 'mips'>;
  readonly console: Pick<ConsoleEndpoint, 'subscribe'>;
}

/**
 * Counts a VM's activity since its last capture. `changed` says whether a capture now would hold
 * anything an idle guest would not have changed.
 */
export class ActivityMeter {
  #outputBytes = 0;
  /** Millions of instructions retired beyond the idle rate, summed over the view's samples. */
  #busyInstructions = 0;
  #lastSample: number | undefined;
  #started = false;
  readonly #unsubscribe: (() => void)[] = [];

  constructor(
    vm: MeteredVm,
    private readonly now: () => number = () => performance.now(),
  ) {
    // A VM met already running may have changed since whatever is stored: its first capture is due.
    const phase = vm.getView().phase;
    if (phase === 'running' || phase === 'paused') {
      this.#started = true;
      this.#outputBytes = 1;
    }
    // The console hands over what it printed so far first: that is no change since a capture.
    let replaying = true;
    this.#unsubscribe.push(
      vm.console.subscribe((bytes) => {
        if (!replaying) this.#outputBytes += bytes.length;
      }),
    );
    replaying = false;
    this.#unsubscribe.push(
      vm.subscribe(() => {
        const view = vm.getView();
        const at = this.now();
        if (view.phase === 'running') {
          if (this.#lastSample !== undefined) {
            const seconds = (at - this.#lastSample) / 1000;
            this.#busyInstructions += Math.max(0, view.mips - IDLE_MIPS) * seconds;
          }
          // A VM that has just started or been restored has a state no capture holds yet.
          if (!this.#started) this.#outputBytes += 1;
          this.#started = true;
          this.#lastSample = at;
        } else {
          if (view.phase !== 'paused') this.#started = false;
          this.#lastSample = undefined;
        }
      }),
    );
  }

  get changed(): boolean {
    return this.#outputBytes > 0 || this.#busyInstructions >= IDLE_MIPS;
  }

  /** A capture began: what changes from now on is the next one's. */
  captured(): void {
    this.#outputBytes = 0;
    this.#busyInstructions = 0;
  }

  /** A capture failed: its change is still not stored. */
  failed(): void {
    this.#outputBytes += 1;
  }

  dispose(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }
}
