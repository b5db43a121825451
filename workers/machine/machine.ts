/**
 * The QEMU-`virt`-compatible machine: RAM, one hart, the platform devices on the bus, the boot images.
 * Everything is placed from the one table in memory-map.ts. The machine runs in slices: between slices
 * it brings guest time and device interrupt lines up to date; it never owns a thread or a timer, so the
 * same code runs in a browser Worker, a Node worker thread and a unit test.
 */
import { Bus } from '../bus/bus.ts';
import { GuestErrorLog, type LogSink } from '../bus/guest-log.ts';
import type { IrqLine, MmioDevice } from '../bus/device.ts';
import { Hart, createVmMemory, MIP_MEIP, MIP_MSIP, MIP_MTIP, type PhysicalBus } from '../cpu/core.ts';
import * as L from '../cpu/layout.ts';
import { Clint } from '../devices/clint.ts';
import { Plic } from '../devices/plic.ts';
import { Uart16550 } from '../devices/uart16550.ts';
import { GoldfishRtc } from '../devices/goldfish-rtc.ts';
import { SifiveTest } from '../devices/sifive-test.ts';
import { VirtioMmioTransport, type VirtioDevice, type VirtioMmioState } from '../devices/virtio/mmio.ts';
import { GuestMemory } from '../devices/virtio/queue.ts';
import { VirtioBlk } from '../devices/virtio/blk.ts';
import { VirtioRng } from '../devices/virtio/rng.ts';
import { IoTracker } from '../bus/io-tracker.ts';
import type { BlockBackend } from '../host/block/backend.ts';
import type { CharSink } from '../host/char-port.ts';
import { GuestClock, type GuestClockState } from './clock.ts';
import type { ClintState } from '../devices/clint.ts';
import type { PlicState } from '../devices/plic.ts';
import type { Uart16550State } from '../devices/uart16550.ts';
import type { GoldfishRtcState } from '../devices/goldfish-rtc.ts';
import { IRQ, MEMORY_MAP, PLIC_NUM_SOURCES, VIRTIO_MMIO_SLOTS } from './memory-map.ts';
import { prepareVirtBoot, type MemoryLoad } from './loader.ts';
import { isElf, parseElf } from './elf.ts';

export interface MachineConfig {
  /** Bytes of guest RAM. */
  readonly ramSize: number;
  /** Firmware: OpenSBI fw_dynamic.bin, or a bare-metal ELF run in M-mode. */
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly bootargs: string;
  /** Whether guest RAM is a SharedArrayBuffer (cross-origin isolated pages, Node). */
  readonly sharedMemory: boolean;
  /** The compiled CPU core (workers/cpu/build/core.wasm). */
  readonly coreModule: WebAssembly.Module;
  /** Host time in ms, for guest time; default performance.now. */
  readonly now?: () => number;
  /** Wall-clock ms since the epoch at power-on, for the RTC; default Date.now(). */
  readonly wallClockMs?: number;
  /** Random bytes for the device tree's rng-seed. */
  readonly rngSeed?: Uint8Array;
  /** virtio-blk disks: the first is the guest's /dev/vda, the next /dev/vdb, … */
  readonly disks?: readonly DiskConfig[];
  /** A virtio-rng device fed by crypto.getRandomValues; default true. */
  readonly rng?: boolean;
}

export interface DiskConfig {
  readonly backend: BlockBackend;
  /** Refuse guest writes even if the backend takes them (the virtio-blk RO feature). */
  readonly readOnly?: boolean;
}

export interface MachinePorts {
  /** Bytes the guest writes to its serial console. */
  readonly console: CharSink;
  /** Guest errors (bad MMIO, …), each logged once. Default console.warn. */
  readonly log?: LogSink;
}

/**
 * Everything a machine holds besides RAM and the boot images: the hart's state block (registers, CSRs,
 * privilege, FP state, the LR/SC reservation, WFI) and each stateful device's record. The SiFive test
 * device and the empty virtio slots hold no state; the boot ROM is rebuilt from the images.
 */
export interface MachineState {
  readonly cpu: readonly Uint8Array[];
  readonly devices: {
    readonly machine: { readonly v: 1; readonly resets: number };
    readonly clock: GuestClockState;
    readonly clint: ClintState;
    readonly plic: PlicState;
    readonly uart0: Uart16550State;
    readonly rtc: GoldfishRtcState;
    /** The virtio-mmio slots in slot order; absent in snapshots from before virtio devices (all empty). */
    readonly virtio?: readonly VirtioMmioState[];
  };
}

