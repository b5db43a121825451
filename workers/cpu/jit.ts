/**
 * The JIT (DESIGN.md §7): translates a hot guest basic block into a WebAssembly function that the
 * interpreter calls through its function table (workers/cpu/assembly/index.ts, run()).
 *
 * A translation covers straight-line code inside one guest page, from a block head to the first jump
 * (conditional branches leave it only when taken); it handles RV64I's integer instructions, M's multiply and divide (not MULH*), loads and
 * stores, and FENCE. Anything else ends the block *before* that instruction, so the interpreter executes
 * it: the generated code never traps and never calls out. Loads and stores take the software TLB's
 * fast path inline; a TLB miss, a page-crossing access or MMIO also leave the block before the access,
 * and the interpreter's slow path then does the access (and raises any fault, with the pc and
 * registers exactly as the interpreter would have them).
 *
 * Calling convention: `run(left: i32, dataKey: i64) -> i32`. `left` is the slice's remaining budget
 * (the interpreter calls only when one pass, JIT_LENGTH instructions, fits); a block that branches back
 * to its own head loops while another pass fits. The function stores the next pc in the hart block and
 * returns how many instructions retired; registers live in wasm locals inside the block and are written
 * back on every exit. `dataKey` is the TLB key for loads and stores (privilege, SUM, MXR), which no
 * instruction inside a block can change.
 *
 * Translations are copies of guest code: they are found by guest pc *and* the wasm address of the code
 * (so a changed mapping misses). After a FENCE.I each translation is compared with the code in memory
 * before its next use and dropped if the code changed; a reset or a state load drops them all.
 */
import * as L from './layout.ts';
import { Bytes, I32, I64, Op, VOID, moduleBytes } from './wasm-emitter.ts';

/** Longest block translated, in instructions. */
const MAX_BLOCK = 64;
/** Shortest block worth translating unless it loops. */
const MIN_BLOCK = 3;
/** Table slots in use before the whole cache is dropped (bounds the memory old translations hold). */
const MAX_SLOTS = 32768;

// Locals of a block function: the two parameters, then scratch, then one per guest register used.
const LEFT = 0;
const KEY = 1;
const N = 2; // i32: instructions retired by earlier passes of a looping block
const EXIT_PC = 3; // i64: the target of a jalr
const ADDR = 4; // i64: effective address of a load or store
const ENTRY = 5; // i32: TLB entry offset (page number bits) for that access
const FIRST_REG = 6;

const sext32 = (v: number): bigint => BigInt(v | 0);

interface Decoded {
  /** Guest pc of the instruction. */
  readonly pc: bigint;
  /** The 32-bit instruction (compressed ones expanded). */
  readonly insn: number;
  readonly length: 2 | 4;
}

/** What translate() makes of a block: the module, how many instructions one pass retires, the code it copies. */
export interface Translation {
  readonly bytes: Uint8Array;
  readonly length: number;
  readonly code: Uint8Array;
}

