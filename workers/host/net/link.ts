/**
 * An Ethernet link between a VM's virtio-net device and what it is plugged into (the user-mode network,
 * a switch between VMs, a relay): each side is a `FramePort` the other side calls. A frame is a whole
 * Ethernet II frame as virtio-net carries it after its header: destination MAC first, no preamble, no
 * FCS, at most `MAX_FRAME_BYTES`. The callee copies whatever it keeps: the caller may reuse the bytes.
 */
export interface FramePort {
  receive(frame: Uint8Array): void;
}

/** A 1500-byte MTU payload, the 14-byte Ethernet header and a 4-byte 802.1Q tag. */
export const MAX_FRAME_BYTES = 1518;
