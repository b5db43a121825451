/**
 * The JIT (DESIGN.md §7): translates hot guest code into WebAssembly functions that the interpreter
 * calls through its function table (workers/cpu/assembly/index.ts, run()).
 *
 * A translation is a *region* (after v86): the blocks of one 4 KiB guest page reached from a hot entry
 * point by direct branches and jumps inside the page, and the return points of the calls it makes —
 * those the interpreter has executed, so that cold code costs no compile time. A block runs from its
 * start to a jump, to the start of another block, or to the first instruction the JIT does not
 * translate (it then leaves *before* that instruction). Translated are RV64I's integer instructions,
 * M's multiply and divide (not MULH*), loads and stores, and FENCE — the rows with a `jit` kind in
 * decode.ts's table, the decoder the disassembler uses too (docs/decoder.md); the interpreter executes
 * everything else, so the generated code never traps and never calls out. Loads and stores take the software
 * TLB's fast path inline; a TLB miss, a page-crossing access or MMIO also leave the region before the
 * access, and the interpreter's slow path then does it (and raises any fault, with the pc and
 * registers exactly as the interpreter would have them).
 *
 * Inside the function the blocks follow each other in address order, each in a wasm `block` of a nest
 * around which a loop dispatches with a `br_table` over the blocks' start addresses. A block keeps the
 * registers it uses in wasm locals and leaves through one way out that stores those it writes, then
 * goes on to the dispatch (a branch, jump or JALR whose target starts a block of the region) or back
 * to the interpreter (any other target: code in another page, a pc that starts no block, an
 * instruction left to the interpreter).
 *
 * Calling convention: `run(left: i32, dataKey: i64, pc: i64) -> i32`. `pc` is where to start (a block
 * start); `left` is the slice's remaining budget: every block checks on entry that it fits in what is
 * left and otherwise returns, so a call never retires more than `left` instructions and a loop inside
 * the region runs at most to the end of the slice, or with several harts to run()'s next look at mip
 * (INTERRUPT_CHECK instructions: another thread may raise an interrupt at any time). The function
 * stores the next pc in the hart block and returns how many instructions retired (0: none, the
 * interpreter carries on at `pc`). `dataKey` is the TLB key for loads and stores (privilege, SUM,
 * MXR), which no translated instruction can change.
 *
 * Translations are copies of guest code: a region is found by the guest page *and* the wasm address
 * of its code (so a changed mapping misses). After a FENCE.I each region is compared with the code in
 * memory before its next use and dropped if the code changed; a reset or a state load drops them all.
 */
import * as L from './layout.ts';
import { decode, relativeTarget, xDestination, xSources, type Instruction } from './decode.ts';
import { Bytes, I32, I64, Op, VOID, moduleBytes } from './wasm-emitter.ts';

/** Longest block, in instructions (a longer straight run is split into blocks that follow each other). */
const MAX_BLOCK = 64;
/** Table slots in use before the whole cache is dropped (bounds the memory old translations hold). */
const MAX_SLOTS = 32768;
const PAGE = 0x1000;

// Locals of a region function: the three parameters, then scratch, then one per guest register used.
const LEFT = 0; // i32: budget left in the slice
const KEY = 1; // i64: TLB key of loads and stores
const NEXT = 2; // i64: the pc to start at; then the pc to dispatch to, or to leave at
const N = 3; // i32: instructions retired so far
const ADDR = 4; // i64: effective address of a load or store; the dispatch's offset into the page
const ENTRY = 5; // i32: TLB entry offset (page number bits) for that access
const GO = 6; // i32: where a block's way out leads: 1 = the dispatch (on NEXT), 0 = back to the interpreter
const FIRST_REG = 7;

// The threads proposal's i64.atomic.rmw.add (prefix 0xfe, then the opcode as a LEB128 u32).
const ATOMIC_PREFIX = 0xfe;
const I64_ATOMIC_RMW_ADD = 0x1f;

interface Decoded {
  /** Guest pc of the instruction. */
  readonly pc: bigint;
  /** The 32-bit instruction (a compressed one's base, the instruction it expands to). */
  readonly insn: Instruction;
  readonly length: 2 | 4;
}

/** A straight run of a region: from `start` (page offset) through `insns`. */
interface Block {
  readonly start: number;
  readonly insns: readonly Decoded[];
  /**
   * What follows the last instruction when it is not a jump: the block starting there (`fall`, a page
   * offset), or the interpreter at `leave` (the next instruction is not translated or not in the page).
   */
  readonly fall?: number;
  readonly leave?: bigint;
}

