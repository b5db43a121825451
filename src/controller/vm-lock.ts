/**
 * One tab per VM (issue 15 item 2): a VM runs only in the tab that holds its Web Lock
 * (`tabvm-vm-<id>`, exclusive), from before its worker starts until it is powered off; the browser frees
 * the lock when that tab closes, crashes or is killed. Other tabs show the VM as running elsewhere. They
 * learn of changes from a BroadcastChannel notice when a tab takes or lets go of a lock, and by asking
 * `navigator.locks.query()` when the page regains focus or becomes visible, and every few seconds while
 * a VM is shown as elsewhere (a tab that was killed sends no notice).
 *
 * The holder is also the tab that answers a request to move the VM to another tab ("Move here",
 * vm-migration.ts, over a channel of its own); the lock decides which tab runs it during a move.
 *
 * Where the Web Locks API is missing (an insecure origin, an old browser), every claim succeeds and no VM
 * is ever shown as elsewhere: the behaviour before locks, which `supported` lets the page say.
 */
import { ObservableState } from './observable-state.ts';

/** The parts of the Web Locks API this uses (the page hands in navigator.locks; a test, a stand-in). */
export interface LockApi {
  request(
    name: string,
    options: { ifAvailable?: boolean; signal?: AbortSignal },
    callback: (lock: unknown) => Promise<void> | void,
  ): Promise<unknown>;
  query(): Promise<{ held?: readonly { name?: string }[] }>;
}

/** What a tab tells the others on the channel. */
interface LockNotice {
  readonly type: 'taken' | 'released';
  readonly vmId: string;
}

export const LOCK_PREFIX = 'tabvm-vm-';
const CHANNEL = 'tabvm-vm-locks';
/** How often the held locks are asked for while a VM is shown as elsewhere. */
export const ELSEWHERE_POLL_MS = 2000;

export interface LockState {
  /** VM ids whose lock another tab holds. */
  readonly elsewhere: ReadonlySet<string>;
}

export class VmLocks {
  readonly #api: LockApi | undefined;
  readonly #channel: BroadcastChannel | undefined;
  /** Locks this tab holds: vmId → the release of its callback's promise. */
  readonly #held = new Map<string, () => void>();
  /** Claims under way: a second claim of the same VM (a move here while a resume waits) shares the first's request. */
  readonly #pending = new Map<string, Promise<boolean>>();
  readonly #state = new ObservableState<LockState>({ elsewhere: new Set() });
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(api: LockApi | undefined = globalThis.navigator?.locks, channel?: BroadcastChannel) {
    this.#api = api;
    this.#channel = channel ?? (typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : undefined);
    this.#channel?.addEventListener('message', () => void this.refresh());
  }

  readonly subscribe = this.#state.subscribe;
  readonly getSnapshot = this.#state.get;

  /** Whether the browser has Web Locks (without them, two tabs can run one VM). */
  get supported(): boolean {
    return this.#api !== undefined;
  }

  holds(vmId: string): boolean {
    return this.#held.has(vmId);
  }

  /**
   * Takes the VM's lock for this tab: true once held (at once if this tab holds it already), false if
   * another tab holds it — at once, or after waiting up to `waitMs` for it to be let go (a reloaded
   * tab's old page may still be closing).
   */
  async claim(vmId: string, waitMs = 0): Promise<boolean> {
    if (this.#held.has(vmId)) return true;
    const pending = this.#pending.get(vmId);
    if (pending && (await pending)) return true;
    const api = this.#api;
    if (!api) return true;
    const claimed = this.#request(api, vmId, waitMs);
    this.#pending.set(vmId, claimed);
    try {
      return await claimed;
    } finally {
      if (this.#pending.get(vmId) === claimed) this.#pending.delete(vmId);
    }
  }

  async #request(api: LockApi, vmId: string, waitMs: number): Promise<boolean> {
    const options = waitMs > 0 ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
    const granted = await new Promise<boolean>((resolve) => {
      api
        .request(LOCK_PREFIX + vmId, options, (lock) => {
          if (!lock) {
            resolve(false);
            return;
          }
          // The lock is held until this promise settles: release() settles it.
          return new Promise<void>((release) => {
            this.#held.set(vmId, release);
            resolve(true);
          });
        })
        .catch(() => resolve(false));
    });
    if (granted) this.#notify({ type: 'taken', vmId });
    await this.refresh();
    return granted;
  }

  /** Lets the VM's lock go (it was powered off or deleted); other tabs are told. */
  release(vmId: string): void {
    const release = this.#held.get(vmId);
    if (!release) return;
    this.#held.delete(vmId);
    release();
    this.#notify({ type: 'released', vmId });
  }

  #notify(notice: LockNotice): void {
    this.#channel?.postMessage(notice);
  }

  /** Asks the browser which VM locks are held, and by whom (this tab or another). */
  async refresh(): Promise<void> {
    if (!this.#api) return;
    let held: readonly { name?: string }[];
    try {
      held = (await this.#api.query()).held ?? [];
    } catch {
      return;
    }
    const elsewhere = new Set<string>();
    for (const lock of held) {
      if (!lock.name?.startsWith(LOCK_PREFIX)) continue;
      const vmId = lock.name.slice(LOCK_PREFIX.length);
      if (!this.#held.has(vmId)) elsewhere.add(vmId);
    }
    const before = this.#state.get().elsewhere;
    if (before.size !== elsewhere.size || [...elsewhere].some((id) => !before.has(id))) this.#state.set({ elsewhere });
    this.#poll(elsewhere.size > 0);
  }

  #poll(on: boolean): void {
    if (on && this.#timer === undefined) this.#timer = setInterval(() => void this.refresh(), ELSEWHERE_POLL_MS);
    if (!on && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Refreshes when the page regains focus or becomes visible (the page hands in its window). */
  watch(target: Pick<Window, 'addEventListener'> & { readonly document: Pick<Document, 'addEventListener'> }): void {
    target.addEventListener('focus', () => void this.refresh());
    target.document.addEventListener('visibilitychange', () => void this.refresh());
    void this.refresh();
  }
}
