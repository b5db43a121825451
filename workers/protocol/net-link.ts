/**
 * The host's end of a VM's `net` channel as the two FramePorts of an Ethernet link (workers/host/net/
 * link.ts): the runner (the page's VmController, the Node runner) plugs a network into it with a hook
 * that gets the port towards the guest and returns the port the guest's frames go to:
 *
 *   onNetwork({ toGuest }) => fromGuest        e.g. the user-mode network, a switch between VMs
 *
 * Frames for the guest go into the channel; when its ring is full (the guest is not reading), up to
 * HOST_NET_BACKLOG_FRAMES wait here and go as room appears, and beyond that they are dropped and
 * counted, as a switch port drops what it cannot queue. Length limits are the card's to check: it drops
 * a runt or an oversized frame (workers/devices/virtio/net.ts); only a frame no ring could hold is
 * dropped here. The plug counts the bytes of the frames each way (the live figures, docs/app.md).
 */
import type { FrameStream } from './channels.ts';
import { FRAME_HEADER_BYTES } from './ring.ts';

/** The shape of workers/host/net/link.ts's FramePort (this layer may not import workers/host). */
export interface FrameReceiver {
  receive(frame: Uint8Array): void;
}

/**
 * A restored guest's card address and the IPv4 address it uses (its snapshot's card record): the
 * network records it as taken, since it is in the guest's RAM.
 */
export interface RestoredLease {
  readonly mac: string;
  readonly address: string;
}

/** What a runner plugs into a VM's network card; `lease` when the VM is a restored snapshot's with one. */
export type NetworkHook = (link: { readonly toGuest: FrameReceiver; readonly lease?: RestoredLease }) => FrameReceiver;

/** `hook`, told the restored card's lease when its snapshot record has the guest's address (version 2). */
export function withLease(
  hook: NetworkHook | undefined,
  card: { readonly mac: string; readonly address?: string | null },
): NetworkHook | undefined {
  const address = card.address;
  if (!hook || !address) return hook;
  return (link) => hook({ ...link, lease: { mac: card.mac, address } });
}

/** Frames for the guest held while the channel's ring is full. */
export const HOST_NET_BACKLOG_FRAMES = 256;

export interface PluggedNetwork {
  /** Frames for the guest dropped: the backlog was full, or a frame was larger than the ring. */
  readonly dropped: number;
  /** Bytes of the frames the guest received (kept for it, not dropped) and sent, since it was plugged. */
  readonly receivedBytes: number;
  readonly sentBytes: number;
  /** Stops delivering in both directions. */
  unplug(): void;
}

export function plugNetwork(stream: FrameStream, onNetwork: NetworkHook): PluggedNetwork {
  const backlog: Uint8Array[] = [];
  let dropped = 0;
  let receivedBytes = 0;
  let sentBytes = 0;
  let plugged = true;
  const drain = (): void => {
    while (backlog.length > 0 && stream.send(backlog[0]!)) backlog.shift();
  };
  const toGuest: FrameReceiver = {
    receive(frame) {
      if (!plugged) return;
      if (FRAME_HEADER_BYTES + frame.length > stream.end.tx.capacity) {
        dropped++;
        return;
      }
      if (backlog.length === 0 && stream.send(frame)) {
        receivedBytes += frame.length;
        return;
      }
      if (backlog.length >= HOST_NET_BACKLOG_FRAMES) {
        dropped++;
        return;
      }
      receivedBytes += frame.length;
      backlog.push(frame.slice());
    },
  };
  const fromGuest = onNetwork({ toGuest });
  const stop = stream.end.listen(() => {
    for (let frame = stream.receive(); frame && plugged; frame = stream.receive()) {
      sentBytes += frame.length;
      fromGuest.receive(frame);
    }
    drain();
  }, drain);
  return {
    get dropped() {
      return dropped;
    },
    get receivedBytes() {
      return receivedBytes;
    },
    get sentBytes() {
      return sentBytes;
    },
    unplug() {
      plugged = false;
      backlog.length = 0;
      stop();
    },
  };
}