export type MachineStatus =
  | { readonly kind: 'running' }
  | { readonly kind: 'idle'; readonly wakeInMs: number | null }
  | { readonly kind: 'halted'; readonly exitCode: number; readonly reason: 'poweroff' | 'tohost' };

/** Instructions per slice: short enough that timer and console latency stay well under a millisecond
 * at the interpreter's speed, long enough that the per-slice bookkeeping does not show in profiles. */
export const SLICE_INSTRUCTIONS = 200_000;

/** HTIF device 1 (console), command 1 (putchar): a tohost value of this form prints its low byte. */
const HTIF_CONSOLE_PUTCHAR = 0x0101n << 48n;

export class Machine {
  /** What the machine was built from (a snapshot records the RAM size, bootargs and images). */
  readonly config: MachineConfig;
  readonly memory: WebAssembly.Memory;
  readonly hart: Hart;
  readonly bus: Bus;
  readonly clock: GuestClock;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly rtc: GoldfishRtc;
  readonly ram: Uint8Array;
  /** The virtio-mmio transports, slot 0 first. */
  readonly virtio: readonly VirtioMmioTransport[];
  /** Block requests waiting on their backends (the run loop wakes for them; snapshots wait for none). */
  readonly io = new IoTracker();
  #halt: MachineStatus | undefined;
  #resetRequested = false;
  #resets = 0;
  readonly #loads: readonly MemoryLoad[];
  readonly #bootRom: Uint8Array;
  readonly #tohost: number | undefined;
  readonly #console: CharSink;