export class Jit {
  private readonly view: DataView;
  private readonly firstSlot: number;
  private nextSlot: number;
  /** Table slots of translations dropped because their code changed, for reuse. */
  private readonly freeSlots: number[] = [];
  /**
   * Every translation made since the last flush, by pc and code address: its table slot and the guest
   * code it copies. A block pushed out of the direct-mapped cache and found again is not compiled twice.
   */
  private readonly translations = new Map<string, Held>();
  /** The translation each cache entry holds. */
  private readonly entries = new Map<number, Held>();

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly table: WebAssembly.Table,
    private readonly hartBase: number,
    private readonly cacheBase: number,
    private readonly sharedMemory: boolean,
  ) {
    this.view = new DataView(memory.buffer);
    this.firstSlot = table.length;
    this.nextSlot = this.firstSlot;
  }

  /** Blocks translated since the last flush (for tests and statistics). */
  get blocks(): number {
    return this.translations.size;
  }

  /** The core's jitCompile import: translate the block at `pc` (code at wasm address `host`) into `entry`. */
  compile(pc: bigint, host: number, entry: number): void {
    this.entries.delete(entry);
    const key = `${pc}@${host}`;
    let held = this.translations.get(key);
    if (held && !this.current(held, host)) {
      this.translations.delete(key);
      this.table.set(held.slot, null);
      this.freeSlots.push(held.slot);
      held = undefined;
    }
    if (!held) {
      const t = this.translate(pc, host);
      if (!t) return;
      if (this.freeSlots.length === 0 && this.nextSlot - this.firstSlot >= MAX_SLOTS) {
        this.flush();
        return;
      }
      const instance = new WebAssembly.Instance(new WebAssembly.Module(t.bytes as Uint8Array<ArrayBuffer>), {
        env: { memory: this.memory },
      });
      const slot = this.freeSlots.pop() ?? this.nextSlot++;
      if (slot >= this.table.length) this.table.grow(Math.max(1024, this.table.length >> 1));
      this.table.set(slot, instance.exports.run as WebAssembly.ExportValue as (...args: never[]) => unknown);
      held = { slot, code: t.code, length: t.length };
      this.translations.set(key, held);
    }
    this.entries.set(entry, held);
    this.view.setUint32(entry + L.JIT_LENGTH, held.length, true);
    this.view.setUint32(entry + L.JIT_FN, held.slot, true);
  }

  /** The core's jitVerify import: whether the code behind `entry`'s translation is unchanged. */
  verify(entry: number): boolean {
    const held = this.entries.get(entry);
    return held !== undefined && this.current(held, this.view.getUint32(entry + L.JIT_HOST, true));
  }

  /** The core's jitFlush import: forget every translation. */
  flush(): void {
    new Uint8Array(this.memory.buffer, this.cacheBase, L.JIT_ENTRIES * L.JIT_ENTRY_SIZE).fill(0);
    for (let slot = this.firstSlot; slot < this.nextSlot; slot++) this.table.set(slot, null);
    this.nextSlot = this.firstSlot;
    this.freeSlots.length = 0;
    this.entries.clear();
    this.translations.clear();
  }

  /** Whether the guest code at `host` is still what `held` was translated from. */
  private current(held: Held, host: number): boolean {
    const now = new Uint8Array(this.memory.buffer, host, held.code.length);
    for (let i = 0; i < now.length; i++) if (now[i] !== held.code[i]) return false;
    return true;
  }

  /** Decodes the block at `pc` (bytes at `host`) and generates its module; undefined if its first instruction is not translatable. */
  translate(pc: bigint, host: number): Translation | undefined {
    const insns: Decoded[] = [];
    const pageOffset = Number(pc & 0xfffn);
    let bytes = 0;
    let at = pc;
    let ends = false;
    // A block stays inside its page: the interpreter checked the mapping of the first byte only.
    while (insns.length < MAX_BLOCK && pageOffset + bytes + 2 <= 0x1000) {
      const parcel = this.view.getUint16(host + bytes, true);
      let insn: number;
      let length: 2 | 4;
      if ((parcel & 3) === 3) {
        if (pageOffset + bytes + 4 > 0x1000) break;
        insn = this.view.getUint32(host + bytes, true);
        length = 4;
      } else {
        insn = this.view.getUint32(L.RVC_TABLE + parcel * 4, true);
        length = 2;
        if (insn === 0) break;
      }
      const kind = classify(insn);
      if (kind === 'unsupported') break;
      insns.push({ pc: at, insn, length });
      at = BigInt.asUintN(64, at + BigInt(length));
      bytes += length;
      if (kind === 'ends') {
        ends = true;
        break;
      }
    }
    // Calling a translation costs about as much as interpreting two instructions: a short block that
    // does not loop is left to the interpreter.
    if (insns.length < MIN_BLOCK && !insns.some((d) => branchTarget(d) === pc)) return undefined;
    return {
      bytes: new BlockCompiler(this.hartBase, pc, insns, ends ? undefined : at).module(this.sharedMemory),
      length: insns.length,
      code: new Uint8Array(this.memory.buffer, host, bytes).slice(),
    };
  }
}

