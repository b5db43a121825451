/**
 * The device host: everything of the QEMU-`virt`-compatible machine that is not a hart — the bus and the
 * platform devices on it (boot ROM, SiFive test, RTC, CLINT, PLIC, UART, virtio-mmio), guest time, the
 * boot images and the devices' saved state. It drives each hart's interrupt inputs through HartPins
 * (atomic mip updates in the hart's state block, and a wake word), so it needs the VM memory but never
 * a hart's core: the harts may run in this thread (Machine) or in other workers (docs/harts.md), where
 * their MMIO reaches this host through a mailbox (mmio-mailbox.ts).
 *
 * Everything is placed from the one table in memory-map.ts. It owns no thread and no timer: whoever
 * runs it calls update() between slices (or when a device deadline passes) and serves the bus.
 */
import { Bus } from '../bus/bus.ts';
import { GuestErrorLog, type LogSink } from '../bus/guest-log.ts';
import type { MmioDevice } from '../bus/device.ts';
import { HartPins, MIP_MEIP, MIP_MSIP, MIP_MTIP, type PhysicalBus } from '../cpu/core.ts';
import * as L from '../cpu/layout.ts';
import { Clint, type ClintState } from '../devices/clint.ts';
import { Plic, type PlicState } from '../devices/plic.ts';
import { Uart16550, type Uart16550State } from '../devices/uart16550.ts';
import { GoldfishRtc, type GoldfishRtcState } from '../devices/goldfish-rtc.ts';
import { SifiveTest } from '../devices/sifive-test.ts';
import {
  VIRTIO_ID_NONE,
  VirtioMmioTransport,
  type VirtioDevice,
  type VirtioMmioState,
} from '../devices/virtio/mmio.ts';
import { GuestMemory } from '../devices/virtio/queue.ts';
import { VirtioBlk } from '../devices/virtio/blk.ts';
import { VirtioRng } from '../devices/virtio/rng.ts';
import { Virtio9p } from '../devices/virtio/9p.ts';
import { VirtioConsole, type ConsoleSize } from '../devices/virtio/console.ts';
import { VirtioNet, type NetLink } from '../devices/virtio/net.ts';
import { AgentConsole } from '../devices/virtio/agent-console.ts';
import type { NinePPort } from '../host/9p/server.ts';
import { IoTracker } from '../bus/io-tracker.ts';
import type { BlockBackend } from '../host/block/backend.ts';
import type { CharSink } from '../host/char-port.ts';
import { GuestClock, type GuestClockState } from './clock.ts';
import { IRQ, MEMORY_MAP, PLIC_NUM_SOURCES, VIRTIO_MMIO_SLOTS } from './memory-map.ts';
import { prepareVirtBoot, type MemoryLoad } from './loader.ts';
import { isElf, parseElf } from './elf.ts';

/** What a device host is built from: the machine's configuration without the CPU core. */
export interface DeviceHostConfig {
  /** Bytes of guest RAM. */
  readonly ramSize: number;
  /** Firmware: OpenSBI fw_dynamic.bin, or a bare-metal ELF run in M-mode. */
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly bootargs: string;
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
  /** Shared folders: one virtio-9p device each, after the disks and the entropy device. */
  readonly shares?: readonly ShareConfig[];
  /**
   * The virtio console (hvc0, docs/console.md) in the lowest slot, with the terminal's size at power-on;
   * default true, at 80×24.
   */
  readonly virtioConsole?: boolean;
  readonly consoleSize?: ConsoleSize;
  /** A virtio-net card, in the slot below the shares' (so adding it moves no disk or share); none without. */
  readonly net?: NetConfig;
  /**
   * The guest agent's port (agent-console.ts, docs/guest-agent.md) in slot 1, just above the console's,
   * which the other devices reach last; what the guest writes to it goes to this sink. None without, and
   * none when the other devices need slot 1.
   */
  readonly agent?: CharSink;
}

export interface NetConfig {
  /** The card's address (6 bytes; the config space's `mac`). */
  readonly mac: Uint8Array;
  /** Where its transmitted frames go (workers/runtime/net-port.ts, or a test's link). */
  readonly link: NetLink;
}