/** What Jit.plan() makes of a page: the blocks (in address order) and the code bytes they copy. */
interface Plan {
  readonly blocks: readonly Block[];
  /** Page offsets of the first byte and one past the last byte translated. */
  readonly lo: number;
  readonly hi: number;
}

interface Region {
  /** Its page: guest virtual address and wasm address. */
  readonly key: string;
  readonly slot: number;
  readonly pageHost: number;
  /** Length in instructions of the block at each start (page offset). */
  readonly starts: ReadonlyMap<number, number>;
  readonly lo: number;
  /** The guest code translated: the page's bytes [lo, lo + code.length). */
  readonly code: Uint8Array;
  /** Block cache entries that point at this region. */
  readonly entries: Set<number>;
}

export class Jit {
  private readonly view: DataView;
  private readonly firstSlot: number;
  private nextSlot: number;
  /** Table slots of dropped regions, for reuse. */
  private readonly freeSlots: number[] = [];
  /** The regions of each page, by page address and code address. */
  private readonly pages = new Map<string, Region[]>();
  /** The region each cache entry points at. */
  private readonly entries = new Map<number, Region>();

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly table: WebAssembly.Table,
    private readonly hartBase: number,
    private readonly cacheBase: number,
    private readonly sharedMemory: boolean,
    /** More than one hart shares the memory: FENCE then orders memory as the interpreter's does. */
    private readonly orderFences = false,
  ) {
    this.view = new DataView(memory.buffer);
    this.firstSlot = table.length;
    this.nextSlot = this.firstSlot;
  }

  /** Blocks translated (in all regions) since the last flush, for tests and statistics. */
  get blocks(): number {
    let n = 0;
    for (const regions of this.pages.values()) for (const region of regions) n += region.starts.size;
    return n;
  }

  /** Regions (compiled functions) in use. */
  get regions(): number {
    let n = 0;
    for (const regions of this.pages.values()) n += regions.length;
    return n;
  }

  /** The block starts (guest pcs) of a region of `pc`'s page that starts a block at `pc`, for tests. */
  regionOf(pc: bigint): bigint[] | undefined {
    const offset = Number(pc & 0xfffn);
    for (const [key, regions] of this.pages) {
      if (!key.startsWith(`${pc - BigInt(offset)}@`)) continue;
      const region = regions.find((r) => r.starts.has(offset));
      if (region) return [...region.starts.keys()].map((start) => pc - BigInt(offset) + BigInt(start));
    }
    return undefined;
  }

  /**
   * The core's jitCompile import: make `entry` (the block cache entry of `pc`, whose code is at wasm
   * address `host`) point at a region that starts a block at `pc`, translating one from `pc` if no
   * region of the page does. `epoch` is the core's FENCE.I count.
   *
   * A page may have several regions, one per entry point that was hot before any region started a
   * block there (a function called from other pages, say): translating the page again instead would
   * compile the same code many times over while its entry points warm up one by one.
   */
  compile(pc: bigint, host: number, entry: number, epoch: number): void {
    const offset = Number(pc & 0xfffn);
    const pageVa = pc - BigInt(offset);
    const pageHost = host - offset;
    const key = `${pageVa}@${pageHost}`;
    for (const old of this.pages.get(key) ?? []) if (!this.current(old)) this.drop(old);
    let region = this.pages.get(key)?.find((r) => r.starts.has(offset));
    if (!region) {
      if (!this.decode(pageVa, pageHost, offset)) return;
      if (this.freeSlots.length === 0 && this.nextSlot - this.firstSlot >= MAX_SLOTS) {
        this.flush();
        return;
      }
      const plan = this.plan(pageVa, pageHost, offset);
      const bytes = new RegionCompiler(this.hartBase, pageVa, plan.blocks, this.orderFences).module(this.sharedMemory);
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {
        env: { memory: this.memory },
      });
      const slot = this.freeSlots.pop() ?? this.nextSlot++;
      if (slot >= this.table.length) this.table.grow(Math.max(1024, this.table.length >> 1));
      this.table.set(slot, instance.exports.run as WebAssembly.ExportValue as (...args: never[]) => unknown);
      region = {
        key,
        slot,
        pageHost,
        starts: new Map(plan.blocks.map((b) => [b.start, b.insns.length])),
        lo: plan.lo,
        code: new Uint8Array(this.memory.buffer, pageHost + plan.lo, plan.hi - plan.lo).slice(),
        entries: new Set(),
      };
      const regions = this.pages.get(key);
      if (regions) regions.push(region);
      else this.pages.set(key, [region]);
      // Its other block starts that are entry points too (the return point of a call to another page,
      // a block the interpreter reached) go in the cache now, where their entry holds no translation.
      for (const start of region.starts.keys()) {
        const at = pageVa + BigInt(start);
        const e = this.entryOf(at);
        if (e === entry || this.view.getUint32(e + L.JIT_FN, true) !== 0) continue;
        this.view.setBigUint64(e + L.JIT_PC, at, true);
        this.view.setUint32(e + L.JIT_HOST, pageHost + start, true);
        this.view.setUint32(e + L.JIT_HITS, 0, true);
        this.view.setUint32(e + L.JIT_EPOCH, epoch, true);
        this.point(e, region);
      }
    }
    this.point(entry, region);
  }

  /** The core's jitVerify import: whether the code behind `entry`'s region is unchanged (if not, the region is dropped). */
  verify(entry: number): boolean {
    const region = this.entries.get(entry);
    if (region === undefined) return false;
    if (this.current(region)) return true;
    this.drop(region);
    return false;
  }

  /** The core's jitFlush import: forget every translation. */
  flush(): void {
    new Uint8Array(this.memory.buffer, this.cacheBase, L.JIT_ENTRIES * L.JIT_ENTRY_SIZE).fill(0);
    for (let slot = this.firstSlot; slot < this.nextSlot; slot++) this.table.set(slot, null);
    this.nextSlot = this.firstSlot;
    this.freeSlots.length = 0;
    this.entries.clear();
    this.pages.clear();
  }

  /** The block cache entry of `pc` (the core's hash, assembly/index.ts run()). */
  private entryOf(pc: bigint): number {
    const low = Number(pc & 0xffff_ffffn); // the hash uses bits 1..31 only
    return this.cacheBase + (((low >>> 1) ^ (low >>> 17)) & (L.JIT_ENTRIES - 1)) * L.JIT_ENTRY_SIZE;
  }

  /**
   * Whether the interpreter has reached `pc` as a block head since its cache entry was made (or a
   * translation starts there): code that never ran stays out of regions, so they hold hot code only.
   */
  private reached(pc: bigint): boolean {
    const e = this.entryOf(pc);
    return (
      this.view.getBigUint64(e + L.JIT_PC, true) === pc &&
      (this.view.getUint32(e + L.JIT_HITS, true) !== 0 || this.view.getUint32(e + L.JIT_FN, true) !== 0)
    );
  }

  /** Points cache entry `e` (whose pc starts a block of `region`) at the region. */
  private point(e: number, region: Region): void {
    const before = this.entries.get(e);
    if (before && before !== region) before.entries.delete(e);
    this.entries.set(e, region);
    region.entries.add(e);
    const offset = Number(this.view.getBigUint64(e + L.JIT_PC, true) & 0xfffn);
    this.view.setUint32(e + L.JIT_LENGTH, region.starts.get(offset)!, true);
    this.view.setUint32(e + L.JIT_FN, region.slot, true);
  }

  /** Drops a region whose code changed: no cache entry calls it any more, and its table slot is free. */
  private drop(region: Region): void {
    for (const e of region.entries) {
      this.entries.delete(e);
      if (this.view.getUint32(e + L.JIT_FN, true) !== region.slot) continue;
      this.view.setUint32(e + L.JIT_FN, 0, true);
      this.view.setUint32(e + L.JIT_HITS, 0, true);
    }
    region.entries.clear();
    const rest = this.pages.get(region.key)!.filter((r) => r !== region);
    if (rest.length > 0) this.pages.set(region.key, rest);
    else this.pages.delete(region.key);
    this.table.set(region.slot, null);
    this.freeSlots.push(region.slot);
  }

  /** Whether the guest code in memory is still what `region` was translated from. */
  private current(region: Region): boolean {
    const now = new Uint8Array(this.memory.buffer, region.pageHost + region.lo, region.code.length);
    for (let i = 0; i < now.length; i++) if (now[i] !== region.code[i]) return false;
    return true;
  }

  /** The translatable instruction at page offset `offset`, or undefined (not translated, or it crosses the page's end). */
  private decode(pageVa: bigint, pageHost: number, offset: number): Decoded | undefined {
    if (offset + 2 > PAGE) return undefined;
    const parcel = this.view.getUint16(pageHost + offset, true);
    const length = (parcel & 3) === 3 ? 4 : 2;
    if (offset + length > PAGE) return undefined;
    const insn = decode(length === 4 ? this.view.getUint32(pageHost + offset, true) : parcel)?.base;
    if (insn?.encoding.jit === undefined || !insn.legal) return undefined;
    return { pc: pageVa + BigInt(offset), insn, length };
  }

  /**
   * The blocks of the region entered at `seed` (the page offset of a translatable instruction): the
   * block starts reachable from it by direct branches and jumps inside the page, and the return point of
   * every call, where the interpreter has reached them before (see reached()); then the blocks between
   * consecutive starts, in address order.
   */
  private plan(pageVa: bigint, pageHost: number, seed: number): Plan {
    const decoded = new Map<number, Decoded | undefined>();
    const decode = (offset: number): Decoded | undefined => {
      if (!decoded.has(offset)) decoded.set(offset, this.decode(pageVa, pageHost, offset));
      return decoded.get(offset);
    };
    const inPage = (pc: bigint): number | undefined => (pc >> 12n === pageVa >> 12n ? Number(pc & 0xfffn) : undefined);
    const starts = new Set<number>();
    const work: number[] = [];
    const add = (offset: number | undefined, seed = false): void => {
      if (offset === undefined || starts.has(offset) || !decode(offset)) return;
      if (!seed && !this.reached(pageVa + BigInt(offset))) return;
      starts.add(offset);
      work.push(offset);
    };
    add(seed, true);
    while (work.length > 0) {
      let offset = work.pop()!;
      for (let d = decode(offset); d; d = decode(offset)) {
        const target = relativeTarget(d.insn, d.pc);
        if (target !== undefined) add(inPage(target));
        if (returnsHere(d.insn)) add(offset + d.length);
        offset += d.length;
        if (d.insn.encoding.jit === 'ends' || starts.has(offset)) break;
      }
    }
    const order = [...starts].sort((a, b) => a - b);
    const blocks: Block[] = [];
    let hi = 0;
    for (let i = 0; i < order.length; i++) {
      const start = order[i]!;
      const insns: Decoded[] = [];
      let offset = start;
      let block: Block | undefined;
      while (!block) {
        const d = decode(offset);
        if (!d) {
          block = { start, insns, leave: pageVa + BigInt(offset) };
          break;
        }
        insns.push(d);
        offset += d.length;
        if (d.insn.encoding.jit === 'ends') block = { start, insns };
        else if (starts.has(offset)) block = { start, insns, fall: offset };
        else if (insns.length === MAX_BLOCK) {
          if (!decode(offset)) block = { start, insns, leave: pageVa + BigInt(offset) };
          else {
            // A long straight run continues in a block of its own, at its place in address order.
            starts.add(offset);
            let at = i + 1;
            while (at < order.length && order[at]! < offset) at++;
            order.splice(at, 0, offset);
            block = { start, insns, fall: offset };
          }
        }
      }
      hi = Math.max(hi, offset);
      blocks.push(block);
    }
    return { blocks, lo: order[0]!, hi };
  }
}

