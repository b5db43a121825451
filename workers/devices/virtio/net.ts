/**
 * virtio-net, the network card (Virtual I/O Device spec 1.2, §5.1 "Network Device", device ID 1; Linux's
 * virtio_net and QEMU's virtio-net-device): one receive queue and one transmit queue (no control queue,
 * no multiqueue), and these features:
 *
 *   VIRTIO_NET_F_MAC        the config space holds the card's address (§5.1.4)
 *   VIRTIO_NET_F_STATUS     the config space holds the link state; a change sends a config-change interrupt
 *   VIRTIO_NET_F_MRG_RXBUF  a received frame may span several receive buffers (`num_buffers` in its header);
 *                           Linux then posts page-sized buffers and refills them in batches
 *
 * No checksum or segmentation offload is offered: every frame is a whole Ethernet frame of at most
 * MAX_FRAME_BYTES, checksummed by the guest (docs/networking.md says why).
 *
 * Every buffer starts with the 12-byte `struct virtio_net_hdr` (§5.1.6: with VIRTIO_F_VERSION_1 it always
 * has `num_buffers`). Transmitted frames go to the link (a FramePort, workers/host/net/link.ts); frames
 * from the link wait in a short backlog while the guest has posted no receive buffers, and the port that
 * feeds them (workers/runtime/net-port.ts) stops taking more from its channel while the backlog is full.
 * A frame shorter than an Ethernet header or longer than MAX_FRAME_BYTES, from either side, is dropped
 * and counted, never thrown.
 */
import { MAX_FRAME_BYTES, type FramePort } from '../../host/net/link.ts';
import { ipv4, ipv4ToString } from '../../host/net/frames.ts';
import { formatMacAddress } from '../../protocol/mac-address.ts';
import { ackedAddress, sentAddress } from './net-address.ts';
import { VirtqueueError, type DescriptorChain, type Virtqueue } from './queue.ts';
import type { VirtioDevice, VirtioDeviceContext } from './mmio.ts';

export const VIRTIO_ID_NET = 1;

// Feature bits, §5.1.3.
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;

/** §5.1.4: `status` bit 0. */
export const VIRTIO_NET_S_LINK_UP = 1;
/** §5.1.6: `struct virtio_net_hdr` with `num_buffers` (VIRTIO_F_VERSION_1). */
export const VIRTIO_NET_HDR_BYTES = 12;
const HDR_GSO_TYPE = 1;
const HDR_NUM_BUFFERS = 10;
/** §5.1.6: `gso_type` of a frame that is not a segmentation offload. */
export const VIRTIO_NET_HDR_GSO_NONE = 0;

/** §5.1.2: receiveq1 is queue 0, transmitq1 queue 1. */
export const VIRTIO_NET_RECEIVEQ = 0;
export const VIRTIO_NET_TRANSMITQ = 1;
export const VIRTIO_NET_QUEUE_SIZE = 256;
/** The shortest frame the device passes on: a destination, a source and an EtherType. */
export const MIN_FRAME_BYTES = 14;
/** Frames from the link that wait for receive buffers; the port stops feeding the device beyond this. */
export const VIRTIO_NET_RX_BACKLOG = 64;

/** `mac[6]` then `status` (le16); the fields after it belong to features we do not offer. */
const CONFIG_BYTES = 8;
const CONFIG_STATUS = 6;

/** Where transmitted frames go: the link, which may say it is full for now. */
export interface NetLink extends FramePort {
  /** Whether the link takes one more frame now; while not, transmit buffers wait in the guest's ring. */
  ready?(): boolean;
}

/** What the device counted since it was built (a reset keeps them). */
export interface VirtioNetCounters {
  txFrames: number;
  /** Transmitted frames dropped: too short or long, an offload we did not offer, or the link down. */
  txDropped: number;
  rxFrames: number;
  /** Frames from the link dropped: too short or long, no driver, link down, or the backlog full. */
  rxDropped: number;
}

export interface VirtioNetState {
  readonly v: 2;
  readonly mac: string;
  readonly linkUp: boolean;
  /** The IPv4 address the guest uses, as the card saw it pass (net-address.ts), or null; not in version 1. */
  readonly address: string | null;
}

export class VirtioNet implements VirtioDevice, FramePort {
  readonly deviceId = VIRTIO_ID_NET;
  readonly features =
    (1n << BigInt(VIRTIO_NET_F_MAC)) | (1n << BigInt(VIRTIO_NET_F_MRG_RXBUF)) | (1n << BigInt(VIRTIO_NET_F_STATUS));
  readonly queueSizes = [VIRTIO_NET_QUEUE_SIZE, VIRTIO_NET_QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_BYTES);
  readonly counters: VirtioNetCounters = { txFrames: 0, txDropped: 0, rxFrames: 0, rxDropped: 0 };
  readonly #link: NetLink;
  readonly #backlog: Uint8Array[] = [];
  /** The receive header, reused for every frame. */
  readonly #header = new Uint8Array(VIRTIO_NET_HDR_BYTES);
  #context: VirtioDeviceContext | undefined;
  /** Set when the link was full: the port calls resumeTransmit() once it has room. */
  #transmitStalled = false;
  /** The guest's IPv4 address, as seen in its frames and its DHCPACK (net-address.ts). */
  #address: number | undefined;

