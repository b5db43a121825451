/**
 * The network card as a host port: the card's transmitted frames go into the `net` frame channel, and
 * frames from the host go to the card as it can take them. Both directions keep back-pressure instead of
 * dropping: the card leaves transmit buffers in the guest's ring while the channel has no room for a
 * full-size frame (NetLink.ready), and the port leaves frames in the channel while the card's backlog is
 * full, so what the host's network sends waits in the ring (and the host's end sees a full ring).
 */
import { MAX_FRAME_BYTES } from '../host/net/link.ts';
import type { VirtioNet, NetLink } from '../devices/virtio/net.ts';
import { FRAME_HEADER_BYTES } from '../protocol/ring.ts';
import type { FrameStream } from '../protocol/channels.ts';
import type { Port } from '../machine/run-loop.ts';

export class NetPort implements Port, NetLink {
  readonly #stream: FrameStream;
  /** The current machine's card (a reset builds a new one on the same channel). */
  #device: VirtioNet | undefined;

  constructor(stream: FrameStream) {
    this.#stream = stream;
  }

  attach(device: VirtioNet | undefined): void {
    this.#device = device;
  }

  /** A frame the card transmits; it asked ready() first, so the channel has room for it. */
  receive(frame: Uint8Array): void {
    if (!this.#stream.send(frame)) throw new Error('net port: the card sent a frame the channel had no room for');
  }

  ready(): boolean {
    return this.#stream.end.room() >= FRAME_HEADER_BYTES + MAX_FRAME_BYTES;
  }

  service(): void {
    const device = this.#device;
    if (!device) return;
    if (device.transmitStalled && this.ready()) device.resumeTransmit();
    while (device.acceptsFrame) {
      const frame = this.#stream.receive();
      if (!frame) break;
      device.receive(frame);
    }
  }

  busy(): boolean {
    const device = this.#device;
    if (!device) return false;
    return (device.acceptsFrame && this.#stream.end.rx.available() > 0) || (device.transmitStalled && this.ready());
  }

  flush(): void {
    this.#stream.end.flush();
  }
}