/** The wasm comparison of each branch. */
const BRANCH = { beq: Op.i64_eq, bne: Op.i64_ne, blt: Op.i64_lt_s, bge: Op.i64_ge_s, bltu: Op.i64_lt_u, bgeu: Op.i64_ge_u };

/** The wasm load or store of each width, and the width. */
const LOAD = {
  lb: [Op.i64_load8_s, 1],
  lh: [Op.i64_load16_s, 2],
  lw: [Op.i64_load32_s, 4],
  ld: [Op.i64_load, 8],
  lbu: [Op.i64_load8_u, 1],
  lhu: [Op.i64_load16_u, 2],
  lwu: [Op.i64_load32_u, 4],
} as const;
const STORE = { sb: [Op.i64_store8, 1], sh: [Op.i64_store16, 2], sw: [Op.i64_store32, 4], sd: [Op.i64_store, 8] } as const;

/** What an integer instruction does to its two i64 operands (register or immediate). */
const ALU = {
  add: [Op.i64_add],
  addi: [Op.i64_add],
  sub: [Op.i64_sub],
  sll: [Op.i64_shl],
  slli: [Op.i64_shl],
  slt: [Op.i64_lt_s, Op.i64_extend_i32_u],
  slti: [Op.i64_lt_s, Op.i64_extend_i32_u],
  sltu: [Op.i64_lt_u, Op.i64_extend_i32_u],
  sltiu: [Op.i64_lt_u, Op.i64_extend_i32_u],
  xor: [Op.i64_xor],
  xori: [Op.i64_xor],
  srl: [Op.i64_shr_u],
  srli: [Op.i64_shr_u],
  sra: [Op.i64_shr_s],
  srai: [Op.i64_shr_s],
  or: [Op.i64_or],
  ori: [Op.i64_or],
  and: [Op.i64_and],
  andi: [Op.i64_and],
} as const;