interface Held {
  readonly slot: number;
  readonly code: Uint8Array;
  readonly length: number;
}

type Kind = 'plain' | 'ends' | 'unsupported';

/** Whether the block can hold `insn`, and whether it ends the block. Mirrors the interpreter's legality checks. */
function classify(insn: number): Kind {
  const funct3 = (insn >>> 12) & 7;
  const funct7 = insn >>> 25;
  switch (insn & 0x7f) {
    case 0x37: // lui
    case 0x17: // auipc
      return 'plain';
    case 0x6f: // jal
      return 'ends';
    case 0x67: // jalr
      return funct3 === 0 ? 'ends' : 'unsupported';
    case 0x63: // branches
      return funct3 === 2 || funct3 === 3 ? 'unsupported' : 'plain';
    case 0x03: // loads
      return funct3 === 7 ? 'unsupported' : 'plain';
    case 0x23: // stores
      return funct3 > 3 ? 'unsupported' : 'plain';
    case 0x13: // op-imm
      if (funct3 === 1) return insn >>> 26 === 0 ? 'plain' : 'unsupported';
      if (funct3 === 5) return insn >>> 26 === 0 || insn >>> 26 === 0x10 ? 'plain' : 'unsupported';
      return 'plain';
    case 0x1b: // op-imm-32
      if (funct3 === 0) return 'plain';
      if (funct3 === 1) return funct7 === 0 ? 'plain' : 'unsupported';
      if (funct3 === 5) return funct7 === 0 || funct7 === 0x20 ? 'plain' : 'unsupported';
      return 'unsupported';
    case 0x33: // op
      if (funct7 === 0) return 'plain';
      if (funct7 === 0x20) return funct3 === 0 || funct3 === 5 ? 'plain' : 'unsupported';
      // M: mul, div, divu, rem, remu (mulh, mulhsu, mulhu are left to the interpreter)
      if (funct7 === 1) return funct3 === 0 || funct3 >= 4 ? 'plain' : 'unsupported';
      return 'unsupported';
    case 0x3b: // op-32
      if (funct7 === 0) return funct3 === 0 || funct3 === 1 || funct3 === 5 ? 'plain' : 'unsupported';
      if (funct7 === 0x20) return funct3 === 0 || funct3 === 5 ? 'plain' : 'unsupported';
      if (funct7 === 1) return funct3 === 0 || funct3 >= 4 ? 'plain' : 'unsupported';
      return 'unsupported';
    case 0x0f: // fence (fence.i is left to the interpreter, which drops the translations)
      return funct3 === 0 ? 'plain' : 'unsupported';
    default:
      return 'unsupported';
  }
}

/** Generates one block's function. */
class BlockCompiler {
  private readonly code = new Bytes();
  /** Wasm local of each guest register the block touches (x0 never has one). */
  private readonly local = new Map<number, number>();
  /** Registers whose local holds the current value at this point of the pass (loaded or written). */
  private readonly live = new Set<number>();
  /** Registers an exit at this point must store back: written so far (or, in a loop, anywhere). */
  private readonly dirty = new Set<number>();
  /** Structured instructions open inside the loop (the loop's label is `depth`). */
  private depth = 0;
  private readonly loops: boolean;

  constructor(
    private readonly hartBase: number,
    private readonly start: bigint,
    private readonly insns: readonly Decoded[],
    /** pc after the last instruction when the block stops without a control transfer. */
    private readonly fallthrough: bigint | undefined,
  ) {
    for (const { insn } of insns) {
      for (const r of [...sourcesOf(insn), destinationOf(insn)])
        if (r !== 0 && !this.local.has(r)) this.local.set(r, FIRST_REG + this.local.size);
    }
    this.loops = insns.some((d) => branchTarget(d) === start);
  }

