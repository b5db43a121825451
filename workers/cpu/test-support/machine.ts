/**
 * A test machine for the CPU core: one Hart over a fresh VM memory with a few MiB of RAM, a fake bus
 * that records every MMIO access, and helpers to place code and data, run to a halt and look at the
 * hart's registers and CSR fields.
 *
 * Guest physical layout used by the tests (RAM starts at DRAM_BASE = 0x8000_0000):
 *   M_TRAP   0x8000_0000  M-mode trap handler: `wfi; j -4` — mtvec points here
 *   S_TRAP   0x8000_0100  S-mode trap handler: `wfi; j -4` — stvec points here
 *   ENTER    0x8000_0200  `mret`: how a test starts in S or U (mepc = CODE, mstatus.MPP = the mode)
 *   CODE     0x8000_1000  the test program
 *   DATA     0x8010_0000  scratch data
 *   TABLES   0x8020_0000  page tables built by PageTables
 *
 * The handler's WFI stops run() (STOP_WFI) unless an enabled interrupt is pending; either way "run to
 * halt" stops once the pc is in a handler, so it means "run until the program traps" — normally the
 * `ebreak` that ends it (mcause 3).
 *
 * Needs Node (it reads workers/cpu/build/core.wasm from disk): for unit tests only.
 */
import { Hart, createVmMemory, type PhysicalBus } from '../core.ts';
import * as L from '../layout.ts';
import { disassemble } from '../disasm.ts';
import { assemble, j, mret, reg, wfi, type Item, type Reg } from './asm.ts';

export const M_TRAP = 0x8000_0000n;
export const S_TRAP = 0x8000_0100n;
export const ENTER = 0x8000_0200n;
export const CODE = 0x8000_1000n;
export const DATA = 0x8010_0000n;
export const TABLES = 0x8020_0000n;

export const PRIV_U = 0;
export const PRIV_S = 1;
export const PRIV_M = 3;

// Exception causes (privileged spec 1.12, table 3.6).
export const CAUSE = {
  misalignedFetch: 0n,
  fetchAccess: 1n,
  illegalInstruction: 2n,
  breakpoint: 3n,
  misalignedLoad: 4n,
  loadAccess: 5n,
  misalignedStore: 6n,
  storeAccess: 7n,
  ecallU: 8n,
  ecallS: 9n,
  ecallM: 11n,
  fetchPageFault: 12n,
  loadPageFault: 13n,
  storePageFault: 15n,
} as const;
export const INTERRUPT = 1n << 63n;

/** mstatus fields (§3.1.6). */
export const MSTATUS = {
  SIE: 1n << 1n,
  MIE: 1n << 3n,
  SPIE: 1n << 5n,
  MPIE: 1n << 7n,
  SPP: 1n << 8n,
  MPP: 3n << 11n,
  FS: 3n << 13n,
  MPRV: 1n << 17n,
  SUM: 1n << 18n,
  MXR: 1n << 19n,
  TVM: 1n << 20n,
  TW: 1n << 21n,
  TSR: 1n << 22n,
} as const;
export const MPP_SHIFT = 11n;

/** Interrupt numbers: bits of mip/mie and the exception code of an interrupt's mcause (§3.1.9). */
export const IRQ = { SSI: 1n, MSI: 3n, STI: 5n, MTI: 7n, SEI: 9n, MEI: 11n } as const;

// ---- the wasm module ---------------------------------------------------------------------------------

interface NodeFs {
  readFileSync(path: URL): Uint8Array<ArrayBuffer>;
}

let modulePromise: Promise<WebAssembly.Module> | undefined;

/** The compiled core (workers/cpu/build/core.wasm, made by `npm run build:core`), compiled once. */
export function coreModule(): Promise<WebAssembly.Module> {
  modulePromise ??= (async () => {
    // This file is type-checked with the worker libraries (no Node types), so node:fs is imported untyped.
    const specifier = 'node:fs';
    const fs = (await import(/* @vite-ignore */ specifier)) as NodeFs;
    const bytes = fs.readFileSync(new URL('../build/core.wasm', import.meta.url));
    return WebAssembly.compile(bytes);
  })();
  return modulePromise;
}