/** What a 32-bit (…w) instruction does to its two i32 operands. */
const ALU_WORD = {
  addw: Op.i32_add,
  addiw: Op.i32_add,
  subw: Op.i32_sub,
  sllw: Op.i32_shl,
  slliw: Op.i32_shl,
  srlw: Op.i32_shr_u,
  srliw: Op.i32_shr_u,
  sraw: Op.i32_shr_s,
  sraiw: Op.i32_shr_s,
} as const;

type Divide = 'mul' | 'div' | 'divu' | 'rem' | 'remu';
const DIVIDE_WORD = { mulw: 'mul', divw: 'div', divuw: 'divu', remw: 'rem', remuw: 'remu' } as const;

/** Generates one region's function. */
class RegionCompiler {
  private readonly code = new Bytes();
  /** Wasm local of each guest register the region touches (x0 never has one). */
  private readonly local = new Map<number, number>();
  /** Block index of each block start (page offset). */
  private readonly index = new Map<number, number>();
  /** The block being generated. */
  private current = 0;
  /** Structured instructions open inside the current block's code. */
  private depth = 0;

  constructor(
    private readonly hartBase: number,
    private readonly pageVa: bigint,
    private readonly blocks: readonly Block[],
    private readonly orderFences: boolean,
  ) {
    blocks.forEach((b, i) => this.index.set(b.start, i));
    for (const b of blocks) {
      for (const { insn } of b.insns) {
        for (const r of [...xSources(insn), xDestination(insn)])
          if (r !== 0 && !this.local.has(r)) this.local.set(r, FIRST_REG + this.local.size);
      }
    }
  }