  module(sharedMemory: boolean): Uint8Array {
    const c = this.code;
    // A block that loops keeps every register it touches in its local from the start and stores back
    // all it writes at any exit (a later pass may exit before an instruction an earlier pass ran). A
    // straight block loads a register where it is first read and stores back what it has written.
    if (this.loops) {
      for (const r of this.local.keys()) this.use(r);
      for (const { insn } of this.insns) if (destinationOf(insn) !== 0) this.dirty.add(destinationOf(insn));
    }
    c.byte(Op.loop).byte(VOID);
    this.insns.forEach((d, k) => this.instruction(d, k));
    if (this.fallthrough !== undefined) this.exit(this.fallthrough, this.insns.length);
    c.byte(Op.end).byte(Op.unreachable);
    return moduleBytes(
      {
        params: [I32, I64],
        results: [I32],
        locals: [
          [1, I32],
          [2, I64],
          [1, I32],
          [this.local.size, I64],
        ].filter(([n]) => n! > 0) as [number, number][],
        body: c,
      },
      sharedMemory,
    );
  }

  // ---- emit helpers ----

  /** Makes sure register r's local holds its value (loads it from the hart block on first use). */
  private use(r: number): void {
    if (r === 0 || this.live.has(r)) return;
    this.live.add(r);
    this.i32(this.hartBase + L.X_REGS + 8 * r);
    this.code.byte(Op.i64_load).u32(3).u32(0);
    this.op(Op.local_set, this.local.get(r)!);
  }

  private get(r: number): void {
    if (r === 0) this.code.byte(Op.i64_const).s64(0n);
    else this.code.byte(Op.local_get).u32(this.local.get(r)!);
  }

  /** Stores the value on the stack into rd (x0 discards it). */
  private set(rd: number): void {
    if (rd === 0) {
      this.code.byte(Op.drop);
      return;
    }
    this.live.add(rd);
    this.dirty.add(rd);
    this.code.byte(Op.local_set).u32(this.local.get(rd)!);
  }

  private i64(v: bigint): void {
    this.code.byte(Op.i64_const).s64(v);
  }

  private i32(v: number): void {
    this.code.byte(Op.i32_const).s32(v);
  }

  private op(...ops: number[]): void {
    this.code.bytes(ops);
  }

  /**
   * Leaves the block: registers back to the hart block, then the next pc (`pc`, or the EXIT_PC local),
   * and returns the instructions retired: earlier passes plus `count`.
   */
  private exit(pc: bigint | 'computed', count: number): void {
    for (const r of this.dirty) {
      this.i32(this.hartBase + L.X_REGS + 8 * r);
      this.op(Op.local_get, this.local.get(r)!);
      this.code.byte(Op.i64_store).u32(3).u32(0);
    }
    this.i32(this.hartBase + L.PC);
    if (pc === 'computed') this.op(Op.local_get, EXIT_PC);
    else this.i64(BigInt.asIntN(64, pc));
    this.code.byte(Op.i64_store).u32(3).u32(0);
    this.op(Op.local_get, N);
    this.i32(count);
    this.op(Op.i32_add, Op.return);
  }

  private openIf(): void {
    this.op(Op.if, VOID);
    this.depth++;
  }

  private closeIf(): void {
    this.op(Op.end);
    this.depth--;
  }

  /** The end of a pass (`count` instructions) that jumps back to the head: loop while another pass fits the budget. */
  private loopBack(count: number): void {
    this.op(Op.local_get, N);
    this.i32(count);
    this.op(Op.i32_add, Op.local_tee, N);
    this.i32(this.insns.length);
    this.op(Op.i32_add, Op.local_get, LEFT, Op.i32_le_u);
    this.code.byte(Op.br_if).u32(this.depth);
    this.exit(this.start, 0);
  }

  /** Jump to `target` after `count` instructions of the pass. */
  private jumpTo(target: bigint, count: number): void {
    if (this.loops && target === this.start) this.loopBack(count);
    else this.exit(target, count);
  }

