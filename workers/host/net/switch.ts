/**
 * A learning Ethernet switch (IEEE 802.1D's forwarding in short): each port's source addresses are
 * learnt; a frame to a learnt unicast address goes to that port only, any other frame (broadcast,
 * multicast, an address not learnt yet) to every other port. The VMs of a page share one, with the
 * user-mode network on a port of its own, so guests reach each other on 10.0.2.0/24 and the gateway
 * alike. The address table is bounded: past `maxAddresses` it is forgotten and learnt again.
 */
import type { FramePort } from './link.ts';

export interface SwitchPort extends FramePort {
  /** Takes the port out of the switch: nothing more is delivered to it, and its addresses are forgotten. */
  detach(): void;
  /** The source addresses learnt on this port: the guest's own card, when it has sent a frame. */
  learnt(): Uint8Array[];
}

const MIN_FRAME_BYTES = 14;

function macKey(frame: Uint8Array, at: number): number {
  // 48 bits fit a double exactly.
  return (
    frame[at]! * 2 ** 40 +
    frame[at + 1]! * 2 ** 32 +
    ((frame[at + 2]! << 24) >>> 0) +
    (frame[at + 3]! << 16) +
    (frame[at + 4]! << 8) +
    frame[at + 5]!
  );
}

export class EthernetSwitch {
  readonly #ports = new Set<FramePort>();
  readonly #table = new Map<number, FramePort>();
  readonly #maxAddresses: number;

  constructor(maxAddresses = 1024) {
    this.#maxAddresses = maxAddresses;
  }

  get portCount(): number {
    return this.#ports.size;
  }

  /** A port whose frames go to `deliver`; the returned port's `receive` is what its side sends. */
  attach(deliver: FramePort): SwitchPort {
    this.#ports.add(deliver);
    return {
      receive: (frame) => {
        if (this.#ports.has(deliver)) this.#forward(deliver, frame);
      },
      detach: () => {
        this.#ports.delete(deliver);
        for (const [key, port] of this.#table) if (port === deliver) this.#table.delete(key);
      },
      learnt: () => {
        const macs: Uint8Array[] = [];
        for (const [key, port] of this.#table) {
          if (port !== deliver) continue;
          const mac = new Uint8Array(6);
          for (let i = 5, rest = key; i >= 0; i--, rest = Math.floor(rest / 256)) mac[i] = rest % 256;
          macs.push(mac);
        }
        return macs;
      },
    };
  }

  #forward(from: FramePort, frame: Uint8Array): void {
    if (frame.length < MIN_FRAME_BYTES) return;
    if (!(frame[6]! & 1)) {
      const source = macKey(frame, 6);
      if (this.#table.get(source) !== from) {
        if (this.#table.size >= this.#maxAddresses) this.#table.clear();
        this.#table.set(source, from);
      }
    }
    const to = frame[0]! & 1 ? undefined : this.#table.get(macKey(frame, 0));
    if (to !== undefined) {
      if (to !== from) to.receive(frame);
      return;
    }
    for (const port of this.#ports) if (port !== from) port.receive(frame);
  }
}
