/**
 * MMIO from a hart that runs in another thread than the devices: each hart has one mailbox in the VM
 * memory's shared block (layout.ts MMIO_MAILBOX), holding one request at a time. The hart's side
 * (MailboxBus, a PhysicalBus) writes the request, rings the device host's doorbell and sleeps in
 * Atomics.wait until the answer is there; the device host's side (MailboxServer) performs the access on
 * the real bus and hands the answer back. The core's mmioRead/mmioWrite imports are synchronous, so the
 * hart must block: a device access is a round trip between threads, as on hardware a load from a device
 * stalls the hart until the device answers.
 *
 * A mailbox, all fields read and written with atomics:
 *   +0  state  i32: MAILBOX_IDLE, MAILBOX_REQUEST (hart → host), MAILBOX_ANSWER (host → hart)
 *   +4  kind   i32: MAILBOX_READ, MAILBOX_WRITE or MAILBOX_FETCH (an instruction fetch outside RAM)
 *   +8  size   i32: 1, 2, 4 or 8
 *   +12 found  i32: 1 when a device answered at the address, 0 for an access fault
 *   +16 addr   u64 (physical)
 *   +24 value  u64: the value written, or the value read
 */
import type { PhysicalBus } from '../cpu/core.ts';
import * as L from '../cpu/layout.ts';
import { waitAsync } from '../protocol/ring.ts';

const MAILBOX_IDLE = 0;
const MAILBOX_REQUEST = 1;
const MAILBOX_ANSWER = 2;
const MAILBOX_READ = 1;
const MAILBOX_WRITE = 2;
const MAILBOX_FETCH = 3;

const STATE = 0;
const KIND = 1;
const SIZE = 2;
const FOUND = 3;
const ADDR = 2; // BigUint64Array index
const VALUE = 3;

/** The shared block's words, and the device host's doorbell in it. */
function sharedWords(memory: WebAssembly.Memory): Int32Array {
  if (!(memory.buffer instanceof SharedArrayBuffer)) throw new Error('mmio mailbox: the VM memory is not shared');
  return new Int32Array(memory.buffer, L.SHARED_BLOCK, 0x1000 / 4);
}

const DOORBELL = L.DEVICE_DOORBELL / 4;

class Mailbox {
  readonly words: Int32Array;
  readonly wide: BigUint64Array;

  constructor(memory: WebAssembly.Memory, hartId: number) {
    if (!Number.isInteger(hartId) || hartId < 0 || hartId >= L.MAX_HARTS) throw new RangeError(`hart ${hartId} does not exist`);
    const offset = L.SHARED_BLOCK + L.MMIO_MAILBOX + hartId * L.MMIO_MAILBOX_STRIDE;
    this.words = new Int32Array(memory.buffer, offset, 4);
    this.wide = new BigUint64Array(memory.buffer, offset, 4);
  }
}

/** Rings the device host's doorbell: a request is waiting, or host input arrived. */
export function ringDeviceHost(memory: WebAssembly.Memory): void {
  const shared = sharedWords(memory);
  Atomics.add(shared, DOORBELL, 1);
  Atomics.notify(shared, DOORBELL);
}

/** The hart's side: a PhysicalBus whose every access is a request to the device host. */
export class MailboxBus implements PhysicalBus {
  readonly #box: Mailbox;
  readonly #shared: Int32Array;

  constructor(memory: WebAssembly.Memory, hartId: number) {
    this.#box = new Mailbox(memory, hartId);
    this.#shared = sharedWords(memory);
  }

  read(addr: number, size: 1 | 2 | 4 | 8): bigint | undefined {
    this.#request(MAILBOX_READ, addr, 0n, size);
    return Atomics.load(this.#box.words, FOUND) === 1 ? Atomics.load(this.#box.wide, VALUE) : undefined;
  }

  write(addr: number, value: bigint, size: 1 | 2 | 4 | 8): boolean {
    this.#request(MAILBOX_WRITE, addr, value, size);
    return Atomics.load(this.#box.words, FOUND) === 1;
  }

  fetch(addr: number, size: 1 | 2 | 4 | 8): bigint | undefined {
    this.#request(MAILBOX_FETCH, addr, 0n, size);
    return Atomics.load(this.#box.words, FOUND) === 1 ? Atomics.load(this.#box.wide, VALUE) : undefined;
  }

  #request(kind: number, addr: number, value: bigint, size: number): void {
    const { words, wide } = this.#box;
    Atomics.store(words, KIND, kind);
    Atomics.store(words, SIZE, size);
    Atomics.store(wide, ADDR, BigInt(addr));
    Atomics.store(wide, VALUE, value);
    Atomics.store(words, STATE, MAILBOX_REQUEST);
    Atomics.add(this.#shared, DOORBELL, 1);
    Atomics.notify(this.#shared, DOORBELL);
    while (Atomics.load(words, STATE) === MAILBOX_REQUEST) Atomics.wait(words, STATE, MAILBOX_REQUEST);
    Atomics.store(words, STATE, MAILBOX_IDLE);
  }
}

/** The device host's side: answers the waiting requests of every hart's mailbox on `bus`. */
export class MailboxServer {
  readonly #boxes: Mailbox[];
  readonly #shared: Int32Array;

  constructor(memory: WebAssembly.Memory, harts: number) {
    this.#boxes = Array.from({ length: harts }, (_, hart) => new Mailbox(memory, hart));
    this.#shared = sharedWords(memory);
  }

  /** The doorbell's count: read it before serve(), then sleep on it only while it is unchanged. */
  get doorbell(): number {
    return Atomics.load(this.#shared, DOORBELL);
  }

  /** Sleeps until the doorbell rings or `timeoutMs` passed, without blocking the thread's event loop. */
  sleep(seen: number, timeoutMs: number): Promise<void> {
    return waitAsync(this.#shared, DOORBELL, seen, timeoutMs);
  }

  /** Performs every waiting request; returns how many there were. */
  serve(bus: PhysicalBus): number {
    let served = 0;
    for (const { words, wide } of this.#boxes) {
      if (Atomics.load(words, STATE) !== MAILBOX_REQUEST) continue;
      const addr = Number(Atomics.load(wide, ADDR));
      const size = Atomics.load(words, SIZE) as 1 | 2 | 4 | 8;
      let found: boolean;
      const kind = Atomics.load(words, KIND);
      if (kind === MAILBOX_READ || kind === MAILBOX_FETCH) {
        const value = kind === MAILBOX_READ ? bus.read(addr, size) : bus.fetch(addr, size);
        found = value !== undefined;
        Atomics.store(wide, VALUE, value ?? 0n);
      } else {
        found = bus.write(addr, Atomics.load(wide, VALUE), size);
      }
      Atomics.store(words, FOUND, found ? 1 : 0);
      Atomics.store(words, STATE, MAILBOX_ANSWER);
      Atomics.notify(words, STATE);
      served++;
    }
    return served;
  }
}