  /** rs1 + imm into ADDR, then the TLB check: on a miss or a page-crossing access, leave before instruction k. */
  private tlb(table: number, rs1: number, imm: number, size: number, k: number, pc: bigint): void {
    this.get(rs1);
    this.i64(BigInt(imm));
    this.op(Op.i64_add, Op.local_tee, ADDR);
    // entry = ((va >> 12) & 0xff) << 4, the tag (va >> 12) << 4 | key must match.
    this.i64(12n);
    this.op(Op.i64_shr_u, Op.i32_wrap_i64);
    this.i32(0xff);
    this.op(Op.i32_and);
    this.i32(4);
    this.op(Op.i32_shl, Op.local_tee, ENTRY);
    const entryBase = this.hartBase + table;
    this.code.byte(Op.i64_load).u32(3).u32(entryBase);
    this.op(Op.local_get, ADDR);
    this.i64(12n);
    this.op(Op.i64_shr_u);
    this.i64(4n);
    this.op(Op.i64_shl, Op.local_get, KEY, Op.i64_or, Op.i64_ne);
    if (size > 1) {
      this.op(Op.local_get, ADDR, Op.i32_wrap_i64);
      this.i32(0xfff);
      this.op(Op.i32_and);
      this.i32(0x1000 - size);
      this.op(Op.i32_gt_u, Op.i32_or);
    }
    this.openIf();
    this.exit(pc, k);
    this.closeIf();
    // host = va + addend
    this.op(Op.local_get, ENTRY);
    this.code
      .byte(Op.i64_load)
      .u32(3)
      .u32(entryBase + 8);
    this.op(Op.local_get, ADDR, Op.i64_add, Op.i32_wrap_i64);
  }