  module(sharedMemory: boolean): Uint8Array {
    const c = this.code;
    const count = this.blocks.length;
    c.byte(Op.block).byte(VOID); // the way out
    c.byte(Op.loop).byte(VOID); // the dispatch
    for (let i = 0; i < count; i++) c.byte(Op.block).byte(VOID);
    // Dispatch on NEXT: the block starting there, else out. Labels here: block i is depth i, the loop
    // `count`, the way out `count + 1`.
    const first = this.blocks[0]!.start;
    const slots = ((this.blocks[count - 1]!.start - first) >> 1) + 1;
    this.op(Op.local_get, NEXT);
    this.i64(BigInt.asIntN(64, this.pageVa + BigInt(first)));
    this.op(Op.i64_sub, Op.local_tee, ADDR);
    this.i64(2 * slots);
    this.op(Op.i64_ge_u);
    c.byte(Op.br_if).u32(count + 1);
    this.op(Op.local_get, ADDR, Op.i32_wrap_i64);
    this.i32(1);
    this.op(Op.i32_shr_u);
    c.byte(Op.br_table).u32(slots);
    for (let s = 0; s < slots; s++) c.u32(this.index.get(first + 2 * s) ?? count + 1);
    c.u32(count + 1);
    this.blocks.forEach((b, i) => {
      c.byte(Op.end);
      this.current = i;
      this.block(b);
    });
    c.byte(Op.end); // loop: no block falls off its end
    c.byte(Op.end);
    this.i32(this.hartBase + L.PC);
    this.op(Op.local_get, NEXT);
    c.byte(Op.i64_store).u32(3).u32(0);
    this.op(Op.local_get, N);
    return moduleBytes(
      {
        params: [I32, I64, I64],
        results: [I32],
        locals: [
          [1, I32],
          [1, I64],
          [2, I32],
          [this.local.size, I64],
        ].filter(([n]) => n! > 0) as [number, number][],
        body: c,
      },
      sharedMemory,
    );
  }