export interface ShareConfig {
  /** The mount tag the guest names (`mount -t 9p -o trans=virtio TAG DIR`). */
  readonly tag: string;
  /** The 9p server that answers for the share (workers/host/9p/server.ts). */
  readonly port: NinePPort;
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

/** The devices' part of a machine's state (MachineState.devices). */
export type DeviceHostState = {
  readonly machine: { readonly v: 1; readonly resets: number };
  readonly clock: GuestClockState;
  readonly clint: ClintState;
  readonly plic: PlicState;
  readonly uart0: Uart16550State;
  readonly rtc: GoldfishRtcState;
  /** The virtio-mmio slots in slot order; absent in snapshots from before virtio devices (all empty). */
  readonly virtio?: readonly VirtioMmioState[];
};

export type MachineStatus =
  | { readonly kind: 'running' }
  | { readonly kind: 'idle'; readonly wakeInMs: number | null }
  | { readonly kind: 'halted'; readonly exitCode: number; readonly reason: 'poweroff' | 'tohost' };

/** HTIF device 1 (console), command 1 (putchar): a tohost value of this form prints its low byte. */
const HTIF_CONSOLE_PUTCHAR = 0x0101n << 48n;

export interface DeviceHostOptions {
  readonly config: DeviceHostConfig;
  readonly ports: MachinePorts;
  /** The VM memory (layout.ts): RAM, the harts' state blocks and the shared block. */
  readonly memory: WebAssembly.Memory;
  /** How many harts the machine has (the device tree, the CLINT and the PLIC contexts); default 1. */
  readonly harts?: number;
  /** Guest time; default a GuestClock of its own over config.now. */
  readonly clock?: GuestClock;
}

export class DeviceHost {
  readonly config: DeviceHostConfig;
  readonly memory: WebAssembly.Memory;
  readonly ram: Uint8Array;
  readonly bus: Bus;
  readonly clock: GuestClock;
  readonly clint: Clint;
  readonly plic: Plic;
  readonly uart: Uart16550;
  readonly rtc: GoldfishRtc;
  /** The virtio-mmio transports, slot 0 first. */
  readonly virtio: readonly VirtioMmioTransport[];
  /** The virtio console (slot 0), unless the machine was built without one. */
  readonly console: VirtioConsole | undefined;
  /** The network card, when the config has one: the link's frames for the guest go to its receive(). */
  readonly net: VirtioNet | undefined;
  /** The guest agent's port (slot 1), when the config has one and the slot is free. */
  readonly agent: AgentConsole | undefined;
  /** Block requests waiting on their backends (the run loop wakes for them; snapshots wait for none). */
  readonly io = new IoTracker();
  /** Each hart's interrupt inputs, hart 0 first. */
  readonly pins: readonly HartPins[];
  /** The bus as the harts of this thread reach it (the core's mmioRead and mmioWrite). */
  readonly physicalBus: PhysicalBus;
  /** What a power-on copies into RAM (the images' bytes and the device tree), at physical addresses. */
  readonly bootLoads: readonly MemoryLoad[];
  /** Physical address of a bare-metal program's tohost word (the riscv-tests convention), if it has one. */
  readonly tohost: number | undefined;
  #halt: MachineStatus | undefined;
  #resetRequested = false;
  #resets = 0;
  readonly #console: CharSink;