  private instruction(d: Decoded, k: number): void {
    const { insn, pc } = d;
    for (const r of sourcesOf(insn)) this.use(r);
    const rd = (insn >>> 7) & 31;
    const rs1 = (insn >>> 15) & 31;
    const rs2 = (insn >>> 20) & 31;
    const funct3 = (insn >>> 12) & 7;
    const funct7 = insn >>> 25;
    const immI = insn >> 20;
    const next = BigInt.asUintN(64, pc + BigInt(d.length));
    switch (insn & 0x7f) {
      case 0x37: // lui
        this.i64(sext32(insn & 0xfffff000));
        this.set(rd);
        return;
      case 0x17: // auipc
        this.i64(BigInt.asIntN(64, pc + sext32(insn & 0xfffff000)));
        this.set(rd);
        return;
      case 0x6f: {
        // jal
        const target = branchTarget(d)!;
        this.i64(BigInt.asIntN(64, next));
        this.set(rd);
        this.jumpTo(target, k + 1);
        return;
      }
      case 0x67: // jalr: the target is computed before rd is written (rd may be rs1)
        this.get(rs1);
        this.i64(BigInt(immI));
        this.op(Op.i64_add);
        this.i64(-2n);
        this.op(Op.i64_and, Op.local_set, EXIT_PC);
        this.i64(BigInt.asIntN(64, next));
        this.set(rd);
        this.exit('computed', k + 1);
        return;
      case 0x63: {
        // beq bne blt bge bltu bgeu
        this.get(rs1);
        this.get(rs2);
        this.op([Op.i64_eq, Op.i64_ne, 0, 0, Op.i64_lt_s, Op.i64_ge_s, Op.i64_lt_u, Op.i64_ge_u][funct3]!);
        this.openIf();
        this.jumpTo(branchTarget(d)!, k + 1);
        this.closeIf();
        return;
      }
      case 0x03: {
        // lb lh lw ld lbu lhu lwu
        const size = 1 << (funct3 & 3);
        this.tlb(L.TLB_READ, rs1, immI, size, k, pc);
        const load = [
          Op.i64_load8_s,
          Op.i64_load16_s,
          Op.i64_load32_s,
          Op.i64_load,
          Op.i64_load8_u,
          Op.i64_load16_u,
          Op.i64_load32_u,
        ][funct3]!;
        this.code.byte(load).u32(0).u32(0);
        this.set(rd);
        return;
      }
      case 0x23: {
        // sb sh sw sd
        const imm = ((insn >> 20) & ~31) | ((insn >>> 7) & 31);
        this.tlb(L.TLB_WRITE, rs1, imm, 1 << funct3, k, pc);
        this.get(rs2);
        this.code.byte([Op.i64_store8, Op.i64_store16, Op.i64_store32, Op.i64_store][funct3]!).u32(0).u32(0);
        return;
      }
      case 0x13: {
        // addi slti sltiu xori ori andi slli srli srai
        this.get(rs1);
        const shamt = BigInt(immI & 63);
        switch (funct3) {
          case 0:
            this.i64(BigInt(immI));
            this.op(Op.i64_add);
            break;
          case 1:
            this.i64(shamt);
            this.op(Op.i64_shl);
            break;
          case 2:
            this.i64(BigInt(immI));
            this.op(Op.i64_lt_s, Op.i64_extend_i32_u);
            break;
          case 3:
            this.i64(BigInt(immI));
            this.op(Op.i64_lt_u, Op.i64_extend_i32_u);
            break;
          case 4:
            this.i64(BigInt(immI));
            this.op(Op.i64_xor);
            break;
          case 5:
            this.i64(shamt);
            this.op(insn >>> 26 === 0 ? Op.i64_shr_u : Op.i64_shr_s);
            break;
          case 6:
            this.i64(BigInt(immI));
            this.op(Op.i64_or);
            break;
          default:
            this.i64(BigInt(immI));
            this.op(Op.i64_and);
        }
        this.set(rd);
        return;
      }
      case 0x1b: {
        // addiw slliw srliw sraiw
        this.get(rs1);
        this.op(Op.i32_wrap_i64);
        if (funct3 === 0) {
          this.i32(immI);
          this.op(Op.i32_add);
        } else {
          this.i32(rs2);
          this.op(funct3 === 1 ? Op.i32_shl : funct7 === 0 ? Op.i32_shr_u : Op.i32_shr_s);
        }
        this.op(Op.i64_extend_i32_s);
        this.set(rd);
        return;
      }
      case 0x33:
        if (funct7 === 1) this.divide(funct3, rs1, rs2, false);
        else {
          this.get(rs1);
          this.get(rs2);
          if (funct7 === 0x20) this.op(funct3 === 0 ? Op.i64_sub : Op.i64_shr_s);
          else {
            // wasm shifts take the count mod 64, as RV64 does (rs2[5:0])
            const ops = [
              Op.i64_add,
              Op.i64_shl,
              Op.i64_lt_s,
              Op.i64_lt_u,
              Op.i64_xor,
              Op.i64_shr_u,
              Op.i64_or,
              Op.i64_and,
            ];
            this.op(ops[funct3]!);
            if (funct3 === 2 || funct3 === 3) this.op(Op.i64_extend_i32_u);
          }
        }
        this.set(rd);
        return;
      case 0x3b:
        if (funct7 === 1) this.divide(funct3, rs1, rs2, true);
        else {
          this.get(rs1);
          this.op(Op.i32_wrap_i64);
          this.get(rs2);
          this.op(Op.i32_wrap_i64);
          // 32-bit shifts take the count mod 32 (rs2[4:0])
          if (funct3 === 0) this.op(funct7 === 0 ? Op.i32_add : Op.i32_sub);
          else if (funct3 === 1) this.op(Op.i32_shl);
          else this.op(funct7 === 0 ? Op.i32_shr_u : Op.i32_shr_s);
          this.op(Op.i64_extend_i32_s);
        }
        this.set(rd);
        return;
      case 0x0f: // fence: one hart, memory is coherent
        return;
      default:
        throw new Error(`jit: no translation for 0x${insn.toString(16)} (classify let it through)`);
    }
  }