  /**
   * One block: the budget check, its registers into locals, its instructions, and one way out that
   * stores the registers it writes and goes on to the dispatch or back to the interpreter (GO). Every
   * transition leaves through it, so the stores are generated once per block.
   */
  private block(b: Block): void {
    const length = b.insns.length;
    // The budget: this block must fit in what is left of the slice, else return before it.
    this.op(Op.local_get, N);
    this.i32(length);
    this.op(Op.i32_add, Op.local_get, LEFT, Op.i32_gt_u);
    this.openIf();
    this.i64(BigInt.asIntN(64, b.insns[0]!.pc));
    this.op(Op.local_set, NEXT);
    this.code.byte(Op.br).u32(this.outDepth);
    this.closeIf();
    // Registers live in locals within a block only (no value flows from block to block through a
    // local, which keeps the function cheap for V8 to compile). Every register the block touches is
    // loaded at its start, so that the way out can store all it may write whichever instruction it
    // leaves at: one it did not write yet stores back what was loaded.
    const written = new Set<number>();
    const touched = new Set<number>();
    for (const { insn } of b.insns) {
      for (const r of xSources(insn)) touched.add(r);
      touched.add(xDestination(insn));
      written.add(xDestination(insn));
    }
    touched.delete(0);
    written.delete(0);
    for (const r of touched) {
      this.i32(this.hartBase + L.X_REGS + 8 * r);
      this.code.byte(Op.i64_load).u32(3).u32(0);
      this.op(Op.local_set, this.local.get(r)!);
    }
    this.code.byte(Op.block).byte(VOID);
    this.depth++;
    b.insns.forEach((d, k) => this.instruction(d, k));
    if (b.fall !== undefined) this.goTo(this.pageVa + BigInt(b.fall), length);
    else if (b.leave !== undefined) this.leave(b.leave, length);
    this.code.byte(Op.end);
    this.depth--;
    for (const r of written) {
      this.i32(this.hartBase + L.X_REGS + 8 * r);
      this.op(Op.local_get, this.local.get(r)!);
      this.code.byte(Op.i64_store).u32(3).u32(0);
    }
    this.op(Op.local_get, GO);
    this.code.byte(Op.br_if).u32(this.dispatchDepth);
    this.code.byte(Op.br).u32(this.outDepth);
  }

  // ---- emit helpers ----

  private get(r: number): void {
    if (r === 0) this.code.byte(Op.i64_const).s64(0);
    else this.code.byte(Op.local_get).u32(this.local.get(r)!);
  }

  /** Stores the value on the stack into rd (x0 discards it). */
  private set(rd: number): void {
    if (rd === 0) this.code.byte(Op.drop);
    else this.code.byte(Op.local_set).u32(this.local.get(rd)!);
  }

  private i64(v: bigint | number): void {
    this.code.byte(Op.i64_const).s64(v);
  }

  private i32(v: number): void {
    this.code.byte(Op.i32_const).s32(v);
  }

  private op(...ops: number[]): void {
    this.code.bytes(ops);
  }

  private openIf(): void {
    this.op(Op.if, VOID);
    this.depth++;
  }

  private closeIf(): void {
    this.op(Op.end);
    this.depth--;
  }

  /** Label depths from the current block's code: the dispatch loop and the way out. */
  private get dispatchDepth(): number {
    return this.blocks.length - 1 - this.current + this.depth;
  }

  private get outDepth(): number {
    return this.dispatchDepth + 1;
  }

  /** Counts `count` more instructions retired. */
  private retire(count: number): void {
    if (count === 0) return;
    this.op(Op.local_get, N);
    this.i32(count);
    this.op(Op.i32_add, Op.local_set, N);
  }

  /** The current block's way out, from inside its instructions. */
  private get blockOutDepth(): number {
    return this.depth - 1;
  }

  /** Returns to the interpreter at `pc` after `count` instructions of the current block. */
  private leave(pc: bigint, count: number): void {
    this.retire(count);
    this.i64(BigInt.asIntN(64, pc));
    this.op(Op.local_set, NEXT);
    this.i32(0);
    this.op(Op.local_set, GO);
    this.code.byte(Op.br).u32(this.blockOutDepth);
  }

  /** Continues at `target` after `count` instructions of the current block: in the region if a block starts there, else in the interpreter. */
  private goTo(target: bigint, count: number): void {
    if (!(target >> 12n === this.pageVa >> 12n && this.index.has(Number(target & 0xfffn)))) {
      this.leave(target, count);
      return;
    }
    this.retire(count);
    this.i64(BigInt.asIntN(64, target));
    this.op(Op.local_set, NEXT);
    this.i32(1);
    this.op(Op.local_set, GO);
    this.code.byte(Op.br).u32(this.blockOutDepth);
  }

