/**
 * Asynchronous device work in flight (block requests waiting on their backend). The run loop must not
 * sleep in Atomics.wait while any is pending, since completions arrive on the worker's event loop; a
 * snapshot must wait until none is (the device state and RAM then agree).
 */
export class IoTracker {
  #pending = 0;
  #waiters: (() => void)[] = [];

  get pending(): number {
    return this.#pending;
  }

  /** Counts `work` as in flight until it settles (devices turn failures into a status for the guest). */
  track(work: Promise<void>): void {
    this.#pending++;
    const done = (): void => {
      this.#pending--;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    };
    void work.then(done, done);
  }

  /** Resolves after the next piece of work settles, or at once when nothing is in flight. */
  nextCompletion(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Resolves once nothing is in flight. */
  async quiescent(): Promise<void> {
    while (this.#pending > 0) await this.nextCompletion();
  }
}