  /**
   * mul and the divisions, leaving the result on the stack. Division never traps on RISC-V (unprivileged
   * spec §7.2, table 7.1): x/0 = all ones, x%0 = x, MIN/-1 = MIN with remainder 0. wasm's div_s traps on
   * both, rem_s only on 0 (MIN rem_s -1 is 0 in wasm), so the guards come first.
   */
  private divide(funct3: number, rs1: number, rs2: number, word: boolean): void {
    const a = (): void => {
      this.get(rs1);
      if (word) this.op(Op.i32_wrap_i64);
    };
    const b = (): void => {
      this.get(rs2);
      if (word) this.op(Op.i32_wrap_i64);
    };
    const isZero = word ? Op.i32_eqz : Op.i64_eqz;
    const widen = (): void => {
      if (word) this.op(Op.i64_extend_i32_s);
    };
    const ifElse = (cond: () => void, then: () => void, otherwise: () => void): void => {
      cond();
      this.op(Op.if, I64);
      this.depth++;
      then();
      this.op(Op.else);
      otherwise();
      this.op(Op.end);
      this.depth--;
    };
    const bZero = (): void => {
      b();
      this.op(isZero);
    };
    const overflow = (): void => {
      a();
      if (word) this.i32(-0x8000_0000);
      else this.i64(-(1n << 63n));
      this.op(word ? Op.i32_eq : Op.i64_eq);
      b();
      if (word) this.i32(-1);
      else this.i64(-1n);
      this.op(word ? Op.i32_eq : Op.i64_eq, Op.i32_and);
    };
    const plain = (op32: number, op64: number) => (): void => {
      a();
      b();
      this.op(word ? op32 : op64);
      widen();
    };
    const allOnes = (): void => this.i64(-1n);
    const dividend = (): void => {
      a();
      widen();
    };
    switch (funct3) {
      case 0: // mul, mulw
        plain(Op.i32_mul, Op.i64_mul)();
        return;
      case 4: // div, divw
        ifElse(bZero, allOnes, () => ifElse(overflow, dividend, plain(Op.i32_div_s, Op.i64_div_s)));
        return;
      case 5: // divu, divuw
        ifElse(bZero, allOnes, plain(Op.i32_div_u, Op.i64_div_u));
        return;
      case 6: // rem, remw
        ifElse(bZero, dividend, plain(Op.i32_rem_s, Op.i64_rem_s));
        return;
      default: // remu, remuw
        ifElse(bZero, dividend, plain(Op.i32_rem_u, Op.i64_rem_u));
    }
  }
}

/** The registers an instruction reads (x0 included; the caller skips it). */
function sourcesOf(insn: number): number[] {
  const rs1 = (insn >>> 15) & 31;
  const rs2 = (insn >>> 20) & 31;
  switch (insn & 0x7f) {
    case 0x67:
    case 0x03:
    case 0x13:
    case 0x1b:
      return [rs1];
    case 0x63:
    case 0x23:
    case 0x33:
    case 0x3b:
      return [rs1, rs2];
    default:
      return [];
  }
}

/** The register an instruction writes, or 0. */
function destinationOf(insn: number): number {
  switch (insn & 0x7f) {
    case 0x37:
    case 0x17:
    case 0x6f:
    case 0x67:
    case 0x03:
    case 0x13:
    case 0x1b:
    case 0x33:
    case 0x3b:
      return (insn >>> 7) & 31;
    default:
      return 0;
  }
}

/** The static target of a jal or conditional branch; undefined for anything else. */
function branchTarget(d: Decoded): bigint | undefined {
  const insn = d.insn;
  if ((insn & 0x7f) === 0x6f) {
    const imm = ((insn & 0x8000_0000) >> 11) | (insn & 0xff000) | ((insn >>> 9) & 0x800) | ((insn >>> 20) & 0x7fe);
    return BigInt.asUintN(64, d.pc + BigInt(imm));
  }
  if ((insn & 0x7f) === 0x63) {
    const imm = ((insn & 0x8000_0000) >> 19) | ((insn & 0x80) << 4) | ((insn >>> 20) & 0x7e0) | ((insn >>> 7) & 0x1e);
    return BigInt.asUintN(64, d.pc + BigInt(imm));
  }
  return undefined;
}
