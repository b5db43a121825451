/**
 * The TypeScript side of the CPU core: instantiates the AssemblyScript wasm over the VM's shared memory
 * and gives the machine a typed view of one hart's state block (workers/cpu/layout.ts).
 */
import * as L from './layout.ts';
import { Jit } from './jit.ts';

export interface CoreExports {
  attach(base: number, ramSize: bigint): void;
  reset(hartId: bigint, pc: bigint): void;
  run(budget: number): number;
  flushTlb(): void;
  afterStateLoad(): void;
  setJit(threshold: number): void;
  setHartCount(count: number): void;
}

export interface HartOptions {
  /**
   * Translate hot blocks to wasm (workers/cpu/jit.ts) once the interpreter reached their head this many
   * times; 0 = interpreter only. Default JIT_THRESHOLD.
   */
  readonly jitThreshold?: number;
  /** How many harts share the memory; above 1, FENCE orders memory across threads. Default 1. */
  readonly harts?: number;
}

/**
 * Block heads reached this often are translated. A translation is a region of hot code of a page, which
 * costs more to compile than the single block it replaced, so code that runs only a few hundred times
 * (much of boot) is cheaper to interpret; with regions 1000 booted faster than 400 and ran the
 * benchmark's workloads as fast (README, Performance).
 */
export const JIT_THRESHOLD = 1000;

/** What the core calls for physical addresses outside RAM. */
export interface PhysicalBus {
  /** Returns undefined when no device answers at `addr` (the CPU raises an access fault). */
  read(addr: number, size: 1 | 2 | 4 | 8): bigint | undefined;
  /** Returns false when no device answers at `addr`. */
  write(addr: number, value: bigint, size: 1 | 2 | 4 | 8): boolean;
  /** An instruction fetch; undefined outside memory that holds code (the CPU raises an instruction access fault). */
  fetch(addr: number, size: 1 | 2 | 4 | 8): bigint | undefined;
}

/** Creates the VM's memory: the core's state area plus `ramSize` bytes of DRAM. */
export function createVmMemory(ramSize: number, shared: boolean): WebAssembly.Memory {
  const pages = Math.ceil((L.RAM_OFFSET + ramSize) / 65536);
  return new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
}

export const MIP_MSIP = 1n << 3n;
export const MIP_MTIP = 1n << 7n;
export const MIP_MEIP = 1n << 11n;

/**
 * A hart's interrupt inputs as devices drive them: the device-owned mip bits (MSIP, MTIP, MEIP) and the
 * PLIC's SEIP line in the hart's state block, and the hart's wake word (layout.ts HART_WAKE). It needs
 * only the memory, not the core, so the device host can drive a hart that runs in another thread. Each
 * change is one atomic step (the core changes the software-writable mip bits atomically too, so neither
 * side loses the other's update), then the wake word is bumped and notified so that a hart asleep in
 * WFI (HartRunner.sleep) sees it.
 */
export class HartPins {
  readonly #words: BigUint64Array;
  readonly #mip: number;
  readonly #seip: number;
  readonly #shared: Int32Array;
  readonly #wake: number;

  constructor(memory: WebAssembly.Memory, hartId: number) {
    if (!Number.isInteger(hartId) || hartId < 0 || hartId >= L.MAX_HARTS) throw new RangeError(`hart ${hartId} does not exist`);
    const base = L.HART_BASE + hartId * L.HART_STRIDE;
    this.#words = new BigUint64Array(memory.buffer);
    this.#mip = (base + L.MIP) / 8;
    this.#seip = (base + L.SEIP_LINE) / 8;
    this.#shared = new Int32Array(memory.buffer, L.SHARED_BLOCK, 0x1000 / 4);
    this.#wake = (L.HART_WAKE + 4 * hartId) / 4;
  }

