/**
 * The QEMU-`virt`-compatible machine with one hart, all in one thread: the composition of a device host
 * (device-host.ts: RAM, the platform devices on the bus, guest time, the boot images) and a hart runner
 * (hart-runner.ts: the core, its TLBs and JIT) whose MMIO calls the device host's bus directly. The
 * machine runs in slices: between slices it brings guest time and device interrupt lines up to date; it
 * never owns a thread or a timer, so the same code runs in a browser Worker, a Node worker thread and a
 * unit test. The same two parts also run in two threads (docs/harts.md).
 */
import type { Bus } from '../bus/bus.ts';
import { createVmMemory, type Hart } from '../cpu/core.ts';
import * as L from '../cpu/layout.ts';
import type { Clint } from '../devices/clint.ts';
import type { Plic } from '../devices/plic.ts';
import type { Uart16550 } from '../devices/uart16550.ts';
import type { GoldfishRtc } from '../devices/goldfish-rtc.ts';
import type { VirtioMmioTransport } from '../devices/virtio/mmio.ts';
import type { IoTracker } from '../bus/io-tracker.ts';
import type { GuestClock } from './clock.ts';
import { DeviceHost, type DeviceHostConfig, type DeviceHostState, type MachinePorts, type MachineStatus } from './device-host.ts';
import { HartRunner } from './hart-runner.ts';
import { MEMORY_MAP } from './memory-map.ts';
import type { MemoryLoad } from './loader.ts';

export type { DiskConfig, MachinePorts, MachineStatus } from './device-host.ts';

export interface MachineConfig extends DeviceHostConfig {
  /** Whether guest RAM is a SharedArrayBuffer (cross-origin isolated pages, Node). */
  readonly sharedMemory: boolean;
  /** The compiled CPU core (workers/cpu/build/core.wasm). */
  readonly coreModule: WebAssembly.Module;
}

/**
 * Everything a machine holds besides RAM and the boot images: the hart's state block (registers, CSRs,
 * privilege, FP state, the LR/SC reservation, WFI) and each stateful device's record. The SiFive test
 * device and the empty virtio slots hold no state; the boot ROM is rebuilt from the images.
 */
export interface MachineState {
  readonly cpu: readonly Uint8Array[];
  readonly devices: DeviceHostState;
}

/** Instructions per slice: short enough that timer and console latency stay well under a millisecond
 * at the interpreter's speed, long enough that the per-slice bookkeeping does not show in profiles. */
export const SLICE_INSTRUCTIONS = 200_000;

export class Machine {
  /** What the machine was built from (a snapshot records the RAM size, bootargs and images). */
  readonly config: MachineConfig;
  readonly memory: WebAssembly.Memory;
  /** Bus, devices, guest time and boot images. */
  readonly devices: DeviceHost;
  /** The one hart's core, run in this thread. */
  readonly runner: HartRunner;

  /**
   * Powers on a machine from its images, or, with `restore`, builds it in the saved state instead: then
   * RAM stays zero for the caller to fill (workers/machine/snapshot.ts) and the images only rebuild the
   * boot ROM and serve a later guest reboot.
   */
  constructor(config: MachineConfig, ports: MachinePorts, restore?: MachineState) {
    this.config = config;
    this.memory = createVmMemory(config.ramSize, config.sharedMemory);
    this.devices = new DeviceHost({ config, ports, memory: this.memory });
    this.runner = new HartRunner({
      coreModule: config.coreModule,
      memory: this.memory,
      hartId: 0,
      ramSize: config.ramSize,
      bus: this.devices.physicalBus,
      clock: this.devices.clock,
    });
    if (restore) this.#loadState(restore);
    else this.#powerOn();
    this.clock.resume();
  }

  get hart(): Hart {
    return this.runner.hart;
  }

  get bus(): Bus {
    return this.devices.bus;
  }

  get clock(): GuestClock {
    return this.devices.clock;
  }

  get clint(): Clint {
    return this.devices.clint;
  }

  get plic(): Plic {
    return this.devices.plic;
  }

  get uart(): Uart16550 {
    return this.devices.uart;
  }

  get rtc(): GoldfishRtc {
    return this.devices.rtc;
  }

  get ram(): Uint8Array {
    return this.devices.ram;
  }

  /** The virtio-mmio transports, slot 0 first. */
  get virtio(): readonly VirtioMmioTransport[] {
    return this.devices.virtio;
  }

  /** Block requests waiting on their backends (the run loop wakes for them; snapshots wait for none). */
  get io(): IoTracker {
    return this.devices.io;
  }

  /**
   * The machine's state for a snapshot. Call it between slices with the run loop stopped; the copy is
   * then consistent with RAM as it stands.
   */
  saveState(): MachineState {
    return { cpu: [this.hart.saveState()], devices: this.devices.saveState() };
  }

  #loadState(state: MachineState): void {
    if (state.cpu.length !== 1) throw new Error(`machine: state has ${state.cpu.length} harts, this machine has 1`);
    if (state.cpu[0]!.length !== L.HART_STRIDE) throw new Error(`machine: hart state is ${state.cpu[0]!.length} bytes, expected ${L.HART_STRIDE}`);
    if (state.devices.machine.v !== 1) throw new Error(`machine: unknown state version ${String(state.devices.machine.v)}`);
    this.hart.loadState(state.cpu[0]!);
    this.devices.loadState(state.devices);
  }

  /** Copies the boot images into RAM and resets the hart to the boot ROM, as a power-on does. */
  #powerOn(): void {
    this.devices.loadImages();
    this.runner.reset(BigInt(MEMORY_MAP.bootRom.base), this.devices.tohost);
  }

  /** What a power-on copies into RAM (the images' bytes and the device tree), at physical addresses. */
  get bootLoads(): readonly MemoryLoad[] {
    return this.devices.bootLoads;
  }

  /** How many times the guest has rebooted itself (SiFive test reset, e.g. Linux `reboot`). */
  get resets(): number {
    return this.devices.resets;
  }

  get status(): MachineStatus {
    return this.devices.status;
  }

  /** Offers host console input to the UART; returns how many bytes it took. */
  receiveInput(bytes: Uint8Array): number {
    return this.devices.receiveInput(bytes);
  }

  /** Runs one slice of guest instructions. */
  runSlice(budget = SLICE_INSTRUCTIONS): MachineStatus {
    const devices = this.devices;
    const before = devices.status;
    if (before.kind === 'halted') return before;
    devices.update();
    const reason = this.runner.run(budget);
    devices.checkTohost();
    if (devices.takeResetRequest()) {
      devices.reboot();
      this.runner.reset(BigInt(MEMORY_MAP.bootRom.base), devices.tohost);
    }
    const after = devices.status;
    if (after.kind === 'halted') return after;
    if (reason === L.STOP_WFI) {
      devices.update();
      if (this.runner.waiting) return { kind: 'idle', wakeInMs: devices.msUntilNextEvent() };
    }
    return { kind: 'running' };
  }
}