/**
 * The JIT threshold of test machines (core.ts HartOptions): TABVM_JIT_THRESHOLD from the environment
 * (the `cpu-jit` vitest project sets 1, so every block is translated at once), else 0, interpreter only.
 */
const jitThreshold = Number(
  (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.TABVM_JIT_THRESHOLD ?? 0,
);

// ---- the fake bus ------------------------------------------------------------------------------------

export interface BusAccess {
  readonly kind: 'read' | 'write';
  readonly addr: number;
  readonly size: number;
  /** The value written, or the value the read returned. */
  readonly value: bigint;
}

export interface FakeDevice {
  readonly executable?: boolean;
  read?(offset: number, size: number): bigint;
  write?(offset: number, value: bigint, size: number): void;
}

/** Records every access; only mapped regions answer, anything else is a bus error (access fault). */
export class FakeBus implements PhysicalBus {
  readonly accesses: BusAccess[] = [];
  private readonly regions: { base: number; size: number; device: FakeDevice }[] = [];

  map(base: number, size: number, device: FakeDevice): void {
    this.regions.push({ base, size, device });
  }

  /** Maps an 8-byte little-endian register at `addr` that reads back what was last written. */
  register(addr: number, initial = 0n): { value: bigint } {
    const cell = { value: initial };
    this.map(addr, 8, {
      read: (off, size) => BigInt.asUintN(size * 8, cell.value >> BigInt(8 * off)),
      write: (off, value, size) => {
        const mask = ((1n << BigInt(size * 8)) - 1n) << BigInt(8 * off);
        cell.value = (cell.value & ~mask) | ((value << BigInt(8 * off)) & mask);
      },
    });
    return cell;
  }

  private find(addr: number, size: number): { base: number; device: FakeDevice } | undefined {
    return this.regions.find((r) => addr >= r.base && addr + size <= r.base + r.size);
  }

  read(addr: number, size: 1 | 2 | 4 | 8): bigint | undefined {
    const region = this.find(addr, size);
    const value = region?.device.read?.(addr - region.base, size);
    if (value !== undefined) this.accesses.push({ kind: 'read', addr, size, value });
    return value;
  }

  /** Fetches come only from regions mapped with an `executable` device, as from the boot ROM on the real bus. */
  fetch(addr: number, size: 1 | 2 | 4 | 8): bigint | undefined {
    return this.find(addr, size)?.device.executable === true ? this.read(addr, size) : undefined;
  }

  write(addr: number, value: bigint, size: 1 | 2 | 4 | 8): boolean {
    const region = this.find(addr, size);
    if (!region?.device.write) return false;
    this.accesses.push({ kind: 'write', addr, size, value });
    region.device.write(addr - region.base, value, size);
    return true;
  }
}

// ---- the machine -------------------------------------------------------------------------------------

export interface RunResult {
  readonly retired: number;
  readonly stop: number;
}

/** Where and why the program stopped, when it trapped into one of the harness's handlers. */
export interface Trap {
  readonly level: 'M' | 'S';
  readonly cause: bigint;
  readonly epc: bigint;
  readonly tval: bigint;
}

export interface HaltResult extends RunResult {
  readonly trap: Trap | undefined;
}

export interface BootOptions {
  /** Privilege the program starts in (default M). S and U enter through an `mret` at ENTER. */
  readonly priv?: number;
  /** Open PMP entry 0 (NAPOT over all memory, RWX) so S and U may access memory; default: when priv < M. */
  readonly openPmp?: boolean;
  /** Code address (default CODE). */
  readonly at?: bigint;
  /** JIT threshold of the machine (core.ts HartOptions); default from TABVM_JIT_THRESHOLD, else 0. */
  readonly jitThreshold?: number;
  /** Harts the core believes share its memory (core.ts HartOptions.harts); default 1. */
  readonly harts?: number;
}

const CSR_FIELDS = {
  mstatus: L.MSTATUS,
  misa: L.MISA,
  medeleg: L.MEDELEG,
  mideleg: L.MIDELEG,
  mie: L.MIE,
  mip: L.MIP,
  mtvec: L.MTVEC,
  mcounteren: L.MCOUNTEREN,
  mscratch: L.MSCRATCH,
  mepc: L.MEPC,
  mcause: L.MCAUSE,
  mtval: L.MTVAL,
  stvec: L.STVEC,
  scounteren: L.SCOUNTEREN,
  sscratch: L.SSCRATCH,
  sepc: L.SEPC,
  scause: L.SCAUSE,
  stval: L.STVAL,
  satp: L.SATP,
  fcsr: L.FCSR,
  instret: L.INSTRET,
} as const;
export type CsrField = keyof typeof CSR_FIELDS;

export class Machine {
  readonly bus = new FakeBus();
  readonly hart: Hart;
  readonly memory: WebAssembly.Memory;
  private readonly view: DataView;

  private constructor(
    module: WebAssembly.Module,
    readonly ramSize: number,
    jitThreshold: number,
    harts: number,
  ) {
    this.memory = createVmMemory(ramSize, true);
    this.hart = new Hart(module, this.memory, 0, ramSize, this.bus, undefined, { jitThreshold, harts });
    this.view = new DataView(this.memory.buffer, L.RAM_OFFSET, ramSize);
  }

  static async create(ramSize = 4 << 20, jit = jitThreshold, harts = 1): Promise<Machine> {
    return new Machine(await coreModule(), ramSize, jit, harts);
  }

  /** A fresh machine with `code` at CODE (see BootOptions), reset and ready to run. */
  static async boot(code: readonly Item[], options: BootOptions = {}): Promise<Machine> {
    const m = await Machine.create(undefined, options.jitThreshold, options.harts);
    m.boot(code, options);
    return m;
  }

  // ---- guest physical memory (RAM only) ----

  private offset(pa: bigint, size: number): number {
    const off = pa - BigInt(L.DRAM_BASE);
    if (off < 0n || off + BigInt(size) > BigInt(this.ramSize)) throw new Error(`0x${pa.toString(16)} is not RAM`);
    return Number(off);
  }

  writeBytes(pa: bigint, bytes: Uint8Array): void {
    new Uint8Array(this.memory.buffer, L.RAM_OFFSET + this.offset(pa, bytes.length), bytes.length).set(bytes);
  }
  readBytes(pa: bigint, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, L.RAM_OFFSET + this.offset(pa, length), length).slice();
  }
  /** Assembles `items` and places them at `pa`; returns the address just past them. */
  place(pa: bigint, items: readonly Item[]): bigint {
    const bytes = assemble(items);
    this.writeBytes(pa, bytes);
    return pa + BigInt(bytes.length);
  }

  read8(pa: bigint): bigint {
    return BigInt(this.view.getUint8(this.offset(pa, 1)));
  }
  read16(pa: bigint): bigint {
    return BigInt(this.view.getUint16(this.offset(pa, 2), true));
  }
  read32(pa: bigint): bigint {
    return BigInt(this.view.getUint32(this.offset(pa, 4), true));
  }
  read64(pa: bigint): bigint {
    return this.view.getBigUint64(this.offset(pa, 8), true);
  }
  write8(pa: bigint, v: bigint): void {
    this.view.setUint8(this.offset(pa, 1), Number(BigInt.asUintN(8, v)));
  }
  write16(pa: bigint, v: bigint): void {
    this.view.setUint16(this.offset(pa, 2), Number(BigInt.asUintN(16, v)), true);
  }
  write32(pa: bigint, v: bigint): void {
    this.view.setUint32(this.offset(pa, 4), Number(BigInt.asUintN(32, v)), true);
  }
  write64(pa: bigint, v: bigint): void {
    this.view.setBigUint64(this.offset(pa, 8), BigInt.asUintN(64, v), true);
  }

  // ---- hart state ----

  x(r: Reg): bigint {
    return this.hart.x(reg(r));
  }
  /** x register as a signed value. */
  sx(r: Reg): bigint {
    return BigInt.asIntN(64, this.x(r));
  }
  setX(r: Reg, v: bigint): void {
    this.hart.setX(reg(r), v);
  }
  f(r: number): bigint {
    return this.hart.field(L.F_REGS + 8 * r);
  }
  setF(r: number, v: bigint): void {
    this.hart.setField(L.F_REGS + 8 * r, v);
  }
  csr(name: CsrField): bigint {
    return this.hart.field(CSR_FIELDS[name]);
  }
  setCsr(name: CsrField, v: bigint): void {
    this.hart.setField(CSR_FIELDS[name], v);
  }
  get pc(): bigint {
    return this.hart.pc;
  }
  get privilege(): number {
    return this.hart.privilege;
  }

  /**
   * Resets the hart and places the trap handlers and `code`. CSR fields set here by the host (mtvec,
   * stvec, mepc, mstatus.MPP, PMP) are plain state; the core reads them when it needs them.
   *
   * Gotcha: the core caches the effective data privilege and SUM/MXR (the TLB keys) and recomputes them
   * only on a privilege change or a CSR write of mstatus/sstatus. A host `setCsr('mstatus', …)` therefore
   * takes effect for MPRV/SUM/MXR at the next trap, xRET or mstatus write — before the harness's mret
   * into S or U that is fine; for M-mode code set those bits from the guest.
   */
  boot(code: readonly Item[], options: BootOptions = {}): void {
    const priv = options.priv ?? PRIV_M;
    const at = options.at ?? CODE;
    this.place(M_TRAP, [wfi(), j(-4)]);
    this.place(S_TRAP, [wfi(), j(-4)]);
    this.place(ENTER, [mret()]);
    this.place(at, code);
    this.hart.reset(priv === PRIV_M ? at : ENTER);
    this.setCsr('mtvec', M_TRAP);
    this.setCsr('stvec', S_TRAP);
    if (priv !== PRIV_M) {
      this.setCsr('mepc', at);
      this.setCsr('mstatus', this.csr('mstatus') | (BigInt(priv) << 11n));
    }
    if (options.openPmp ?? priv !== PRIV_M) this.openPmp();
  }

  /** Continues execution at `pc` (e.g. after a halt in a handler): sets the pc and wakes the hart from WFI. */
  resumeAt(pc: bigint): void {
    this.hart.pc = pc;
    this.hart.setField(L.WFI_STATE, 0n);
  }

  /** PMP entry 0: NAPOT over the whole physical address space, R W X, unlocked. */
  openPmp(): void {
    this.hart.setField(L.PMPADDR, (1n << 54n) - 1n);
    this.hart.setField(L.PMPCFG, (this.hart.field(L.PMPCFG) & ~0xffn) | 0x1fn);
  }

  run(budget: number): RunResult {
    const retired = this.hart.run(budget);
    return { retired, stop: this.hart.stopReason };
  }

  /**
   * Runs until the hart stops (WFI, tohost), enters one of the harness's trap handlers, or has spent
   * `budget` steps; says which handler it stopped in. (A handler's WFI does not stop the hart while an
   * enabled interrupt is still pending, so reaching the handler's code counts as halted too.)
   */
  runToHalt(budget = 100_000): HaltResult {
    const CHUNK = 1000;
    let retired = 0;
    let stop: number = L.STOP_BUDGET;
    for (let left = budget; left > 0; left -= CHUNK) {
      retired += this.hart.run(Math.min(left, CHUNK));
      stop = this.hart.stopReason;
      if (stop !== L.STOP_BUDGET || this.handlerLevel() !== undefined) break;
    }
    let trap: Trap | undefined;
    const level = this.handlerLevel();
    if (level === 'M') {
      trap = { level, cause: this.csr('mcause'), epc: this.csr('mepc'), tval: this.csr('mtval') };
    } else if (level === 'S') {
      trap = { level, cause: this.csr('scause'), epc: this.csr('sepc'), tval: this.csr('stval') };
    }
    return { retired, stop, trap };
  }

  /** Which harness trap handler the pc is in, if any. */
  private handlerLevel(): 'M' | 'S' | undefined {
    const pc = this.pc;
    if (pc >= M_TRAP && pc < M_TRAP + 8n) return 'M';
    if (pc >= S_TRAP && pc < S_TRAP + 8n) return 'S';
    return undefined;
  }

  /** Runs until the program's `ebreak` traps to M; throws with a description if it stops otherwise. */
  runToEbreak(budget = 100_000): HaltResult {
    const r = this.runToHalt(budget);
    if (r.trap?.level !== 'M' || r.trap.cause !== CAUSE.breakpoint) throw new Error(this.describe(r));
    return r;
  }

  /** Runs until a trap into a harness handler; throws if the hart stopped for another reason. */
  runToTrap(budget = 100_000): Trap {
    const r = this.runToHalt(budget);
    if (!r.trap) throw new Error(this.describe(r));
    return r.trap;
  }

  /** The instruction word at guest physical `pa` (RAM), for messages. */
  private insnAt(pa: bigint): string {
    try {
      return disassemble(Number(this.read32(pa)), pa);
    } catch {
      return '?';
    }
  }

  describe(r: HaltResult): string {
    const hex = (v: bigint): string => '0x' + v.toString(16);
    if (r.trap) {
      return (
        `trap to ${r.trap.level}: cause ${hex(r.trap.cause)} at ${hex(r.trap.epc)} (${this.insnAt(r.trap.epc)}), ` +
        `tval ${hex(r.trap.tval)}`
      );
    }
    return `stopped (reason ${r.stop}) at pc ${hex(this.pc)} after ${r.retired} instructions`;
  }
}

