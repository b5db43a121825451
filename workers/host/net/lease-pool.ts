/**
 * Which DHCP addresses a user-mode network may give. Alone (Node, a page whose VMs stay in it) every one
 * of its 16 is its own: `localLeasePool`. When the VMs of several tabs of one origin share a wire
 * (cross-tab.ts), the addresses must be unique across the tabs, so a tab gives only addresses it holds
 * a Web Lock for (`LockLeasePool`): one lock per address, named by it, held while a guest of the tab
 * leases it. The browser releases a tab's locks when the tab closes, so a closed tab leaves no lease
 * behind. A lock is asked for asynchronously, but a DHCP server answers at once; so the pool keeps a
 * reserve of addresses already held for the next clients, and an address asked for that it does not
 * hold (a client rebooting with its old one) is `asking` until the lock answers: the server then stays
 * silent (RFC 2131 §4.3.2: in INIT-REBOOT "If the DHCP server has no record of this client, then it MUST
 * remain silent") and the client's retry gets the answer.
 */
import { ipv4ToString } from './frames.ts';

export type LeaseAnswer = 'yes' | 'no' | 'asking';

export interface LeasePool {
  /**
   * Whether the network may lease `address` now. With `ask`, an address the pool neither holds nor
   * knows to be another's is asked for (`asking` until the answer); without, only a held one is `yes`.
   */
  mayLease(address: number, ask: boolean): LeaseAnswer;
  /** `address` is leased to a guest of this network now (also one it had before, e.g. a restored guest's). */
  leased(address: number): void;
  /** `address` is no longer leased here. */
  released(address: number): void;
  /** Gives back everything held. */
  close(): void;
}

/** Every address is this network's own: the network's own lease table decides. */
export const localLeasePool: LeasePool = {
  mayLease: () => 'yes',
  leased() {},
  released() {},
  close() {},
};

/** The part of the Web Locks API (`navigator.locks`) the pool uses. */
export interface LockManagerLike {
  request(
    name: string,
    options: { readonly ifAvailable: true },
    callback: (lock: unknown) => Promise<void> | void,
  ): Promise<unknown>;
}

export interface LockLeasePoolOptions {
  readonly locks: LockManagerLike;
  /** The addresses the network gives, in order of preference. */
  readonly addresses: readonly number[];
  /** Held addresses kept free for the next clients (default 2). */
  readonly reserve?: number;
  /** How long an address found held elsewhere counts as taken before it is asked for again (default 5 s). */
  readonly retryMs?: number;
  /** A guest here uses an address another tab holds (a restored guest's, one set by hand). */
  readonly onConflict?: (address: number) => void;
}

/** The lock that stands for one address, for every tab of the origin. */
export function leaseLockName(address: number): string {
  return `tabvm-network-lease-${ipv4ToString(address)}`;
}

export class LockLeasePool implements LeasePool {
  readonly #locks: LockManagerLike;
  readonly #addresses: readonly number[];
  readonly #reserve: number;
  readonly #retryMs: number;
  readonly #onConflict: (address: number) => void;
  /** Addresses whose lock this tab holds, and how to let each go. */
  readonly #held = new Map<number, () => void>();
  readonly #leased = new Set<number>();
  readonly #pending = new Set<number>();
  /** Addresses another tab held when last asked, and when that was. */
  readonly #elsewhere = new Map<number, number>();
  #closed = false;

  constructor(options: LockLeasePoolOptions) {
    this.#locks = options.locks;
    this.#addresses = options.addresses;
    this.#reserve = options.reserve ?? 2;
    this.#retryMs = options.retryMs ?? 5000;
    this.#onConflict = options.onConflict ?? (() => {});
    this.#topUp();
  }

  /** Addresses whose lock this tab holds (leased or in reserve). */
  get held(): readonly number[] {
    return [...this.#held.keys()].sort((a, b) => a - b);
  }

  mayLease(address: number, ask: boolean): LeaseAnswer {
    if (this.#leased.has(address)) return 'no';
    if (this.#held.has(address)) return 'yes';
    if (this.#pending.has(address)) return 'asking';
    if (!ask || this.#takenElsewhere(address)) return 'no';
    this.#ask(address);
    return 'asking';
  }

  leased(address: number): void {
    this.#leased.add(address);
    if (!this.#held.has(address) && !this.#pending.has(address)) this.#ask(address);
    this.#topUp();
  }

  released(address: number): void {
    this.#leased.delete(address);
    if (this.#held.size - this.#leased.size > this.#reserve) {
      this.#held.get(address)?.();
      this.#held.delete(address);
    }
  }

  /** Forgets which addresses other tabs held: one of them is gone, its locks are free to ask for. */
  forgetElsewhere(): void {
    this.#elsewhere.clear();
    this.#topUp();
  }

  close(): void {
    this.#closed = true;
    for (const release of this.#held.values()) release();
    this.#held.clear();
    this.#leased.clear();
  }

  #takenElsewhere(address: number): boolean {
    const at = this.#elsewhere.get(address);
    return at !== undefined && Date.now() - at < this.#retryMs;
  }

  /** Holds enough free addresses for the next clients. */
  #topUp(): void {
    let free = [...this.#held.keys(), ...this.#pending].filter((address) => !this.#leased.has(address)).length;
    for (const address of this.#addresses) {
      if (free >= this.#reserve || this.#closed) return;
      if (this.#held.has(address) || this.#pending.has(address) || this.#takenElsewhere(address)) continue;
      this.#ask(address);
      free++;
    }
  }

  #ask(address: number): void {
    if (this.#closed) return;
    this.#pending.add(address);
    void this.#locks
      .request(leaseLockName(address), { ifAvailable: true }, (lock) => {
        this.#pending.delete(address);
        if (lock === null || this.#closed) {
          this.#elsewhere.set(address, Date.now());
          if (lock === null && this.#leased.has(address)) this.#onConflict(address);
          if (!this.#closed) this.#topUp();
          return;
        }
        this.#elsewhere.delete(address);
        // Held until released: the callback's promise is the lock's lifetime (Web Locks §4).
        return new Promise<void>((release) => this.#held.set(address, release));
      })
      .catch(() => {
        this.#pending.delete(address);
        this.#elsewhere.set(address, Date.now());
      });
  }
}