  /**
   * rs1 + imm into ADDR, then the TLB check in both ways of the page's set (assembly/mmu.ts tlbHost):
   * on a miss in both or a page-crossing access, leave before instruction k.
   */
  private tlb(table: number, rs1: number, imm: number, size: number, k: number, pc: bigint): void {
    this.get(rs1);
    this.i64(imm);
    this.op(Op.i64_add, Op.local_tee, ADDR);
    // entry = ((va >> 12) & 0xff) << 4 in the first way; the tag (va >> 12) << 4 | key must match.
    this.i64(12);
    this.op(Op.i64_shr_u, Op.i32_wrap_i64);
    this.i32(0xff);
    this.op(Op.i32_and);
    this.i32(4);
    this.op(Op.i32_shl, Op.local_set, ENTRY);
    const entryBase = this.hartBase + table;
    this.tlbMiss(entryBase, size);
    this.openIf();
    // Not in the first way: the second (assembly/mmu.ts). The page that missed last moves there when
    // the interpreter refills the first way, so two pages used in turn both stay in the TLB.
    this.op(Op.local_get, ENTRY);
    this.i32(L.TLB_WAY);
    this.op(Op.i32_add, Op.local_set, ENTRY);
    this.tlbMiss(entryBase, size);
    this.openIf();
    this.leave(pc, k);
    this.closeIf();
    this.closeIf();
    // host = va + addend
    this.op(Op.local_get, ENTRY);
    this.code
      .byte(Op.i64_load)
      .u32(3)
      .u32(entryBase + 8);
    this.op(Op.local_get, ADDR, Op.i64_add, Op.i32_wrap_i64);
  }

  /** Whether the TLB entry ENTRY does not map ADDR's page for this key, or a `size`-byte access at ADDR crosses the page. */
  private tlbMiss(entryBase: number, size: number): void {
    this.op(Op.local_get, ENTRY);
    this.code.byte(Op.i64_load).u32(3).u32(entryBase);
    this.op(Op.local_get, ADDR);
    this.i64(12);
    this.op(Op.i64_shr_u);
    this.i64(4);
    this.op(Op.i64_shl, Op.local_get, KEY, Op.i64_or, Op.i64_ne);
    if (size > 1) {
      this.op(Op.local_get, ADDR, Op.i32_wrap_i64);
      this.i32(0xfff);
      this.op(Op.i32_and);
      this.i32(0x1000 - size);
      this.op(Op.i32_gt_u, Op.i32_or);
    }
  }