/** Boots `code` (ending in `ebreak`) in M-mode and runs it to the ebreak. */
export async function runProgram(code: readonly Item[], options: BootOptions = {}): Promise<Machine> {
  const m = await Machine.boot(code, options);
  m.runToEbreak();
  return m;
}

// ---- page tables (privileged spec 1.12 §4.3–4.4) ---------------------------------------------------

export const PTE = { V: 1n, R: 2n, W: 4n, X: 8n, U: 16n, G: 32n, A: 64n, D: 128n } as const;
export const SATP_MODE = { bare: 0n, sv39: 8n, sv48: 9n } as const;

/** Builds Sv39/Sv48 page tables in the machine's RAM, allocating table pages upward from `base`. */
export class PageTables {
  readonly levels: number;
  readonly root: bigint;
  private next: bigint;

  constructor(
    private readonly m: Machine,
    readonly mode: 'sv39' | 'sv48',
    base: bigint = TABLES,
  ) {
    this.levels = mode === 'sv39' ? 3 : 4;
    this.root = base;
    this.next = base + 0x1000n;
    m.writeBytes(base, new Uint8Array(4096));
  }

  /** satp for these tables (ASID 0). */
  get satp(): bigint {
    return (SATP_MODE[this.mode] << 60n) | (this.root >> 12n);
  }

