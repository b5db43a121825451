/**
 * virtio-9p, a shared folder (Virtual I/O Device spec 1.2, §5.16 "9P Transport", device ID 9; Linux's
 * 9pnet_virtio and QEMU's virtio-9p-device): one request queue; each chain holds a T-message in its
 * device-readable part and room for the R-message in its device-writable part. The config space is
 * the mount tag (feature VIRTIO_9P_MOUNT_TAG): `struct virtio_9p_config { le16 tag_len; u8 tag[]; }`,
 * the tag without a terminating NUL; the guest mounts it with `mount -t 9p -o trans=virtio TAG DIR`.
 *
 * The device only moves messages: a `NinePPort` (workers/host/9p/server.ts) answers them, in this
 * thread or, later, over a channel. Answers are asynchronous and may complete in any order (9P matches
 * them by tag); the `IoTracker` counts them so that the run loop wakes for them and a snapshot waits
 * until none is in flight. The server's fids are part of the device's state.
 */
import type { IoTracker } from '../../bus/io-tracker.ts';
import type { NinePPort, NinePServerState } from '../../host/9p/server.ts';
import { VirtqueueError, type DescriptorChain, type Virtqueue } from './queue.ts';
import type { VirtioDevice, VirtioDeviceContext } from './mmio.ts';

export const VIRTIO_ID_9P = 9;
/** §5.16.3: "The mount tag is specified in the config space". */
export const VIRTIO_9P_MOUNT_TAG = 0;
export const VIRTIO_9P_QUEUE_SIZE = 128;
/** Linux reads the tag into a buffer of its own; QEMU allows at most this many bytes (MAX_TAG_LEN). */
export const VIRTIO_9P_MAX_TAG_BYTES = 255;

export interface Virtio9pState {
  readonly v: 1;
  readonly tag: string;
  readonly server: NinePServerState;
}

export class Virtio9p implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_9P;
  readonly features = 1n << BigInt(VIRTIO_9P_MOUNT_TAG);
  readonly queueSizes = [VIRTIO_9P_QUEUE_SIZE];
  readonly config: Uint8Array;
  readonly tag: string;
  readonly #port: NinePPort;
  readonly #io: IoTracker;
  #context: VirtioDeviceContext | undefined;
  #inFlight = 0;

  constructor(tag: string, port: NinePPort, io: IoTracker) {
    const bytes = new TextEncoder().encode(tag);
    if (bytes.length === 0 || bytes.length > VIRTIO_9P_MAX_TAG_BYTES)
      throw new Error(`virtio-9p: a mount tag has 1 to ${VIRTIO_9P_MAX_TAG_BYTES} bytes, "${tag}" has ${bytes.length}`);
    this.tag = tag;
    this.#port = port;
    this.#io = io;
    this.config = new Uint8Array(2 + bytes.length);
    new DataView(this.config.buffer).setUint16(0, bytes.length, true);
    this.config.set(bytes, 2);
  }

  attach(context: VirtioDeviceContext): void {
    this.#context = context;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  queueNotified(queue: Virtqueue): void {
    for (let chain = queue.pop(); chain !== null; chain = queue.pop()) this.#start(queue, chain);
  }

  #start(queue: Virtqueue, chain: DescriptorChain): void {
    // The request is copied out of guest RAM before the server sees it: the guest cannot change it
    // under the server's feet. Its length is bounded by the chain (which the queue bounded).
    const request = chain.read(0, chain.readableLength);
    this.#inFlight++;
    const done = this.#port.handle(request, chain.writableLength).then((reply) => {
      this.#inFlight--;
      this.#finish(queue, chain, reply);
    });
    this.#io.track(done);
  }

  #finish(queue: Virtqueue, chain: DescriptorChain, reply: Uint8Array): void {
    if (!queue.isCurrent(chain)) return;
    try {
      if (reply.length > chain.writableLength)
        throw new VirtqueueError(`9p reply of ${reply.length} bytes for a buffer of ${chain.writableLength}`);
      chain.write(0, reply);
      queue.complete(chain, reply.length);
    } catch (error) {
      if (!(error instanceof VirtqueueError)) throw error;
      this.#context!.needsReset(error.message);
    }
  }

  reset(): void {
    // Answers still in flight belong to the old queue and are dropped (isCurrent); the fids go.
    this.#port.reset();
  }

  saveState(): Virtio9pState {
    if (this.#inFlight > 0)
      throw new Error(`virtio-9p: ${this.#inFlight} requests in flight; wait for I/O to settle first`);
    return { v: 1, tag: this.tag, server: this.#port.saveState() };
  }

  loadState(state: unknown): void {
    const s = state as Virtio9pState;
    if (s.v !== 1) throw new Error(`virtio-9p: unknown state version ${String(s.v)}`);
    if (s.tag !== this.tag) throw new Error(`virtio-9p: state is for the share "${s.tag}", this one is "${this.tag}"`);
    this.#port.loadState(s.server);
  }
}