  private instruction(d: Decoded, k: number): void {
    const { insn, pc } = d;
    const { rd, rs1, rs2, imm } = insn;
    const next = BigInt.asUintN(64, pc + BigInt(d.length));
    const m = insn.mnemonic;
    switch (m) {
      case 'lui':
        this.i64(imm);
        this.set(rd);
        return;
      case 'auipc':
        this.i64(BigInt.asIntN(64, pc + BigInt(imm)));
        this.set(rd);
        return;
      case 'jal':
        this.i64(BigInt.asIntN(64, next));
        this.set(rd);
        this.goTo(relativeTarget(insn, pc)!, k + 1);
        return;
      case 'jalr': // the target is computed before rd is written (rd may be rs1); the dispatch finds it
        this.get(rs1);
        this.i64(imm);
        this.op(Op.i64_add);
        this.i64(-2);
        this.op(Op.i64_and, Op.local_set, NEXT);
        this.i64(BigInt.asIntN(64, next));
        this.set(rd);
        this.retire(k + 1);
        this.i32(1);
        this.op(Op.local_set, GO);
        this.code.byte(Op.br).u32(this.blockOutDepth);
        return;
      case 'beq':
      case 'bne':
      case 'blt':
      case 'bge':
      case 'bltu':
      case 'bgeu':
        this.get(rs1);
        this.get(rs2);
        this.op(BRANCH[m]);
        this.openIf();
        this.goTo(relativeTarget(insn, pc)!, k + 1);
        this.closeIf();
        return;
      case 'lb':
      case 'lh':
      case 'lw':
      case 'ld':
      case 'lbu':
      case 'lhu':
      case 'lwu': {
        const [load, size] = LOAD[m];
        this.tlb(L.TLB_READ, rs1, imm, size, k, pc);
        this.code.byte(load).u32(0).u32(0);
        this.set(rd);
        return;
      }
      case 'sb':
      case 'sh':
      case 'sw':
      case 'sd': {
        const [store, size] = STORE[m];
        this.tlb(L.TLB_WRITE, rs1, imm, size, k, pc);
        this.get(rs2);
        this.code.byte(store).u32(0).u32(0);
        return;
      }
      case 'addi':
      case 'slti':
      case 'sltiu':
      case 'xori':
      case 'ori':
      case 'andi':
      case 'slli':
      case 'srli':
      case 'srai':
        this.get(rs1);
        this.i64(imm);
        this.op(...ALU[m]);
        this.set(rd);
        return;
      case 'addiw':
      case 'slliw':
      case 'srliw':
      case 'sraiw':
        this.get(rs1);
        this.op(Op.i32_wrap_i64);
        this.i32(imm);
        this.op(ALU_WORD[m], Op.i64_extend_i32_s);
        this.set(rd);
        return;
      // wasm shifts take the count mod 64, as RV64 does (rs2[5:0])
      case 'add':
      case 'sub':
      case 'sll':
      case 'slt':
      case 'sltu':
      case 'xor':
      case 'srl':
      case 'sra':
      case 'or':
      case 'and':
        this.get(rs1);
        this.get(rs2);
        this.op(...ALU[m]);
        this.set(rd);
        return;
      // 32-bit shifts take the count mod 32 (rs2[4:0])
      case 'addw':
      case 'subw':
      case 'sllw':
      case 'srlw':
      case 'sraw':
        this.get(rs1);
        this.op(Op.i32_wrap_i64);
        this.get(rs2);
        this.op(Op.i32_wrap_i64, ALU_WORD[m], Op.i64_extend_i32_s);
        this.set(rd);
        return;
      case 'mul':
      case 'div':
      case 'divu':
      case 'rem':
      case 'remu':
        this.divide(m, rs1, rs2, false);
        this.set(rd);
        return;
      case 'mulw':
      case 'divw':
      case 'divuw':
      case 'remw':
      case 'remuw':
        this.divide(DIVIDE_WORD[m], rs1, rs2, true);
        this.set(rd);
        return;
      case 'fence':
      case 'fence.tso':
        // With one hart memory is coherent in program order. With more, the interpreter's fence
        // (docs/harts.md "Memory model"): a sequentially consistent atomic add of 0 to x0's slot.
        if (!this.orderFences) return;
        this.i32(this.hartBase + L.X_REGS);
        this.i64(0);
        this.code.byte(ATOMIC_PREFIX).u32(I64_ATOMIC_RMW_ADD).u32(3).u32(0);
        this.op(Op.drop);
        return;
      default:
        throw new Error(`jit: no translation for ${m} (decode.ts marks it translatable)`);
    }
  }

  /**
   * mul and the divisions, leaving the result on the stack. Division never traps on RISC-V (unprivileged
   * spec §7.2, table 7.1): x/0 = all ones, x%0 = x, MIN/-1 = MIN with remainder 0. wasm's div_s traps on
   * both, rem_s only on 0 (MIN rem_s -1 is 0 in wasm), so the guards come first.
   */
  private divide(op: Divide, rs1: number, rs2: number, word: boolean): void {
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
      else this.i64(-1);
      this.op(word ? Op.i32_eq : Op.i64_eq, Op.i32_and);
    };
    const plain = (op32: number, op64: number) => (): void => {
      a();
      b();
      this.op(word ? op32 : op64);
      widen();
    };
    const allOnes = (): void => this.i64(-1);
    const dividend = (): void => {
      a();
      widen();
    };
    switch (op) {
      case 'mul':
        plain(Op.i32_mul, Op.i64_mul)();
        return;
      case 'div':
        ifElse(bZero, allOnes, () => ifElse(overflow, dividend, plain(Op.i32_div_s, Op.i64_div_s)));
        return;
      case 'divu':
        ifElse(bZero, allOnes, plain(Op.i32_div_u, Op.i64_div_u));
        return;
      case 'rem':
        ifElse(bZero, dividend, plain(Op.i32_rem_s, Op.i64_rem_s));
        return;
      case 'remu':
        ifElse(bZero, dividend, plain(Op.i32_rem_u, Op.i64_rem_u));
    }
  }
}

/** Whether the instruction is a call (jal or jalr that links): its return point starts a block. */
function returnsHere(insn: Instruction): boolean {
  return (insn.mnemonic === 'jal' || insn.mnemonic === 'jalr') && insn.rd !== 0;
}