  /** Builds the devices in their reset state; RAM is left as it is (see loadImages). */
  constructor(options: DeviceHostOptions) {
    const { config, ports, memory } = options;
    const harts = options.harts ?? 1;
    this.config = config;
    this.memory = memory;
    const log = new GuestErrorLog(ports.log);
    this.#console = ports.console;
    this.ram = new Uint8Array(memory.buffer, L.RAM_OFFSET, config.ramSize);
    this.clock = options.clock ?? new GuestClock(config.now);
    this.bus = new Bus(log);

    const boot = prepareVirtBoot({
      harts,
      ramSize: config.ramSize,
      bootargs: config.bootargs,
      bios: config.bios,
      ...(config.kernel ? { kernel: config.kernel } : {}),
      ...(config.initrd ? { initrd: config.initrd } : {}),
      ...(config.rngSeed ? { rngSeed: config.rngSeed } : {}),
    });
    this.bootLoads = boot.loads;
    const tohost = isElf(config.bios) ? parseElf(config.bios, 'bios').findSymbol('tohost') : undefined;
    this.tohost = tohost === undefined ? undefined : Number(tohost.value);

    const bus = this.bus;
    // The bus refuses what QEMU's virt refuses (bus.ts): the hart then takes an access fault.
    this.physicalBus = {
      read: (addr, size) => bus.load(addr, size),
      write: (addr, value, size) => bus.store(addr, value, size),
      fetch: (addr, size) => bus.fetch(addr, size),
    };

    this.pins = Array.from({ length: harts }, (_, hart) => new HartPins(memory, hart));
    this.clint = new Clint(
      this.clock,
      this.pins.map((pins) => ({
        msip: { set: (level: boolean) => pins.setPending(MIP_MSIP, level) },
        mtip: { set: (level: boolean) => pins.setPending(MIP_MTIP, level) },
      })),
      log.scope('clint'),
    );
    this.plic = new Plic(
      this.pins.map((pins) => ({
        meip: { set: (level: boolean) => pins.setPending(MIP_MEIP, level) },
        seip: { set: (level: boolean) => pins.setSupervisorExternal(level) },
      })),
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
    bus.map('boot-rom', m.bootRom.base, m.bootRom.size, romDevice(boot.bootRom));
    bus.map('sifive-test', m.sifiveTest.base, m.sifiveTest.size, test);
    bus.map('rtc', m.rtc.base, m.rtc.size, this.rtc);
    bus.map('clint', m.clint.base, m.clint.size, this.clint);
    bus.map('plic', m.plic.base, m.plic.size, this.plic);
    bus.map('uart0', m.uart0.base, m.uart0.size, this.uart);
    const guestMemory = new GuestMemory(this.ram, m.dram.base);
    const devices = virtioSlots(config, this.io);
    this.console = config.virtioConsole === false ? undefined : new VirtioConsole(ports.console, config.consoleSize);
    if (this.console) devices[CONSOLE_SLOT] = this.console;
    this.agent = config.agent && devices[AGENT_SLOT] === undefined ? new AgentConsole(config.agent) : undefined;
    if (this.agent) devices[AGENT_SLOT] = this.agent;
    this.virtio = devices.map((device, slot) =>
      device
        ? new VirtioMmioTransport(device, {
            memory: guestMemory,
            irq: this.plic.irqLine(IRQ.virtio(slot)),
            log: log.scope(`virtio${slot}`),
          })
        : new VirtioMmioTransport(),
    );
    this.net = devices.find((device): device is VirtioNet => device instanceof VirtioNet);
    this.virtio.forEach((transport, slot) => {
      bus.map(`virtio${slot}`, m.virtio.base + slot * m.virtio.size, m.virtio.size, transport);
    });
  }

  /** How many times the guest has rebooted itself (SiFive test reset, e.g. Linux `reboot`). */
  get resets(): number {
    return this.#resets;
  }

  /** Halted (powered off, or a bare-metal program's verdict), or running. */
  get status(): MachineStatus {
    return this.#halt ?? { kind: 'running' };
  }

  /** Copies the boot images into RAM, as a power-on does (the harts reset themselves to the boot ROM). */
  loadImages(): void {
    this.ram.fill(0);
    for (const load of this.bootLoads) this.ram.set(load.data, load.address - MEMORY_MAP.dram.base);
  }

  /**
   * Whether the guest asked for a reboot since the last call. The caller stops the harts, calls
   * reboot(), and resets the harts to the boot ROM.
   */
  takeResetRequest(): boolean {
    const requested = this.#resetRequested;
    this.#resetRequested = false;
    return requested;
  }

  /** The devices' side of a guest reboot: counts it and powers the images on again. */
  reboot(): void {
    this.#resets++;
    this.loadImages();
    // A reboot is a hardware reset for the virtio devices: a request still in flight must not
    // complete into the fresh RAM.
    for (const transport of this.virtio) transport.hardwareReset();
  }

  /**
   * Offers host console input to the virtio console once its port is open (docs/console.md), else to the
   * UART; returns how many bytes it took.
   */
  receiveInput(bytes: Uint8Array): number {
    if (bytes.length === 0) return 0;
    if (this.console?.open) {
      let taken = 0;
      this.console.receive({
        available: () => bytes.length - taken,
        read: (max) => {
          const chunk = bytes.subarray(taken, taken + max);
          taken += chunk.length;
          return chunk;
        },
      });
      return taken;
    }
    let n = 0;
    while (n < bytes.length && this.uart.receive(bytes[n]!)) n++;
    return n;
  }

  /** Brings timers and interrupt lines up to date with guest time. */
  update(): void {
    this.clint.update();
    this.rtc.update();
    this.uart.update();
  }

  /** Host milliseconds until a device has something to do, or null when only input can wake a hart. */
  msUntilNextEvent(): number | null {
    let next: bigint | null = null;
    for (const deadline of [this.clint.nextDeadline(), this.rtc.nextDeadline(), this.uart.nextDeadline()]) {
      if (deadline !== null && (next === null || deadline < next)) next = deadline;
    }
    return next === null ? null : this.clock.msUntil(next);
  }

  /**
   * Reads a bare-metal program's tohost word, the riscv-tests convention: 1 = pass, (code << 1) | 1 =
   * fail with code; HTIF putchar otherwise. The core ends a slice at each store it sees reach tohost;
   * reading the word after every slice also catches one made any other way (a translated block, a
   * device's DMA), at the latest when its slice ends.
   */
  checkTohost(): void {
    const address = this.tohost;
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

  /** The devices' state for a snapshot, taken with every hart stopped between slices. */
  saveState(): DeviceHostState {
    return {
      machine: { v: 1, resets: this.#resets },
      clock: this.clock.saveState(),
      clint: this.clint.saveState(),
      plic: this.plic.saveState(),
      uart0: this.uart.saveState(),
      rtc: this.rtc.saveState(),
      virtio: this.virtio.map((transport) => transport.saveState()),
    };
  }

  /** Restores the devices; load the harts' state blocks first, since the devices re-drive their lines. */
  loadState(d: DeviceHostState): void {
    if (d.machine.v !== 1) throw new Error(`machine: unknown state version ${String(d.machine.v)}`);
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
      d.virtio.forEach((state, slot) => {
        // A snapshot from before the virtio console has its slot empty: its guest never probed one and
        // will not, so the console stays in its reset state (and input stays with the UART).
        if (slot === CONSOLE_SLOT && state.deviceId === VIRTIO_ID_NONE && this.console) return;
        // Likewise a snapshot from before the guest agent's port, or of a machine without one: its guest
        // has no agent, and the port stays closed.
        if (slot === AGENT_SLOT && state.deviceId === VIRTIO_ID_NONE && this.agent) return;
        this.virtio[slot]!.loadState(state);
      });
    }
    this.plic.loadState(d.plic);
  }
}

/** The virtio console's slot: the lowest, which the other devices (placed from the top down) reach last. */
const CONSOLE_SLOT = 0;
/** The guest agent's slot: the next, which the other devices reach only when all the others are taken. */
const AGENT_SLOT = 1;

/**
 * What sits in each virtio-mmio slot: disks from the highest slot down (the FDT lists that slot first,
 * so the first disk is /dev/vda, as with QEMU), then the entropy device, then the shares, then the
 * network card; the rest are empty, but for the console in slot 0 (CONSOLE_SLOT).
 */
function virtioSlots(config: DeviceHostConfig, io: IoTracker): (VirtioDevice | undefined)[] {
  const wanted: VirtioDevice[] = (config.disks ?? []).map((disk) => new VirtioBlk(disk.backend, io, disk.readOnly));
  if (config.rng ?? true) wanted.push(new VirtioRng());
  for (const share of config.shares ?? []) wanted.push(new Virtio9p(share.tag, share.port, io));
  if (config.net) wanted.push(new VirtioNet(config.net.mac, config.net.link));
  const free = config.virtioConsole === false ? VIRTIO_MMIO_SLOTS : VIRTIO_MMIO_SLOTS - 1;
  if (wanted.length > free) throw new Error(`machine: ${wanted.length} virtio devices, but only ${free} slots`);
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