  /** Drives one of the mip bits owned by devices: MSIP, MTIP, MEIP. */
  setPending(bit: bigint, level: boolean): void {
    if (level) Atomics.or(this.#words, this.#mip, bit);
    else Atomics.and(this.#words, this.#mip, ~bit & 0xffff_ffff_ffff_ffffn);
    this.#notify();
  }

  /** The PLIC's supervisor external interrupt line: ORed into mip.SEIP as software sees it. */
  setSupervisorExternal(level: boolean): void {
    Atomics.store(this.#words, this.#seip, level ? 1n : 0n);
    this.#notify();
  }

  /** The wake word's value: read it before run(), sleep on it only while it is unchanged. */
  get wakeCount(): number {
    return Atomics.load(this.#shared, this.#wake);
  }

  /** The wake word, to sleep on with Atomics.wait (index `wakeIndex`). */
  get wakeWord(): Int32Array {
    return this.#shared;
  }

  get wakeIndex(): number {
    return this.#wake;
  }

  /** Wakes the hart from a WFI sleep without changing a line (a halt, a reset, a pause). */
  kick(): void {
    this.#notify();
  }

  #notify(): void {
    Atomics.add(this.#shared, this.#wake, 1);
    // notify on unshared memory (compatibility mode) is allowed and wakes no one: there is no other thread.
    Atomics.notify(this.#shared, this.#wake);
  }
}

export class Hart {
  private readonly core: CoreExports;
  private readonly words: BigUint64Array;
  private readonly base: number;
  /** The hart's translator; its `blocks` counts the translations in use. */
  readonly jit: Jit;
  /** The hart's interrupt inputs and wake word. */
  readonly pins: HartPins;

  constructor(
    module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    readonly hartId: number,
    readonly ramSize: number,
    bus: PhysicalBus,
    /** Guest time in ticks for the `time` CSR; by default the MTIME field the host sets between slices. */
    mtime: () => number = () => Number(this.field(L.MTIME)),
    options: HartOptions = {},
  ) {
    this.base = L.HART_BASE + hartId * L.HART_STRIDE;
    // The core calls translations through this table (call_indirect); its own functions need 1 slot.
    const table = new WebAssembly.Table({ element: 'anyfunc', initial: 1 });
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    this.jit = new Jit(memory, table, this.base, L.JIT_CACHE + hartId * L.JIT_CACHE_STRIDE, shared, (options.harts ?? 1) > 1);
    this.words = new BigUint64Array(memory.buffer, this.base, L.HART_STRIDE / 8);
    this.pins = new HartPins(memory, hartId);
    const busError = (): void => {
      this.words[L.BUS_ERROR / 8] = 1n;
    };
    const instance = new WebAssembly.Instance(module, {
      env: {
        memory,
        table,
        jitCompile: (pc: bigint, host: number, entry: number, epoch: number): void =>
          this.jit.compile(pc, host, entry, epoch),
        jitFlush: (): void => this.jit.flush(),
        jitVerify: (entry: number): boolean => this.jit.verify(entry),
        mmioRead: (addr: bigint, size: number): bigint => {
          const v = bus.read(Number(addr), size as 1 | 2 | 4 | 8);
          if (v === undefined) {
            busError();
            return 0n;
          }
          return v;
        },
        mmioFetch: (addr: bigint, size: number): bigint => {
          const v = bus.fetch(Number(addr), size as 1 | 2 | 4 | 8);
          if (v === undefined) {
            busError();
            return 0n;
          }
          return v;
        },
        mtime,
        mmioWrite: (addr: bigint, value: bigint, size: number): void => {
          if (!bus.write(Number(addr), BigInt.asUintN(size * 8, value), size as 1 | 2 | 4 | 8)) busError();
        },
      },
    });
    this.core = instance.exports as unknown as CoreExports;
    this.core.attach(this.base, BigInt(ramSize));
    this.core.setJit(options.jitThreshold ?? JIT_THRESHOLD);
    this.core.setHartCount(options.harts ?? 1);
  }

  /** Resets the hart into M-mode at `pc`. */
  reset(pc: bigint): void {
    this.core.attach(this.base, BigInt(this.ramSize));
    this.core.reset(BigInt(this.hartId), pc);
  }

  /** Runs up to `budget` instructions; returns how many retired. See `stopReason`. */
  run(budget: number): number {
    return this.core.run(budget);
  }

  get stopReason(): number {
    return Number(this.field(L.STOP_REASON));
  }

  field(offset: number): bigint {
    return this.words[offset / 8]!;
  }

  setField(offset: number, value: bigint): void {
    this.words[offset / 8] = BigInt.asUintN(64, value);
  }

  x(r: number): bigint {
    return this.field(L.X_REGS + 8 * r);
  }

  setX(r: number, v: bigint): void {
    if (r !== 0) this.setField(L.X_REGS + 8 * r, v);
  }

  get pc(): bigint {
    return this.field(L.PC);
  }

  set pc(v: bigint) {
    this.setField(L.PC, v);
  }

  get privilege(): number {
    return Number(this.field(L.PRIV));
  }

  get instret(): bigint {
    return this.field(L.INSTRET);
  }

  /** Drives one of the mip bits owned by devices: MSIP, MTIP, MEIP. */
  setPending(bit: bigint, level: boolean): void {
    this.pins.setPending(bit, level);
  }

  /** The PLIC's supervisor external interrupt line: ORed into mip.SEIP as software sees it. */
  setSupervisorExternal(level: boolean): void {
    this.pins.setSupervisorExternal(level);
  }

  set mtime(ticks: bigint) {
    this.setField(L.MTIME, ticks);
  }

  /** Whether the hart sleeps in WFI. */
  get waiting(): boolean {
    return this.field(L.WFI_STATE) !== 0n;
  }

  /** A copy of the whole state block (registers, CSRs, TLBs): saving a CPU is a byte copy. */
  saveState(): Uint8Array {
    return new Uint8Array(this.memory.buffer, this.base, L.HART_STRIDE).slice();
  }

  loadState(state: Uint8Array): void {
    new Uint8Array(this.memory.buffer, this.base, L.HART_STRIDE).set(state);
    this.core.attach(this.base, BigInt(this.ramSize));
    this.core.afterStateLoad();
  }
}