  /**
   * Powers on a machine from its images, or, with `restore`, builds it in the saved state instead: then
   * RAM stays zero for the caller to fill (workers/machine/snapshot.ts) and the images only rebuild the
   * boot ROM and serve a later guest reboot.
   */
  constructor(config: MachineConfig, ports: MachinePorts, restore?: MachineState) {
    this.config = config;
    const log = new GuestErrorLog(ports.log);
    this.#console = ports.console;
    this.memory = createVmMemory(config.ramSize, config.sharedMemory);
    this.ram = new Uint8Array(this.memory.buffer, L.RAM_OFFSET, config.ramSize);
    this.clock = new GuestClock(config.now);
    this.bus = new Bus(log);

    const boot = prepareVirtBoot({
      harts: 1,
      ramSize: config.ramSize,
      bootargs: config.bootargs,
      bios: config.bios,
      ...(config.kernel ? { kernel: config.kernel } : {}),
      ...(config.initrd ? { initrd: config.initrd } : {}),
      ...(config.rngSeed ? { rngSeed: config.rngSeed } : {}),
    });
    this.#loads = boot.loads;
    this.#bootRom = boot.bootRom;
    const tohost = isElf(config.bios) ? parseElf(config.bios, 'bios').findSymbol('tohost') : undefined;
    this.#tohost = tohost === undefined ? undefined : Number(tohost.value);

    const physical: PhysicalBus = {
      read: (addr, size) => this.bus.load(addr, size),
      write: (addr, value, size) => this.bus.store(addr, value, size),
      fetch: (addr, size) => this.bus.fetch(addr, size),
    };
    this.hart = new Hart(config.coreModule, this.memory, 0, config.ramSize, physical, () => Number(this.clock.ticks()));
    const hart = this.hart;
    const mipLine = (bit: bigint): IrqLine => ({ set: (level) => hart.setPending(bit, level) });

    this.clint = new Clint(this.clock, [{ msip: mipLine(MIP_MSIP), mtip: mipLine(MIP_MTIP) }], log.scope('clint'));
    this.plic = new Plic(
      [{ meip: mipLine(MIP_MEIP), seip: { set: (level) => hart.setSupervisorExternal(level) } }],
      { sources: PLIC_NUM_SOURCES, regionSize: MEMORY_MAP.plic.size },
      log.scope('plic'),
    );
    this.uart = new Uart16550({
      irq: this.plic.irqLine(IRQ.uart0),
      sink: ports.console,
      clock: this.clock,
      log: log.scope('uart0'),
    });
    this.rtc = new GoldfishRtc({
      irq: this.plic.irqLine(IRQ.rtc),
      clock: this.clock,
      ...(config.wallClockMs !== undefined ? { wallClockMs: config.wallClockMs } : {}),
      log: log.scope('rtc'),
    });
    const test = new SifiveTest(
      {
        powerOff: (code) => {
          this.#halt = { kind: 'halted', exitCode: code, reason: 'poweroff' };
        },
        reset: () => {
          this.#resetRequested = true;
        },
      },
      log.scope('sifive-test'),
    );

    const m = MEMORY_MAP;
    this.bus.map('boot-rom', m.bootRom.base, m.bootRom.size, romDevice(this.#bootRom));
    this.bus.map('sifive-test', m.sifiveTest.base, m.sifiveTest.size, test);
    this.bus.map('rtc', m.rtc.base, m.rtc.size, this.rtc);
    this.bus.map('clint', m.clint.base, m.clint.size, this.clint);
    this.bus.map('plic', m.plic.base, m.plic.size, this.plic);
    this.bus.map('uart0', m.uart0.base, m.uart0.size, this.uart);
    const memory = new GuestMemory(this.ram, m.dram.base);
    const devices = virtioSlots(config, this.io);
    this.virtio = devices.map((device, slot) =>
      device
        ? new VirtioMmioTransport(device, {
            memory,
            irq: this.plic.irqLine(IRQ.virtio(slot)),
            log: log.scope(`virtio${slot}`),
          })
        : new VirtioMmioTransport(),
    );
    this.virtio.forEach((transport, slot) => {
      this.bus.map(`virtio${slot}`, m.virtio.base + slot * m.virtio.size, m.virtio.size, transport);
    });
    if (restore) this.#loadState(restore);
    else this.#loadImages();
    this.clock.resume();
  }

  /**
   * The machine's state for a snapshot. Call it between slices with the run loop stopped; the copy is
   * then consistent with RAM as it stands.
   */
  saveState(): MachineState {
    return {
      cpu: [this.hart.saveState()],
      devices: {
        machine: { v: 1, resets: this.#resets },
        clock: this.clock.saveState(),
        clint: this.clint.saveState(),
        plic: this.plic.saveState(),
        uart0: this.uart.saveState(),
        rtc: this.rtc.saveState(),
        virtio: this.virtio.map((transport) => transport.saveState()),
      },
    };
  }

  #loadState(state: MachineState): void {
    const d = state.devices;
    if (state.cpu.length !== 1) throw new Error(`machine: state has ${state.cpu.length} harts, this machine has 1`);
    if (state.cpu[0]!.length !== L.HART_STRIDE) throw new Error(`machine: hart state is ${state.cpu[0]!.length} bytes, expected ${L.HART_STRIDE}`);
    if (d.machine.v !== 1) throw new Error(`machine: unknown state version ${String(d.machine.v)}`);
    this.hart.loadState(state.cpu[0]!);
    this.#resets = d.machine.resets;
    // The clock before the CLINT (MTIP compares mtimecmp with the time now); the UART and RTC drive
    // their PLIC sources, so the PLIC comes last and ends with exactly its saved gateways and outputs.
    this.clock.loadState(d.clock);
    this.clint.loadState(d.clint);
    this.uart.loadState(d.uart0);
    this.rtc.loadState(d.rtc);
    // A state from before virtio devices has no record: its guest found every slot empty and will not
    // probe again, so the devices stay in their reset state.
    if (d.virtio) {
      if (d.virtio.length !== this.virtio.length)
        throw new Error(`machine: state has ${d.virtio.length} virtio slots, this machine has ${this.virtio.length}`);
      d.virtio.forEach((state, slot) => this.virtio[slot]!.loadState(state));
    }
    this.plic.loadState(d.plic);
  }

  /** Copies the boot images into RAM and resets the hart to the boot ROM, as a power-on does. */
  #loadImages(): void {
    this.ram.fill(0);
    for (const load of this.#loads) {
      const offset = load.address - MEMORY_MAP.dram.base;
      this.ram.set(load.data, offset);
    }
    this.hart.reset(BigInt(MEMORY_MAP.bootRom.base));
    if (this.#tohost !== undefined) this.hart.setField(L.TOHOST_ADDR, BigInt(this.#tohost));
  }

  /** What a power-on copies into RAM (the images' bytes and the device tree), at physical addresses. */
  get bootLoads(): readonly MemoryLoad[] {
    return this.#loads;
  }

  /** How many times the guest has rebooted itself (SiFive test reset, e.g. Linux `reboot`). */
  get resets(): number {
    return this.#resets;
  }

  get status(): MachineStatus {
    return this.#halt ?? { kind: 'running' };
  }

  /** Offers host console input to the UART; returns how many bytes it took. */
  receiveInput(bytes: Uint8Array): number {
    let n = 0;
    while (n < bytes.length && this.uart.receive(bytes[n]!)) n++;
    return n;
  }

  /** Brings timers and interrupt lines up to date with guest time. */
  #updateDevices(): void {
    const now = this.clock.ticks();
    this.hart.mtime = now;
    this.clint.update();
    this.rtc.update();
    this.uart.update();
  }

  /** Runs one slice of guest instructions. */
  runSlice(budget = SLICE_INSTRUCTIONS): MachineStatus {
    if (this.#halt) return this.#halt;
    this.#updateDevices();
    this.hart.run(budget);
    const reason = this.hart.stopReason;
    // The core ends a slice at each store it sees reach tohost (STOP_TOHOST); reading the word after
    // every slice also catches one made any other way (a translated block, a device's DMA), at the latest
    // when its slice ends.
    this.#onTohost();
    if (this.#resetRequested) {
      this.#resetRequested = false;
      this.#resets++;
      this.#loadImages();
      // A reboot is a hardware reset for the virtio devices: a request still in flight must not
      // complete into the fresh RAM.
      for (const transport of this.virtio) transport.hardwareReset();
    }
    if (this.#halt) return this.#halt;
    if (reason === L.STOP_WFI) {
      this.#updateDevices();
      if (this.hart.waiting) return { kind: 'idle', wakeInMs: this.#msUntilNextEvent() };
    }
    return { kind: 'running' };
  }

  /** Host milliseconds until a device has something to do, or null when only input can wake the hart. */
  #msUntilNextEvent(): number | null {
    let next: bigint | null = null;
    for (const deadline of [this.clint.nextDeadline(), this.rtc.nextDeadline(), this.uart.nextDeadline()]) {
      if (deadline !== null && (next === null || deadline < next)) next = deadline;
    }
    return next === null ? null : this.clock.msUntil(next);
  }

  /** The riscv-tests convention: 1 = pass, (code << 1) | 1 = fail with code; HTIF putchar otherwise. */
  #onTohost(): void {
    const address = this.#tohost;
    // A poweroff in this slice stands: the guest ran no further.
    if (address === undefined || this.#halt) return;
    const view = new DataView(this.memory.buffer, L.RAM_OFFSET + (address - MEMORY_MAP.dram.base), 8);
    const value = view.getBigUint64(0, true);
    if (value === 0n) return;
    if (value >> 48n === HTIF_CONSOLE_PUTCHAR >> 48n) {
      this.#console.write(Number(value & 0xffn));
      view.setBigUint64(0, 0n, true);
      return;
    }
    this.#halt = { kind: 'halted', exitCode: value === 1n ? 0 : Number(value >> 1n), reason: 'tohost' };
  }
}

/**
 * What sits in each virtio-mmio slot: disks from the highest slot down (the FDT lists that slot first,
 * so the first disk is /dev/vda, as with QEMU), then the entropy device; the rest are empty.
 */
function virtioSlots(config: MachineConfig, io: IoTracker): (VirtioDevice | undefined)[] {
  const wanted: VirtioDevice[] = (config.disks ?? []).map((disk) => new VirtioBlk(disk.backend, io, disk.readOnly));
  if (config.rng ?? true) wanted.push(new VirtioRng());
  if (wanted.length > VIRTIO_MMIO_SLOTS)
    throw new Error(`machine: ${wanted.length} virtio devices, but only ${VIRTIO_MMIO_SLOTS} slots`);
  const slots: (VirtioDevice | undefined)[] = new Array<VirtioDevice | undefined>(VIRTIO_MMIO_SLOTS).fill(undefined);
  wanted.forEach((device, i) => {
    slots[VIRTIO_MMIO_SLOTS - 1 - i] = device;
  });
  return slots;
}

/** A read-only memory region on the bus (the boot ROM). Writes are guest errors and ignored. */
function romDevice(bytes: Uint8Array): MmioDevice {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    accessSizes: [1, 2, 4, 8],
    executable: true,
    read(offset, size) {
      switch (size) {
        case 1: return BigInt(view.getUint8(offset));
        case 2: return BigInt(view.getUint16(offset, true));
        case 4: return BigInt(view.getUint32(offset, true));
        default: return view.getBigUint64(offset, true);
      }
    },
    write() {},
  };
}
