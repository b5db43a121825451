/**
 * The trunk that joins the switches of the tabs of one origin into one Ethernet (docs/networking.md,
 * "Other tabs"): a port of each tab's switch whose far side is a `BroadcastChannel`, which every tab of
 * the origin opens by the same name. A frame the switch sends to the trunk (a broadcast, an address not
 * learnt here, or one learnt on the trunk) goes out as one message; every other tab's trunk puts it into
 * its switch, which learns the sender's address on its trunk port. A unicast frame to an address learnt
 * from a tab is marked for that tab, so the others ignore it.
 *
 * Only guest frames cross: the trunk and each tab's user-mode network are isolated ports of their switch
 * (switch.ts), so DHCP, ARP for 10.0.2.2 and .3, DNS and fetch stay with the tab's own gateway, and a
 * frame that claims to come from the gateway's address is refused. A message is untrusted input (any
 * script of the origin may post on the channel): it is checked against its schema, the frame's length
 * against Ethernet's bounds, and its source must be a unicast address, before it reaches the switch.
 */
import { z } from 'zod';
import { macEquals } from './frames.ts';
import { MAX_FRAME_BYTES } from './link.ts';
import { macKey, type EthernetSwitch, type SwitchPort } from './switch.ts';
import { GATEWAY_MAC } from './user-network.ts';

/** The channel every tab of the origin opens (BroadcastChannel's name). */
export const CROSS_TAB_CHANNEL = 'tabvm-network';

const MIN_FRAME_BYTES = 14;
/** Addresses remembered with the tab they were seen from; past it the table starts again. */
const MAX_REMOTE_ADDRESSES = 1024;

const tabId = z.string().min(1).max(64);
const trunkMessageSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('frame'),
    from: tabId,
    to: tabId.nullable(),
    frame: z
      .instanceof(Uint8Array)
      .refine((frame) => frame.length >= MIN_FRAME_BYTES && frame.length <= MAX_FRAME_BYTES, 'not an Ethernet frame'),
  }),
  z.object({ kind: z.literal('bye'), from: tabId }),
]);
type TrunkMessage = z.infer<typeof trunkMessageSchema>;

/** What the trunk needs of a `BroadcastChannel`. */
export interface TrunkChannel {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  close(): void;
}

export class CrossTabTrunk {
  /** This tab's id on the channel. */
  readonly id: string;
  /** Messages refused or ignored, by reason. */
  readonly drops = new Map<string, number>();
  readonly #channel: TrunkChannel;
  readonly #port: SwitchPort;
  /** Addresses of other tabs' guests, with the tab each was seen from. */
  readonly #remote = new Map<number, string>();
  #closed = false;

  readonly #onBye: () => void;

  /** `onBye` is called when another tab says it is gone (its leases' locks are free now). */
  constructor(
    ethernet: EthernetSwitch,
    channel: TrunkChannel,
    { id = crypto.randomUUID(), onBye = () => {} }: { readonly id?: string; readonly onBye?: () => void } = {},
  ) {
    this.id = id;
    this.#onBye = onBye;
    this.#channel = channel;
    this.#port = ethernet.attach({ receive: (frame) => this.#send(frame) }, { isolated: true });
    channel.addEventListener('message', (event) => this.#receive(event.data));
  }

  /** Tells the other tabs this one is gone, and leaves the channel and the switch. */
  close(): void {
    if (this.#closed) return;
    this.#post({ kind: 'bye', from: this.id });
    this.#closed = true;
    this.#port.detach();
    this.#channel.close();
  }

  #send(frame: Uint8Array): void {
    const to = frame[0]! & 1 ? null : (this.#remote.get(macKey(frame, 0)) ?? null);
    // A copy: the frame may be a view into a ring the guest's next frame overwrites.
    this.#post({ kind: 'frame', from: this.id, to, frame: frame.slice() });
  }

  #post(message: TrunkMessage): void {
    if (!this.#closed) this.#channel.postMessage(message);
  }

  #receive(data: unknown): void {
    if (this.#closed) return;
    const parsed = trunkMessageSchema.safeParse(data);
    if (!parsed.success) return this.#drop('not a trunk message');
    const message = parsed.data;
    if (message.from === this.id) return this.#drop('from this tab');
    if (message.kind === 'bye') {
      for (const [key, tab] of this.#remote) if (tab === message.from) this.#remote.delete(key);
      return this.#onBye();
    }
    if (message.to !== null && message.to !== this.id) return;
    const { frame } = message;
    if (frame[6]! & 1) return this.#drop('source address multicast');
    if (macEquals(frame.subarray(6, 12), GATEWAY_MAC)) return this.#drop("source address the gateway's");
    const source = macKey(frame, 6);
    if (this.#remote.get(source) !== message.from) {
      if (this.#remote.size >= MAX_REMOTE_ADDRESSES) this.#remote.clear();
      this.#remote.set(source, message.from);
    }
    this.#port.receive(frame);
  }

  #drop(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }
}