  constructor(mac: Uint8Array, link: NetLink) {
    if (mac.length !== 6) throw new Error(`virtio-net: a MAC address has 6 bytes, not ${mac.length}`);
    this.config.set(mac);
    this.#link = link;
    this.#setStatus(true);
  }

  get mac(): string {
    return formatMacAddress(this.config.subarray(0, 6));
  }

  get linkUp(): boolean {
    return (this.config[CONFIG_STATUS]! & VIRTIO_NET_S_LINK_UP) !== 0;
  }

  /**
   * Gives the card another address (a restored snapshot's card takes its VM's own, docs/guest-agent.md).
   * The config changes and nothing else: the guest read `mac` at probe and reads it again only when its
   * guest agent re-addresses eth0. Returns whether it changed.
   */
  setMac(mac: Uint8Array): boolean {
    if (mac.length !== 6) throw new Error(`virtio-net: a MAC address has 6 bytes, not ${mac.length}`);
    if (mac.every((byte, i) => this.config[i] === byte)) return false;
    this.config.set(mac);
    return true;
  }

  /** Frames from the link waiting for receive buffers. */
  get backlog(): number {
    return this.#backlog.length;
  }

  /** Whether the device takes another frame from the link without dropping it for want of room. */
  get acceptsFrame(): boolean {
    return this.#backlog.length < VIRTIO_NET_RX_BACKLOG;
  }

  attach(context: VirtioDeviceContext): void {
    this.#context = context;
  }

  /** Plugs or unplugs the cable: the guest sees the new state through a config-change interrupt. */
  setLinkUp(up: boolean): void {
    if (up === this.linkUp) return;
    this.#setStatus(up);
    if (!up) this.#dropBacklog();
    this.#context?.configChanged();
  }

