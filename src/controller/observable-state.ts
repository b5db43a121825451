/**
 * A value that React reads with useSyncExternalStore: `subscribe` and `get` are bound (pass them as they
 * are), and every change makes a new object, so the snapshot React compares changes exactly when the
 * state does. VmController, the VM library and the snapshot shelf each keep their state in one.
 */
export class ObservableState<T extends object> {
  #value: T;
  readonly #listeners = new Set<() => void>();

  constructor(initial: T) {
    this.#value = initial;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly get = (): T => this.#value;

  /** Replaces the value and tells every listener. */
  set(value: T): void {
    this.#value = value;
    for (const listener of this.#listeners) listener();
  }

  /** A new value with `patch`'s fields changed. */
  update(patch: Partial<T>): void {
    this.set({ ...this.#value, ...patch });
  }

  /** Forgets every listener (the owner is gone). */
  clear(): void {
    this.#listeners.clear();
  }
}
