/**
 * A learning Ethernet switch (IEEE 802.1D's forwarding in short): each port's source addresses are
 * learnt; a frame to a learnt unicast address goes to that port only, any other frame (broadcast,
 * multicast, an address not learnt yet) to every other port. The VMs of a page share one, with the
 * user-mode network on a port of its own, so guests reach each other on 10.0.2.0/24 and the gateway
 * alike. The address table is bounded: past `maxAddresses` it is forgotten and learnt again.
 *
 * A port may be attached `isolated` (a "protected port" in switch makers' terms): isolated ports never
 * exchange frames with each other, only with the others. The user-mode network and the trunk to the
 * other tabs (cross-tab.ts) are both isolated, so the tabs' guests reach each other but each tab's
 * gateway answers only its own tab's guests (DHCP, ARP for 10.0.2.2 and .3, DNS, fetch). A frame from
 * an isolated port whose source is an address learnt on a guest's port is dropped: the guest here keeps
 * its address (a VM of another tab with the same card address, as VMs restored from one pre-booted
 * snapshot have, must not take its frames away).
 */
import type { FramePort } from './link.ts';

export interface SwitchPort extends FramePort {
  /** Takes the port out of the switch: nothing more is delivered to it, and its addresses are forgotten. */
  detach(): void;
  /** The source addresses learnt on this port: the guest's own card, when it has sent a frame. */
  learnt(): Uint8Array[];
}

const MIN_FRAME_BYTES = 14;

/** The MAC address at `at` in `frame` as a number, for maps. */
export function macKey(frame: Uint8Array, at: number): number {
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
  readonly #isolated = new Set<FramePort>();
  readonly #table = new Map<number, FramePort>();
  readonly #maxAddresses: number;

  constructor(maxAddresses = 1024) {
    this.#maxAddresses = maxAddresses;
  }

  get portCount(): number {
    return this.#ports.size;
  }

  /**
   * A port whose frames go to `deliver`; the returned port's `receive` is what its side sends. An
   * `isolated` port exchanges no frames with another isolated one.
   */
  attach(deliver: FramePort, { isolated = false }: { readonly isolated?: boolean } = {}): SwitchPort {
    this.#ports.add(deliver);
    if (isolated) this.#isolated.add(deliver);
    return {
      receive: (frame) => {
        if (this.#ports.has(deliver)) this.#forward(deliver, frame);
      },
      detach: () => {
        this.#ports.delete(deliver);
        this.#isolated.delete(deliver);
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
    const isolated = this.#isolated.has(from);
    if (!(frame[6]! & 1)) {
      const source = macKey(frame, 6);
      const learnt = this.#table.get(source);
      if (isolated && learnt !== undefined && !this.#isolated.has(learnt)) return;
      if (learnt !== from) {
        if (this.#table.size >= this.#maxAddresses) this.#table.clear();
        this.#table.set(source, from);
      }
    }
    const to = frame[0]! & 1 ? undefined : this.#table.get(macKey(frame, 0));
    if (to !== undefined) {
      if (to !== from && !(isolated && this.#isolated.has(to))) to.receive(frame);
      return;
    }
    for (const port of this.#ports) if (port !== from && !(isolated && this.#isolated.has(port))) port.receive(frame);
  }
}
