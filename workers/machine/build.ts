/**
 * The one place a VM's machine is put together from what its host hands over, for the browser worker
 * (workers/vm.worker.ts) and the Node runner's worker thread (scripts/vm-node-worker.ts) alike.
 */
import { Machine, type DiskConfig, type MachineConfig, type MachinePorts } from './machine.ts';
import type { NetConfig, ShareConfig } from './device-host.ts';
import type { ConsoleSize } from '../devices/virtio/console.ts';
import type { CharSink } from '../host/char-port.ts';
import { restoreSnapshot, type BuildRestored, type RestorableMachine, type RestoredMachine } from './snapshot.ts';
import type { SnapshotContents } from '../protocol/snapshot-container.ts';

export interface MachineSpec {
  readonly ramBytes: number;
  readonly bootargs: string;
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly coreModule: WebAssembly.Module;
  /** Whether guest RAM is shared (cross-origin isolated pages, Node). */
  readonly sharedMemory: boolean;
  readonly disks?: readonly DiskConfig[];
  /** Shared folders (virtio-9p). */
  readonly shares?: readonly ShareConfig[];
  /** The terminal's size at power-on, for the virtio console (docs/console.md). */
  readonly consoleSize?: ConsoleSize;
  /** A virtio-net card. */
  readonly net?: NetConfig;
  /** The guest agent's port (docs/guest-agent.md): what the guest writes to it goes here. */
  readonly agent?: CharSink;
}

/** What a machine is built from besides its RAM size and bootargs (which a snapshot brings along). */
function hostParts(spec: Omit<MachineSpec, 'ramBytes' | 'bootargs'>) {
  return {
    bios: spec.bios,
    ...(spec.kernel ? { kernel: spec.kernel } : {}),
    ...(spec.initrd ? { initrd: spec.initrd } : {}),
    sharedMemory: spec.sharedMemory,
    coreModule: spec.coreModule,
    rngSeed: crypto.getRandomValues(new Uint8Array(32)),
    ...(spec.disks ? { disks: spec.disks } : {}),
    ...(spec.shares ? { shares: spec.shares } : {}),
    ...(spec.consoleSize ? { consoleSize: spec.consoleSize } : {}),
    ...(spec.net ? { net: spec.net } : {}),
    ...(spec.agent ? { agent: spec.agent } : {}),
  };
}

/** The configuration of a machine built from `spec` (its rng-seed drawn now). */
export function machineConfig(spec: MachineSpec): MachineConfig {
  return { ...hostParts(spec), ramSize: spec.ramBytes, bootargs: spec.bootargs };
}

/** A powered-on machine; the device tree's rng-seed and the virtio-rng device draw on crypto.getRandomValues. */
export function buildMachine(spec: MachineSpec, ports: MachinePorts): Machine {
  return new Machine(machineConfig(spec), ports);
}

/**
 * A machine in the state of a snapshot: unpacked contents (the page's restore, which decoded the chain
 * once) or one full snapshot file (the Node runner). RAM size and bootargs come from the snapshot; the
 * images and disks must be the ones it was taken with (workers/machine/snapshot.ts).
 */
export function restoreMachine<M extends RestorableMachine = Machine>(
  spec: Omit<MachineSpec, 'ramBytes' | 'bootargs'>,
  snapshot: SnapshotContents | Uint8Array,
  ports: MachinePorts,
  build?: BuildRestored<M>,
): Promise<RestoredMachine<M>> {
  return restoreSnapshot(snapshot, hostParts(spec), ports, build);
}