  #setStatus(up: boolean): void {
    new DataView(this.config.buffer).setUint16(CONFIG_STATUS, up ? VIRTIO_NET_S_LINK_UP : 0, true);
  }

  queueNotified(queue: Virtqueue): void {
    if (queue.index === VIRTIO_NET_TRANSMITQ) this.#transmit(queue);
    else this.#drainBacklog();
  }

  /** A frame from the link (FramePort): to the guest now, or into the backlog until it posts buffers. */
  receive(frame: Uint8Array): void {
    if (frame.length < MIN_FRAME_BYTES || frame.length > MAX_FRAME_BYTES || !this.linkUp || !this.#context?.live()) {
      this.counters.rxDropped++;
      return;
    }
    this.#address = ackedAddress(frame, this.config) ?? this.#address;
    if (this.#backlog.length === 0 && this.#guarded(() => this.#deliver(frame))) return;
    if (this.#backlog.length >= VIRTIO_NET_RX_BACKLOG) {
      this.counters.rxDropped++;
      return;
    }
    this.#backlog.push(frame.slice());
  }

  /** The link has room again after it refused a frame: transmit what the guest queued meanwhile. */
  resumeTransmit(): void {
    if (!this.#transmitStalled) return;
    this.#transmitStalled = false;
    const queue = this.#context?.queues[VIRTIO_NET_TRANSMITQ];
    if (queue && this.#context!.live()) this.#guarded(() => this.#transmit(queue));
  }

  /** Whether transmission waits for room in the link. */
  get transmitStalled(): boolean {
    return this.#transmitStalled;
  }

  #transmit(queue: Virtqueue): void {
    for (;;) {
      if (this.#link.ready && !this.#link.ready()) {
        this.#transmitStalled = true;
        return;
      }
      const chain = queue.pop();
      if (chain === null) return;
      this.#send(chain);
      queue.complete(chain, 0);
    }
  }

  /** §5.1.6.2: a transmit chain is the header then the frame, in device-readable buffers. */
  #send(chain: DescriptorChain): void {
    const log = this.#context!.log;
    const length = chain.readableLength - VIRTIO_NET_HDR_BYTES;
    if (length < MIN_FRAME_BYTES || length > MAX_FRAME_BYTES) {
      log.once('tx length', `transmitted a ${length}-byte frame (${MIN_FRAME_BYTES} to ${MAX_FRAME_BYTES}); dropped`);
      this.counters.txDropped++;
      return;
    }
    // §5.1.6.2.1: without a GSO feature the driver MUST set gso_type to VIRTIO_NET_HDR_GSO_NONE. The
    // flags are ignored (§5.1.6.2.2: "The device MUST ignore flag bits that it does not recognize").
    const gsoType = chain.read(HDR_GSO_TYPE, 1)[0]!;
    if (gsoType !== VIRTIO_NET_HDR_GSO_NONE) {
      log.once('tx gso', `transmitted a frame with gso_type ${gsoType}, an offload not offered; dropped`);
      this.counters.txDropped++;
      return;
    }
    if (!this.linkUp) {
      this.counters.txDropped++;
      return;
    }
    this.counters.txFrames++;
    // Copied out of guest RAM: the link keeps or forwards bytes the guest can no longer change.
    const frame = chain.read(VIRTIO_NET_HDR_BYTES, length);
    this.#address = sentAddress(frame) ?? this.#address;
    this.#link.receive(frame);
  }

  #drainBacklog(): void {
    this.#guarded(() => {
      while (this.#backlog.length > 0 && this.#deliver(this.#backlog[0]!)) this.#backlog.shift();
    });
  }

  /**
   * Puts one frame into the guest's receive buffers (§5.1.6.4): with mergeable buffers as many chains as
   * it needs, otherwise one chain that holds it whole. False when the guest has not posted enough yet:
   * the chains looked at go back to the ring. A frame the one chain cannot hold is dropped (true).
   */
  #deliver(frame: Uint8Array): boolean {
    const context = this.#context!;
    const queue = context.queues[VIRTIO_NET_RECEIVEQ]!;
    if (!context.live() || !queue.ready) return false;
    const mergeable = ((context.features() >> BigInt(VIRTIO_NET_F_MRG_RXBUF)) & 1n) === 1n;
    const total = VIRTIO_NET_HDR_BYTES + frame.length;
    const chains: DescriptorChain[] = [];
    let room = 0;
    while (room < total) {
      const chain = queue.pop();
      if (chain === null) {
        queue.rewind(chains.length);
        return false;
      }
      // §5.1.6.3.1: "the driver MUST … make each buffer at least the size of the struct virtio_net_hdr"
      // with mergeable buffers; without them the one buffer holds header and frame.
      if (chain.writableLength < VIRTIO_NET_HDR_BYTES)
        throw new VirtqueueError(`receive buffer of ${chain.writableLength} bytes, smaller than the header`);
      chains.push(chain);
      room += chain.writableLength;
      if (!mergeable) break;
    }
    if (room < total) {
      // QEMU does the same: the buffer stays for a smaller frame, this one is lost.
      context.log.once('rx small', `receive buffer of ${room} bytes for a ${total}-byte frame; dropped`);
      queue.rewind(1);
      this.counters.rxDropped++;
      return true;
    }
    const header = this.#header;
    header.fill(0);
    // §5.1.6.4.2: num_buffers is the number of buffers used (1 without VIRTIO_NET_F_MRG_RXBUF).
    header[HDR_NUM_BUFFERS] = chains.length & 0xff;
    header[HDR_NUM_BUFFERS + 1] = chains.length >> 8;
    const written: number[] = [];
    let offset = 0;
    for (const chain of chains) {
      const n = Math.min(chain.writableLength, total - offset);
      let at = 0;
      if (offset < VIRTIO_NET_HDR_BYTES) {
        at = VIRTIO_NET_HDR_BYTES - offset;
        chain.write(0, header.subarray(offset, VIRTIO_NET_HDR_BYTES));
      }
      chain.write(at, frame.subarray(offset + at - VIRTIO_NET_HDR_BYTES, offset + n - VIRTIO_NET_HDR_BYTES));
      written.push(n);
      offset += n;
    }
    queue.completeAll(chains, written);
    this.counters.rxFrames++;
    return true;
  }

  /** Runs `work` outside a notification: a guest error in the rings sets DEVICE_NEEDS_RESET, as there. */
  #guarded<T>(work: () => T): T | false {
    try {
      return work();
    } catch (error) {
      if (!(error instanceof VirtqueueError)) throw error;
      this.#context!.needsReset(error.message);
      return false;
    }
  }

  #dropBacklog(): void {
    this.counters.rxDropped += this.#backlog.length;
    this.#backlog.length = 0;
  }

  reset(): void {
    this.#dropBacklog();
    this.#transmitStalled = false;
  }

  /** Frames waiting in the backlog are not saved: the guest's TCP sends them again, as after any loss. */
  saveState(): VirtioNetState {
    const address = this.#address === undefined ? null : ipv4ToString(this.#address);
    return { v: 2, mac: this.mac, linkUp: this.linkUp, address };
  }

  /**
   * The saved address replaces the one the device was built with: the restored guest read it at probe
   * and uses it. The link state is the host's, not the snapshot's: it stays as the device was built.
   * Version 1 (before the record had the guest's address) restores with none.
   */
  loadState(state: unknown): void {
    const s = state as VirtioNetState | { readonly v: 1; readonly mac: string };
    if (s.v !== 1 && s.v !== 2) throw new Error(`virtio-net: unknown state version ${String((s as { v: unknown }).v)}`);
    this.config.set(s.mac.split(':').map((byte) => parseInt(byte, 16)));
    this.#address = s.v === 2 && s.address !== null ? ipv4(s.address) : undefined;
    this.#dropBacklog();
    this.#transmitStalled = false;
  }
}
