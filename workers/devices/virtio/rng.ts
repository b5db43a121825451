/**
 * virtio-rng, the entropy device (Virtual I/O Device spec 1.2, §5.4): one request queue whose
 * device-writable buffers the device fills with random bytes from the host's `crypto.getRandomValues`,
 * so the guest has entropy from its first second of boot. Requests complete at once.
 */
import type { DescriptorChain, Virtqueue } from './queue.ts';
import type { VirtioDevice } from './mmio.ts';

export const VIRTIO_ID_ENTROPY = 4;
export const VIRTIO_RNG_QUEUE_SIZE = 64;
/** crypto.getRandomValues fills at most 65536 bytes per call. */
const MAX_RANDOM_BYTES_PER_CALL = 65536;

export class VirtioRng implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_ENTROPY;
  readonly features = 0n;
  readonly queueSizes = [VIRTIO_RNG_QUEUE_SIZE];
  /** §5.4.4: "None currently defined." */
  readonly config = new Uint8Array(0);

  constructor(
    private readonly random: (bytes: Uint8Array<ArrayBuffer>) => void = (bytes) => crypto.getRandomValues(bytes),
  ) {}

  attach(): void {}

  queueNotified(queue: Virtqueue): void {
    for (let chain = queue.pop(); chain !== null; chain = queue.pop()) queue.complete(chain, this.#fill(chain));
  }

  #fill(chain: DescriptorChain): number {
    // Web Crypto refuses views of a SharedArrayBuffer (guest RAM), so fill a buffer of our own and copy.
    const bytes = new Uint8Array(Math.min(chain.writableLength, MAX_RANDOM_BYTES_PER_CALL));
    this.random(bytes);
    chain.write(0, bytes);
    return bytes.length;
  }

  reset(): void {}

  saveState(): { readonly v: 1 } {
    return { v: 1 };
  }

  loadState(state: unknown): void {
    const s = state as { v: number };
    if (s.v !== 1) throw new Error(`virtio-rng: unknown state version ${String(s.v)}`);
  }
}
