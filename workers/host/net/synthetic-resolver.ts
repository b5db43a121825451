/**
 * The browser's resolver: a page cannot ask DNS, so every well-formed name gets an address of its own
 * from 198.18.0.0/15, the range RFC 2544 reserves for benchmarking (never routed on the Internet, so it
 * cannot shadow a real host). The fetch gateway maps an address back to its name when a request has no
 * Host header. Names and addresses are remembered per network, the oldest forgotten past a cap.
 */
import { NameNotFound, type Resolver } from './dns.ts';
import { ipv4 } from './frames.ts';

export const SYNTHETIC_FIRST_ADDRESS = ipv4('198.18.0.1');
/** 198.18.0.0/15: 198.18.0.1 to 198.19.255.254. */
const SYNTHETIC_ADDRESS_COUNT = 2 ** 17 - 2;
const SYNTHETIC_NETMASK = ipv4('255.254.0.0');
const SYNTHETIC_NETWORK = ipv4('198.18.0.0');

/** Letters, digits, hyphens and underscores in dot-separated labels: what a URL's host may be. */
const HOST_NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

export function isSyntheticAddress(address: number): boolean {
  return (address & SYNTHETIC_NETMASK) >>> 0 === SYNTHETIC_NETWORK;
}

export class SyntheticResolver implements Resolver {
  readonly #addresses = new Map<string, number>();
  readonly #names = new Map<number, string>();
  readonly #maxNames: number;
  #next = 0;

  /** `maxNames` names are remembered (default 8192); a new one past that takes the oldest's address. */
  constructor(maxNames = 8192) {
    this.#maxNames = Math.min(maxNames, SYNTHETIC_ADDRESS_COUNT);
  }

  resolve4(name: string): Promise<number[]> {
    const key = name.toLowerCase();
    if (!HOST_NAME.test(key)) return Promise.reject(new NameNotFound(name));
    return Promise.resolve([this.addressOf(key)]);
  }

  /** The name an address was given for, if it is still remembered. */
  nameOf(address: number): string | undefined {
    return this.#names.get(address);
  }

  private addressOf(name: string): number {
    const known = this.#addresses.get(name);
    if (known !== undefined) return known;
    let address: number;
    if (this.#addresses.size >= this.#maxNames) {
      const [oldest, oldestAddress] = this.#addresses.entries().next().value!;
      this.#addresses.delete(oldest);
      address = oldestAddress;
    } else {
      address = SYNTHETIC_FIRST_ADDRESS + this.#next++;
    }
    this.#addresses.set(name, address);
    this.#names.set(address, name);
    return address;
  }
}
