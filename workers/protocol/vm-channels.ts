/**
 * The channels every VM declares (channels.ts), in one place: the host creates them in the VM's mode
 * and sends their wires in the boot request; the worker opens them there. A new device's channel is one
 * more entry here, one more wire in VmChannelWires, and one more port in the runtime.
 */
import {
  ByteStream,
  FrameStream,
  RequestChannel,
  createChannel,
  openChannel,
  vmDoorbell,
  type ChannelMode,
  type ChannelSpec,
} from './channels.ts';
import { DISK_REQUEST_BLOCKS, diskWriteRequestBytes } from './disk-channel.ts';
import type { Doorbell } from './ring.ts';
import type { VmChannelWires } from './vm-api.ts';

/** Capacity of the host→guest console ring (keystrokes and pastes). */
export const CONSOLE_INPUT_BYTES = 1 << 12;
/** Capacity of the guest→host console ring: a boot log burst fits without back-pressure. */
export const CONSOLE_OUTPUT_BYTES = 1 << 16;

/** Capacity of the disks' requests ring (overlay writes): four write requests of DISK_REQUEST_BLOCKS blocks. */
export const DISK_REQUESTS_BYTES = 1 << 19;
/** Capacity of the disks' replies ring: empty replies, or a refusal's sentence. */
export const DISK_REPLIES_BYTES = 1 << 12;
if (diskWriteRequestBytes(DISK_REQUEST_BLOCKS) > DISK_REQUESTS_BYTES)
  throw new Error('vm-channels: a disk write request cannot fit the disks channel');

/**
 * Capacity of each direction of the network channel: about 170 full-size Ethernet frames, more than a
 * TCP window of the guest's default receive buffer in flight, so the link is not what limits throughput.
 */
export const NET_FRAMES_BYTES = 1 << 18;

/** Capacity of the host→guest agent ring: a few command lines, a CA certificate's the longest (guest-agent.ts). */
export const AGENT_INPUT_BYTES = 1 << 14;
/** Capacity of the guest→host agent ring: the agent's short lines. */
export const AGENT_OUTPUT_BYTES = 1 << 12;

export const VM_CHANNELS = {
  console: { kind: 'bytes', toVmBytes: CONSOLE_INPUT_BYTES, fromVmBytes: CONSOLE_OUTPUT_BYTES },
  /** The disks' overlay writes and status (disk-channel.ts), from the VM to the host. */
  disks: { kind: 'requests', toVmBytes: DISK_REPLIES_BYTES, fromVmBytes: DISK_REQUESTS_BYTES },
  /** Ethernet frames between the VM's virtio-net card and the network it is plugged into (when it has one). */
  net: { kind: 'frames', toVmBytes: NET_FRAMES_BYTES, fromVmBytes: NET_FRAMES_BYTES },
  /** The guest agent's lines (docs/guest-agent.md), on its virtio-console port. */
  agent: { kind: 'bytes', toVmBytes: AGENT_INPUT_BYTES, fromVmBytes: AGENT_OUTPUT_BYTES },
} as const satisfies Record<string, ChannelSpec>;

/** The host's side of a VM's channels. */
export interface HostVmChannels {
  readonly mode: ChannelMode;
  /** What the boot request carries, and what must be transferred with it (message-mode ports). */
  readonly wires: VmChannelWires;
  readonly transfer: Transferable[];
  /** The VM's doorbell (shared mode: the host rings it after each write). */
  readonly doorbell: Doorbell;
  readonly console: ByteStream;
  /** The disks' requests: served with serveDisks (disk-channel.ts). */
  readonly disks: RequestChannel;
  /** The network card's frames (with `net`): the host end, to plug into a network (net-link.ts). */
  readonly net?: FrameStream;
  /** The guest agent's lines: the host end, for a GuestAgent (guest-agent.ts). */
  readonly agent: ByteStream;
  /** Stops listening and closes the ports (the worker is gone). */
  close(): void;
}

export interface VmChannelOptions {
  /** The VM has a network card: declare its frame channel. */
  readonly net?: boolean;
}

export function createVmChannels(mode: ChannelMode, options: VmChannelOptions = {}): HostVmChannels {
  const doorbell = vmDoorbell(mode === 'shared' ? new SharedArrayBuffer(4) : undefined);
  const console = createChannel(mode, VM_CHANNELS.console, doorbell);
  const disks = createChannel(mode, VM_CHANNELS.disks, doorbell);
  const net = options.net ? createChannel(mode, VM_CHANNELS.net, doorbell) : undefined;
  const agent = createChannel(mode, VM_CHANNELS.agent, doorbell);
  return {
    mode,
    wires: {
      mode,
      ...(mode === 'shared' ? { doorbell: doorbell.buffer as SharedArrayBuffer } : {}),
      console: console.wire,
      disks: disks.wire,
      ...(net ? { net: net.wire } : {}),
      agent: agent.wire,
    },
    transfer: [...console.transfer, ...disks.transfer, ...(net?.transfer ?? []), ...agent.transfer],
    doorbell,
    console: new ByteStream(console.host),
    disks: new RequestChannel(disks.host),
    ...(net ? { net: new FrameStream(net.host) } : {}),
    agent: new ByteStream(agent.host),
    close: () => {
      console.host.close();
      disks.host.close();
      net?.host.close();
      agent.host.close();
    },
  };
}

/** The worker's side of a VM's channels. */
export interface VmChannels {
  /** What the run loop sleeps on: the host rings it (shared mode), or an arriving message does. */
  readonly doorbell: Doorbell;
  readonly console: ByteStream;
  /**
   * The disks' requests (DiskClient, disk-channel.ts): an end of its own, not the run loop's, since the
   * disks send from the worker's event loop (a flush in progress, a timer), also while the loop is
   * paused or has stopped; it listens for replies there.
   */
  readonly disks: RequestChannel;
  /** The network card's frames, serviced by the run loop (workers/runtime/net-port.ts). */
  readonly net?: FrameStream;
  /** The guest agent's port, serviced by the run loop (workers/runtime/agent-port.ts); absent from older hosts. */
  readonly agent?: ByteStream;
}

export function openVmChannels(wires: VmChannelWires): VmChannels {
  const doorbell = vmDoorbell(wires.doorbell);
  const disks = new RequestChannel(openChannel(wires.disks));
  disks.listen();
  return {
    doorbell,
    console: new ByteStream(openChannel(wires.console, doorbell)),
    disks,
    ...(wires.net ? { net: new FrameStream(openChannel(wires.net, doorbell)) } : {}),
    ...(wires.agent ? { agent: new ByteStream(openChannel(wires.agent, doorbell)) } : {}),
  };
}