  private vpn(va: bigint, level: number): bigint {
    return (va >> (12n + 9n * BigInt(level))) & 0x1ffn;
  }

  /** The physical address of the PTE that maps `va` at `level` (0 = 4 KiB leaf), creating tables on the way. */
  pteAddress(va: bigint, level = 0): bigint {
    let table = this.root;
    for (let l = this.levels - 1; l > level; l--) {
      const addr = table + this.vpn(va, l) * 8n;
      let pte = this.m.read64(addr);
      if ((pte & PTE.V) !== 0n && (pte & (PTE.R | PTE.W | PTE.X)) !== 0n) {
        throw new Error(`0x${va.toString(16)} is inside a superpage mapped at level ${l}`);
      }
      if ((pte & PTE.V) === 0n) {
        const page = this.next;
        this.next += 0x1000n;
        this.m.writeBytes(page, new Uint8Array(4096));
        pte = ((page >> 12n) << 10n) | PTE.V;
        this.m.write64(addr, pte);
      }
      table = ((pte >> 10n) & ((1n << 44n) - 1n)) << 12n;
    }
    return table + this.vpn(va, level) * 8n;
  }

  /** Maps the page of `va` at `level` (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB, 3 = 512 GiB) to `pa` with `flags`. */
  map(va: bigint, pa: bigint, flags: bigint, level = 0): bigint {
    const addr = this.pteAddress(va, level);
    this.m.write64(addr, ((pa >> 12n) << 10n) | flags);
    return addr;
  }

  pte(va: bigint, level = 0): bigint {
    return this.m.read64(this.pteAddress(va, level));
  }

  setPte(va: bigint, value: bigint, level = 0): void {
    this.m.write64(this.pteAddress(va, level), value);
  }
}
