/**
 * The one place a VM's machine is put together from what its host hands over, for the browser worker
 * (workers/vm.worker.ts) and the Node runner's worker thread (scripts/vm-node-worker.ts) alike.
 */
import { Machine, type DiskConfig, type MachinePorts } from './machine.ts';

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
}

/** A powered-on machine; the device tree's rng-seed and the virtio-rng device draw on crypto.getRandomValues. */
export function buildMachine(spec: MachineSpec, ports: MachinePorts): Machine {
  return new Machine(
    {
      ramSize: spec.ramBytes,
      bios: spec.bios,
      ...(spec.kernel ? { kernel: spec.kernel } : {}),
      ...(spec.initrd ? { initrd: spec.initrd } : {}),
      bootargs: spec.bootargs,
      sharedMemory: spec.sharedMemory,
      coreModule: spec.coreModule,
      rngSeed: crypto.getRandomValues(new Uint8Array(32)),
      ...(spec.disks ? { disks: spec.disks } : {}),
    },
    ports,
  );
}
