/**
 * The channels every VM declares (channels.ts), in one place: the host creates them in the VM's mode
 * and sends their wires in the boot request; the worker opens them there. A new device's channel is one
 * more entry here, one more wire in VmChannelWires, and one more port in the runtime.
 */
import { ByteStream, createChannel, openChannel, vmDoorbell, type ChannelMode, type ChannelSpec } from './channels.ts';
import type { Doorbell } from './ring.ts';
import type { VmChannelWires } from './vm-api.ts';

/** Capacity of the host→guest console ring (keystrokes and pastes). */
export const CONSOLE_INPUT_BYTES = 1 << 12;
/** Capacity of the guest→host console ring: a boot log burst fits without back-pressure. */
export const CONSOLE_OUTPUT_BYTES = 1 << 16;

export const VM_CHANNELS = {
  console: { kind: 'bytes', toVmBytes: CONSOLE_INPUT_BYTES, fromVmBytes: CONSOLE_OUTPUT_BYTES },
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
  /** Stops listening and closes the ports (the worker is gone). */
  close(): void;
}

export function createVmChannels(mode: ChannelMode): HostVmChannels {
  const doorbell = vmDoorbell(mode === 'shared' ? new SharedArrayBuffer(4) : undefined);
  const console = createChannel(mode, VM_CHANNELS.console, doorbell);
  return {
    mode,
    wires: {
      mode,
      ...(mode === 'shared' ? { doorbell: doorbell.buffer as SharedArrayBuffer } : {}),
      console: console.wire,
    },
    transfer: [...console.transfer],
    doorbell,
    console: new ByteStream(console.host),
    close: () => console.host.close(),
  };
}

/** The worker's side of a VM's channels. */
export interface VmChannels {
  /** What the run loop sleeps on: the host rings it (shared mode), or an arriving message does. */
  readonly doorbell: Doorbell;
  readonly console: ByteStream;
}

export function openVmChannels(wires: VmChannelWires): VmChannels {
  const doorbell = vmDoorbell(wires.doorbell);
  return { doorbell, console: new ByteStream(openChannel(wires.console, doorbell)) };
}
