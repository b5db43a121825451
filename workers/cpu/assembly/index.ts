// The tabvm CPU core: an RV64IMAFDC + Zicsr + Zifencei + Zicntr interpreter with M, S and U modes,
// over the VM's shared memory. The host calls run(budget) for a slice of instructions and services
// devices and time between slices. All state lives in the hart block (workers/cpu/layout.ts).
import {
  X_REGS,
  PC,
  FCSR,
  INSTRET,
  MTIME,
  RESERVATION,
  RESERVED_VALUE,
  STOP_REASON,
  STOP_BUDGET,
  STOP_WFI,
  STOP_TOHOST,
  WFI_STATE,
  MIE,
  MIP,
  SEIP_LINE,
  FETCH_RAW,
  TRAP_CAUSE,
  TRAP_TVAL,
  RVC_TABLE,
  RVC_TABLE_READY,
  TLB_READ,
  TLB_WRITE,
  HART_BASE,
  HART_STRIDE,
  JIT_CACHE,
  JIT_CACHE_STRIDE,
  JIT_ENTRIES,
  JIT_ENTRY_SIZE,
  JIT_PC,
  JIT_HOST,
  JIT_FN,
  JIT_LENGTH,
  JIT_HITS,
  JIT_EPOCH,
} from '../layout';
import {
  hart,
  setHart,
  getX,
  setX,
  getF,
  setF,
  getPriv,
  getMstatus,
  csrField,
  setCsrField,
  flushTlb,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  IRQ_MSI,
  IRQ_MTI,
  IRQ_MEI,
  MSTATUS_FS,
  MSTATUS_TVM,
  MSTATUS_TW,
  MSTATUS_TSR,
  CAUSE_ILLEGAL_INSTRUCTION,
  CAUSE_BREAKPOINT,
  CAUSE_USER_ECALL,
  CAUSE_MISALIGNED_LOAD,
  CAUSE_MISALIGNED_STORE,
  updateKeys,
  dataKey,
  events,
  signal,
  takeEvents,
  EV_FAULT,
  EV_ILLEGAL,
  EV_RAISED,
  EV_INTERRUPTS,
  EV_TOHOST,
  EV_WFI,
} from './state';
import {
  trapped,
  trapCause,
  trapTval,
  clearTrap,
  atomicHost,
  atomicStored,
  dataHost,
  readSlow,
  writeSlow,
  fetch16,
  fetchPageHost,
} from './mmu';
import {
  csrRead,
  csrWrite,
  csrIllegal,
  setRetiredInSlice,
  takeTrap,
  interruptToTake,
  pendingInterrupts,
  mret,
  sret,
  resetCsrs,
  markFpDirty,
} from './csr';
import { expandCompressed } from './rvc';
import { executeFp, executeFpLoad, executeFpStore, executeFma } from './fp';

export { flushTlb };

// ---- the JIT's side of the interpreter (translation itself is workers/cpu/jit.ts, in the host) -------

/**
 * The host translates the code at `pc` (its bytes at wasm address `host`) and fills cache entry `entry`;
 * it may fill the entries of other block starts of the same page too, marked current in `epoch`.
 */
@external('env', 'jitCompile') declare function jitCompile(pc: u64, host: usize, entry: usize, epoch: u32): void;
/** The host forgets every translation of this hart and empties its block cache. */
@external('env', 'jitFlush') declare function jitFlush(): void;
/**
 * Whether the guest code a translation was made from is unchanged; if not, the host frees the
 * translation. Asked once per translation after each FENCE.I.
 */
@external('env', 'jitVerify') declare function jitVerify(entry: usize): bool;

/** Times a block head is reached before it is translated; 0 turns the JIT off (interpreter only). */
let jitThreshold: u32 = 0;
/** This hart's block cache (layout.ts JIT_CACHE). */
let jitCache: usize = JIT_CACHE;
/** Counts FENCE.I instructions: a translation from an earlier epoch is checked against memory before use. */
let jitEpoch: u32 = 0;

/** Whether FENCE must order memory for other threads: more than one hart shares the memory. */
let fencesOrder = false;

/**
 * With several harts, the most instructions run() executes between two looks at mip, and the most a
 * translation runs per call: another thread (the device host, or another hart through the CLINT) may
 * raise an interrupt at any time, which the hart would otherwise take only at its next slice.
 */
const INTERRUPT_CHECK: i32 = 4096;
/** INTERRUPT_CHECK with several harts; with one, mip changes only between slices: no look within one. */
let interruptCheck: i32 = i32.MAX_VALUE;

/** Tell the core how many harts share its memory (1 unless set). */
export function setHartCount(count: u32): void {
  fencesOrder = count > 1;
  interruptCheck = count > 1 ? INTERRUPT_CHECK : i32.MAX_VALUE;
}

/** Turn the JIT on (translate a block once its head was reached `threshold` times) or off (0). */
export function setJit(threshold: u32): void {
  jitThreshold = threshold;
  jitFlush();
}

/** Point the core at hart block `base` with `ram` bytes of DRAM. Call before anything else. */
export function attach(base: usize, ram: u64): void {
  setHart(base, ram);
  jitCache = JIT_CACHE + ((base - HART_BASE) / HART_STRIDE) * JIT_CACHE_STRIDE;
  updateKeys();
  // Expanding a compressed parcel is a table load instead of a decode on every execution.
  if (atomic.load<u64>(RVC_TABLE_READY) == 0) {
    for (let parcel: u32 = 0; parcel < 0x10000; parcel++) {
      store<u32>(RVC_TABLE + (<usize>parcel << 2), (parcel & 3) == 3 ? 0 : expandCompressed(parcel));
    }
    atomic.store<u64>(RVC_TABLE_READY, 1);
  }
}

/** Reset the attached hart: M-mode at `pc`, CSRs at their reset values, empty TLBs. */
export function reset(hartId: u64, pc: u64): void {
  // mip's MSIP, MTIP and MEIP and the SEIP line are wires from the CLINT and the PLIC, which a hart's
  // reset does not change, and which the device host may drive at this moment from another thread:
  // leave them, and clear only the software-writable mip bits, atomically.
  for (let i: usize = 0; i < 0x400; i += 8) {
    if (i != MIP && i != SEIP_LINE) store<u64>(hart + i, 0);
  }
  atomic.and<u64>(hart + MIP, (1 << IRQ_MSI) | (1 << IRQ_MTI) | (1 << IRQ_MEI));
  resetCsrs(hartId);
  store<u64>(hart, pc, PC);
  jitFlush();
}

// Register access through the hart base held in a local: the interpreter loop reads it once.
@inline function rx(h: usize, r: u32): u64 {
  return load<u64>(h + (<usize>r << 3), X_REGS);
}
@inline function wx(h: usize, r: u32, v: u64): void {
  if (r != 0) store<u64>(h + (<usize>r << 3), v, X_REGS);
}

@inline function sext32(v: u64): u64 {
  return <u64>(<i64>(<i32>(<u32>v)));
}

/** High 64 bits of the unsigned 128-bit product (no 128-bit type in wasm: four 32×32 products). */
function mulhu(a: u64, b: u64): u64 {
  const aLo = a & 0xffff_ffff;
  const aHi = a >> 32;
  const bLo = b & 0xffff_ffff;
  const bHi = b >> 32;
  const lolo = aLo * bLo;
  const hilo = aHi * bLo;
  const lohi = aLo * bHi;
  const hihi = aHi * bHi;
  const mid = (lolo >> 32) + (hilo & 0xffff_ffff) + (lohi & 0xffff_ffff);
  return hihi + (hilo >> 32) + (lohi >> 32) + (mid >> 32);
}
function mulh(a: u64, b: u64): u64 {
  let r = mulhu(a, b);
  if (<i64>a < 0) r -= b;
  if (<i64>b < 0) r -= a;
  return r;
}
function mulhsu(a: u64, b: u64): u64 {
  let r = mulhu(a, b);
  if (<i64>a < 0) r -= b;
  return r;
}

// Division never traps on RISC-V (unprivileged spec §7.2, table 7.1): x/0 = -1 (all ones), x%0 = x,
// and the signed overflow MIN/-1 = MIN with remainder 0.
function div64(a: u64, b: u64): u64 {
  if (b == 0) return 0xffff_ffff_ffff_ffff;
  if (a == 0x8000_0000_0000_0000 && b == 0xffff_ffff_ffff_ffff) return a;
  return <u64>(<i64>a / <i64>b);
}
function rem64(a: u64, b: u64): u64 {
  if (b == 0) return a;
  if (a == 0x8000_0000_0000_0000 && b == 0xffff_ffff_ffff_ffff) return 0;
  return <u64>(<i64>a % <i64>b);
}
function divw(a: u64, b: u64): u64 {
  const x = <i32>a;
  const y = <i32>b;
  if (y == 0) return 0xffff_ffff_ffff_ffff;
  if (x == i32.MIN_VALUE && y == -1) return sext32(<u64>x);
  return <u64>(<i64>(x / y));
}
function remw(a: u64, b: u64): u64 {
  const x = <i32>a;
  const y = <i32>b;
  if (y == 0) return sext32(<u64>x);
  if (x == i32.MIN_VALUE && y == -1) return 0;
  return <u64>(<i64>(x % y));
}
function divuw(a: u64, b: u64): u64 {
  const x = <u32>a;
  const y = <u32>b;
  if (y == 0) return 0xffff_ffff_ffff_ffff;
  return sext32(<u64>(x / y));
}
function remuw(a: u64, b: u64): u64 {
  const x = <u32>a;
  const y = <u32>b;
  if (y == 0) return sext32(<u64>x);
  return sext32(<u64>(x % y));
}

/** OP (0x33) and OP-32 (0x3b) with funct7 = 1: the M extension. */
function executeMul(funct3: u32, a: u64, b: u64, word: bool): u64 {
  if (word) {
    switch (funct3) {
      case 0: return sext32(a * b); // mulw
      case 4: return divw(a, b); // divw
      case 5: return divuw(a, b); // divuw
      case 6: return remw(a, b); // remw
      default: return remuw(a, b); // remuw (funct3 7; 1–3 are rejected by the caller)
    }
  }
  switch (funct3) {
    case 0: return a * b; // mul
    case 1: return mulh(a, b); // mulh
    case 2: return mulhsu(a, b); // mulhsu
    case 3: return mulhu(a, b); // mulhu
    case 4: return div64(a, b); // div
    case 5: return b == 0 ? 0xffff_ffff_ffff_ffff : a / b; // divu
    case 6: return rem64(a, b); // rem
    default: return b == 0 ? a : a % b; // remu
  }
}

// AMO funct5 values (unprivileged spec ch. 8).
const AMO_ADD: u32 = 0x00;
const AMO_SWAP: u32 = 0x01;
const AMO_LR: u32 = 0x02;
const AMO_SC: u32 = 0x03;
const AMO_XOR: u32 = 0x04;
const AMO_OR: u32 = 0x08;
const AMO_AND: u32 = 0x0c;
const AMO_MIN: u32 = 0x10;
const AMO_MAX: u32 = 0x14;
const AMO_MINU: u32 = 0x18;
const AMO_MAXU: u32 = 0x1c;

/**
 * AMO (0x2f). LR/SC and AMOs must be naturally aligned: "If the address is not naturally aligned, an
 * address-misaligned exception or an access-fault exception will be generated" — we raise
 * misaligned (load for LR, store/AMO otherwise). The wasm atomics keep them atomic across harts.
 */
function executeAmo(insn: u32, rd: u32, rs1: u32, rs2: u32): void {
  const funct3 = (insn >> 12) & 7;
  const funct5 = insn >> 27;
  // Decode fully before touching memory: an illegal instruction outranks address-misaligned and
  // access/page faults (privileged spec table 3.7).
  const known =
    funct5 == AMO_ADD || funct5 == AMO_SWAP || funct5 == AMO_LR || funct5 == AMO_SC || funct5 == AMO_XOR ||
    funct5 == AMO_OR || funct5 == AMO_AND || funct5 == AMO_MIN || funct5 == AMO_MAX || funct5 == AMO_MINU ||
    funct5 == AMO_MAXU;
  if ((funct3 != 2 && funct3 != 3) || !known || (funct5 == AMO_LR && rs2 != 0)) {
    signal(EV_ILLEGAL);
    return;
  }
  const dword = funct3 == 3;
  const addr = getX(rs1);
  const size: u64 = dword ? 8 : 4;
  if ((addr & (size - 1)) != 0) {
    raise(funct5 == AMO_LR ? CAUSE_MISALIGNED_LOAD : CAUSE_MISALIGNED_STORE, addr);
    return;
  }
  if (funct5 == AMO_LR) {
    if (rs2 != 0) {
      signal(EV_ILLEGAL);
      return;
    }
    const h = atomicHost(addr, false, size);
    if (trapped) return;
    const loaded = dword ? atomic.load<u64>(h) : <u64>atomic.load<u32>(h);
    setCsrField(RESERVATION, <u64>h);
    setCsrField(RESERVED_VALUE, loaded);
    setX(rd, dword ? loaded : sext32(loaded));
    return;
  }
  const h = atomicHost(addr, true, size);
  if (trapped) return;
  const src = getX(rs2);
  if (funct5 == AMO_SC) {
    // "The SC must fail if a store to the reservation set from another hart can be observed to occur
    // between the LR and the SC" (unprivileged spec §8.2). The reservation is kept as the value LR loaded,
    // and SC is a compare-and-swap against it, as QEMU does: a store by another hart (or a device's DMA)
    // that changed the word fails the SC. One that wrote back the same value goes unseen (ABA), which
    // LR/SC sequences that only retry on failure cannot tell apart from no store at all.
    let ok = csrField(RESERVATION) == <u64>h;
    setCsrField(RESERVATION, 0xffff_ffff_ffff_ffff);
    if (ok) {
      const expected = csrField(RESERVED_VALUE);
      if (dword) ok = atomic.cmpxchg<u64>(h, expected, src) == expected;
      else ok = atomic.cmpxchg<u32>(h, <u32>expected, <u32>src) == <u32>expected;
      if (ok) atomicStored(h, size);
    }
    setX(rd, ok ? 0 : 1);
    return;
  }
  let old: u64;
  if (dword) {
    switch (funct5) {
      case AMO_SWAP: old = atomic.xchg<u64>(h, src); break;
      case AMO_ADD: old = atomic.add<u64>(h, src); break;
      case AMO_XOR: old = atomic.xor<u64>(h, src); break;
      case AMO_AND: old = atomic.and<u64>(h, src); break;
      case AMO_OR: old = atomic.or<u64>(h, src); break;
      case AMO_MIN: case AMO_MAX: case AMO_MINU: case AMO_MAXU: {
        while (true) {
          old = atomic.load<u64>(h);
          let pick: bool;
          if (funct5 == AMO_MIN) pick = <i64>src < <i64>old;
          else if (funct5 == AMO_MAX) pick = <i64>src > <i64>old;
          else if (funct5 == AMO_MINU) pick = src < old;
          else pick = src > old;
          if (atomic.cmpxchg<u64>(h, old, pick ? src : old) == old) break;
        }
        break;
      }
      default:
        signal(EV_ILLEGAL);
        return;
    }
  } else {
    const s = <u32>src;
    let o: u32;
    switch (funct5) {
      case AMO_SWAP: o = atomic.xchg<u32>(h, s); break;
      case AMO_ADD: o = atomic.add<u32>(h, s); break;
      case AMO_XOR: o = atomic.xor<u32>(h, s); break;
      case AMO_AND: o = atomic.and<u32>(h, s); break;
      case AMO_OR: o = atomic.or<u32>(h, s); break;
      case AMO_MIN: case AMO_MAX: case AMO_MINU: case AMO_MAXU: {
        while (true) {
          o = atomic.load<u32>(h);
          let pick: bool;
          if (funct5 == AMO_MIN) pick = <i32>s < <i32>o;
          else if (funct5 == AMO_MAX) pick = <i32>s > <i32>o;
          else if (funct5 == AMO_MINU) pick = s < o;
          else pick = s > o;
          if (atomic.cmpxchg<u32>(h, o, pick ? s : o) == o) break;
        }
        break;
      }
      default:
        signal(EV_ILLEGAL);
        return;
    }
    old = sext32(<u64>o);
  }
  atomicStored(h, size);
  setX(rd, old);
}

/** A synchronous exception raised by the instruction being executed (joins the memory helpers' exit). */
let raisedCause: u64 = 0;
let raisedTval: u64 = 0;
function raise(cause: u64, tval: u64): void {
  signal(EV_RAISED);
  raisedCause = cause;
  raisedTval = tval;
}

/** Outcome of a SYSTEM instruction that changes control flow. */
const SYS_NEXT: i32 = 0; // continue at pc + 4
const SYS_JUMP: i32 = 1; // continue at sysTarget
const SYS_WFI: i32 = 2; // continue at pc + 4, then sleep
let sysTarget: u64 = 0;

/** SYSTEM (0x73): CSR instructions, ECALL, EBREAK, xRET, WFI, SFENCE.VMA. */
function executeSystem(insn: u32, pc: u64): i32 {
  const funct3 = (insn >> 12) & 7;
  const rd = (insn >> 7) & 31;
  const rs1 = (insn >> 15) & 31;
  const priv = getPriv();
  if (funct3 == 0) {
    const funct7 = insn >> 25;
    if (funct7 == 0x09 && rd == 0) {
      // sfence.vma: illegal in U, and in S when mstatus.TVM=1.
      if (priv == PRIV_U || (priv == PRIV_S && (getMstatus() & MSTATUS_TVM) != 0)) {
        signal(EV_ILLEGAL);
        return SYS_NEXT;
      }
      flushTlb();
      return SYS_NEXT;
    }
    switch (insn) {
      case 0x0000_0073: // ecall
        raise(CAUSE_USER_ECALL + <u64>priv, 0);
        return SYS_NEXT;
      case 0x0010_0073: // ebreak
        raise(CAUSE_BREAKPOINT, pc);
        return SYS_NEXT;
      case 0x1020_0073: // sret
        if (priv == PRIV_U || (priv == PRIV_S && (getMstatus() & MSTATUS_TSR) != 0)) {
          signal(EV_ILLEGAL);
          return SYS_NEXT;
        }
        sysTarget = sret();
        return SYS_JUMP;
      case 0x3020_0073: // mret
        if (priv != PRIV_M) {
          signal(EV_ILLEGAL);
          return SYS_NEXT;
        }
        sysTarget = mret();
        return SYS_JUMP;
      case 0x1050_0073: // wfi
        // "When S-mode is implemented, then executing WFI in U-mode causes an illegal instruction
        // exception"; with TW=1 so does WFI below M (our time limit is zero).
        if (priv == PRIV_U || (priv == PRIV_S && (getMstatus() & MSTATUS_TW) != 0)) {
          signal(EV_ILLEGAL);
          return SYS_NEXT;
        }
        return SYS_WFI;
      default:
        signal(EV_ILLEGAL);
        return SYS_NEXT;
    }
  }
  if (funct3 == 4) {
    signal(EV_ILLEGAL);
    return SYS_NEXT;
  }
  const csr = insn >> 20;
  const operand: u64 = funct3 >= 5 ? <u64>rs1 : getX(rs1);
  const op = funct3 & 3; // 1 = write, 2 = set, 3 = clear
  const old = csrRead(csr);
  if (csrIllegal) {
    signal(EV_ILLEGAL);
    return SYS_NEXT;
  }
  // CSRRS/CSRRC with rs1 = x0 (or uimm = 0) do not write, so they are legal on read-only CSRs.
  if (op == 1 || rs1 != 0) {
    // mip.SEIP reads as the software bit ORed with the PLIC's line, but "only the software-writable SEIP
    // bit participates in the read-modify-write sequence of a CSRRS or CSRRC instruction" (§3.1.9).
    const base = csr == 0x344 ? atomic.load<u64>(hart + MIP) : old;
    const v = op == 1 ? operand : op == 2 ? base | operand : base & ~operand;
    csrWrite(csr, v);
    if (csrIllegal) {
      signal(EV_ILLEGAL);
      return SYS_NEXT;
    }
  }
  setX(rd, old);
  return SYS_NEXT;
}

/**
 * Run up to `budget` instructions. Returns the number retired; STOP_REASON says why it stopped early
 * (WFI with nothing pending, or a write to tohost).
 */
export function run(budget: i32): i32 {
  store<u64>(hart, STOP_BUDGET, STOP_REASON);
  takeEvents();
  if (load<u64>(hart, WFI_STATE) != 0) {
    // Asleep in WFI: wake when an enabled interrupt is pending, whether or not it is globally enabled.
    if ((pendingInterrupts() & csrField(MIE)) == 0) {
      store<u64>(hart, STOP_WFI, STOP_REASON);
      return 0;
    }
    store<u64>(hart, 0, WFI_STATE);
  }
  let pc = load<u64>(hart, PC);
  let retired: i32 = 0;
  let irq = interruptToTake();
  if (irq != 0) pc = takeTrap(irq, 0, pc);
  // Whether pc is where a block may start (the target of a jump, branch or trap, or where a translated
  // block stopped): only there does the interpreter look in the block cache.
  let head = true;
  // The fetch page in use: its virtual page number and where its first byte is in wasm memory. A vpn
  // of all ones matches no pc (virtual page numbers have at most 52 bits).
  let fetchVpn: u64 = 0xffff_ffff_ffff_ffff;
  let fetchHost: usize = 0;
  let stop: i32 = STOP_BUDGET;
  // Instructions that trap do not retire but still spend the budget, so a trap loop cannot hang run().
  let steps: i32 = 0;
  // Where the loop stops next: the end of the slice, or with several harts the next look at mip (one
  // compare per instruction either way, as the budget alone was).
  let limit: i32 = min(budget, interruptCheck);
  const h = hart;
  for (;;) {
    if (steps >= limit) {
      if (steps >= budget) break;
      limit = min(budget, steps + interruptCheck);
      irq = interruptToTake();
      if (irq != 0) {
        pc = takeTrap(irq, 0, pc);
        fetchVpn = 0xffff_ffff_ffff_ffff;
        head = true;
      }
    }
    steps++;
    // ---- fetch ----
    let insn: u32;
    let ilen: u64 = 4;
    const vpn = pc >> 12;
    if (vpn != fetchVpn) {
      const host = fetchPageHost(pc);
      if (host != 0) {
        fetchVpn = vpn;
        fetchHost = host - <usize>(pc & 0xfff);
      }
    }
    if (head && jitThreshold != 0 && vpn == fetchVpn) {
      const host = fetchHost + <usize>(pc & 0xfff);
      // Folding in higher bits keeps kernel and user code at the same low address bits apart.
      const e = jitCache + ((<usize>((pc >> 1) ^ (pc >> 17)) & (JIT_ENTRIES - 1)) * JIT_ENTRY_SIZE);
      let fn: u32 = 0;
      if (load<u64>(e, JIT_PC) == pc && load<u32>(e, JIT_HOST) == <u32>host) {
        fn = load<u32>(e, JIT_FN);
        if (fn != 0 && load<u32>(e, JIT_EPOCH) != jitEpoch) {
          if (jitVerify(e)) {
            store<u32>(e, jitEpoch, JIT_EPOCH);
          } else {
            fn = 0;
            store<u32>(e, 0, JIT_FN);
            store<u32>(e, 0, JIT_HITS);
          }
        }
      } else {
        store<u64>(e, pc, JIT_PC);
        store<u32>(e, <u32>host, JIT_HOST);
        store<u32>(e, 0, JIT_FN);
        store<u32>(e, 0, JIT_HITS);
      }
      if (fn == 0) {
        const hits = load<u32>(e, JIT_HITS) + 1;
        store<u32>(e, hits, JIT_HITS);
        if (hits == jitThreshold) {
          jitCompile(pc, host, e, jitEpoch);
          store<u32>(e, jitEpoch, JIT_EPOCH);
          fn = load<u32>(e, JIT_FN);
        }
      }
      // A translation runs a block only while it fits in what is left of the budget, so the slice never
      // overruns; JIT_LENGTH is the first block's length (a call that could not run it is not made). With
      // several harts it returns at the next look at mip.
      const left = limit - steps + 1;
      if (fn != 0 && load<u32>(e, JIT_LENGTH) <= <u32>left) {
        const n = call_indirect<i32>(fn, left, dataKey, pc);
        if (n != 0) {
          retired += n;
          steps += n - 1;
          pc = load<u64>(hart, PC);
          continue;
        }
      }
    }
    head = false;
    // The last parcel of a page may start a 32-bit instruction that continues on the next page.
    if (vpn == fetchVpn && (pc & 0xfff) != 0xffe) {
      insn = load<u32>(fetchHost + <usize>(pc & 0xfff));
      if ((insn & 3) != 3) {
        insn &= 0xffff;
        ilen = 2;
      }
    } else {
      insn = fetch16(pc);
      if (!trapped && (insn & 3) == 3) insn |= fetch16(pc + 2) << 16;
      else if (!trapped) ilen = 2;
      if (trapped) {
        clearTrap();
        takeEvents();
        pc = takeTrap(trapCause, trapTval, pc);
        fetchVpn = 0xffff_ffff_ffff_ffff;
        head = true;
        continue;
      }
    }
    const raw = insn;
    // Set by the decoder below for encodings it rejects; helpers signal EV_ILLEGAL instead.
    let illegal = false;
    if (ilen == 2) {
      insn = load<u32>(RVC_TABLE + (<usize>insn << 2));
      if (insn == 0) {
        pc = takeTrap(CAUSE_ILLEGAL_INSTRUCTION, <u64>raw, pc);
        fetchVpn = 0xffff_ffff_ffff_ffff;
        head = true;
        continue;
      }
    }
    // ---- execute ----
    const rd = (insn >> 7) & 31;
    const rs1 = (insn >> 15) & 31;
    const rs2 = (insn >> 20) & 31;
    const funct3 = (insn >> 12) & 7;
    let next = pc + ilen;
    switch (insn & 0x7f) {
      case 0x37: // lui
        wx(h, rd, sext32(<u64>(insn & 0xffff_f000)));
        break;
      case 0x17: // auipc
        wx(h, rd, pc + sext32(<u64>(insn & 0xffff_f000)));
        break;
      case 0x6f: {
        // jal
        const imm =
          ((<i32>(insn & 0x8000_0000)) >> 11) | (insn & 0xff000) | ((insn >> 9) & 0x800) | ((insn >> 20) & 0x7fe);
        wx(h, rd, next);
        next = pc + <u64>(<i64>imm);
        head = true;
        break;
      }
      case 0x67: {
        // jalr
        if (funct3 != 0) {
          illegal = true;
          break;
        }
        const target = (rx(h, rs1) + <u64>(<i64>(<i32>insn >> 20))) & ~1;
        wx(h, rd, next);
        next = target;
        head = true;
        break;
      }
      case 0x63: {
        // beq bne blt bge bltu bgeu
        const a = rx(h, rs1);
        const b = rx(h, rs2);
        let taken: bool;
        switch (funct3) {
          case 0: taken = a == b; break;
          case 1: taken = a != b; break;
          case 4: taken = <i64>a < <i64>b; break;
          case 5: taken = <i64>a >= <i64>b; break;
          case 6: taken = a < b; break;
          case 7: taken = a >= b; break;
          default:
            illegal = true;
            taken = false;
        }
        if (taken) {
          const imm =
            ((<i32>(insn & 0x8000_0000)) >> 19) | ((insn & 0x80) << 4) | ((insn >> 20) & 0x7e0) | ((insn >> 7) & 0x1e);
          next = pc + <u64>(<i64>imm);
          head = true;
        }
        break;
      }
      case 0x03: {
        // lb lh lw ld lbu lhu lwu: funct3[1:0] is log2 of the width, funct3[2] means zero-extend
        if (funct3 == 7) {
          illegal = true;
          break;
        }
        const addr = rx(h, rs1) + <u64>(<i64>(<i32>insn >> 20));
        const width: u64 = (<u64>1) << <u64>(funct3 & 3);
        const host = dataHost(TLB_READ, addr, width);
        let v: u64;
        if (host != 0) {
          switch (funct3 & 3) {
            case 0: v = <u64>load<u8>(host); break;
            case 1: v = <u64>load<u16>(host); break;
            case 2: v = <u64>load<u32>(host); break;
            default: v = load<u64>(host);
          }
        } else {
          v = readSlow(addr, <i32>width);
          if (trapped) break;
        }
        if ((funct3 & 4) == 0) {
          const shift = 64 - 8 * width;
          v = <u64>((<i64>(v << shift)) >> <i64>shift);
        }
        wx(h, rd, v);
        break;
      }
      case 0x23: {
        // sb sh sw sd
        if (funct3 > 3) {
          illegal = true;
          break;
        }
        const imm = ((<i32>insn >> 20) & ~31) | <i32>((insn >> 7) & 31);
        const addr = rx(h, rs1) + <u64>(<i64>imm);
        const v = rx(h, rs2);
        const width: u64 = (<u64>1) << <u64>funct3;
        const host = dataHost(TLB_WRITE, addr, width);
        if (host != 0) {
          switch (funct3) {
            case 0: store<u8>(host, <u8>v); break;
            case 1: store<u16>(host, <u16>v); break;
            case 2: store<u32>(host, <u32>v); break;
            default: store<u64>(host, v);
          }
        } else {
          writeSlow(addr, v, <i32>width);
        }
        break;
      }
      case 0x13: {
        // addi slti sltiu xori ori andi slli srli srai
        const a = rx(h, rs1);
        const imm = <u64>(<i64>(<i32>insn >> 20));
        let v: u64 = 0;
        switch (funct3) {
          case 0: v = a + imm; break;
          case 1: // slli: imm[11:6] must be zero on RV64
            if ((insn >> 26) != 0) illegal = true;
            v = a << (imm & 63);
            break;
          case 2: v = <i64>a < <i64>imm ? 1 : 0; break;
          case 3: v = a < imm ? 1 : 0; break;
          case 4: v = a ^ imm; break;
          case 5: // srli (imm[11:6] = 0) or srai (imm[11:6] = 0x10)
            if ((insn >> 26) == 0) v = a >> (imm & 63);
            else if ((insn >> 26) == 0x10) v = <u64>(<i64>a >> <i64>(imm & 63));
            else illegal = true;
            break;
          case 6: v = a | imm; break;
          default: v = a & imm;
        }
        if (!illegal) wx(h, rd, v);
        break;
      }
      case 0x1b: {
        // addiw slliw srliw sraiw
        const a = rx(h, rs1);
        const shamt = rs2;
        if (funct3 == 0) wx(h, rd, sext32(a + <u64>(<i64>(<i32>insn >> 20))));
        else if (funct3 == 1 && (insn >> 25) == 0) wx(h, rd, sext32(a << shamt));
        else if (funct3 == 5 && (insn >> 25) == 0) wx(h, rd, sext32(<u64>(<u32>a >> shamt)));
        else if (funct3 == 5 && (insn >> 25) == 0x20) wx(h, rd, <u64>(<i64>(<i32>a >> shamt)));
        else illegal = true;
        break;
      }
      case 0x33: {
        // add sub sll slt sltu xor srl sra or and, and the M extension
        const a = rx(h, rs1);
        const b = rx(h, rs2);
        const funct7 = insn >> 25;
        let v: u64 = 0;
        if (funct7 == 0) {
          switch (funct3) {
            case 0: v = a + b; break;
            case 1: v = a << (b & 63); break;
            case 2: v = <i64>a < <i64>b ? 1 : 0; break;
            case 3: v = a < b ? 1 : 0; break;
            case 4: v = a ^ b; break;
            case 5: v = a >> (b & 63); break;
            case 6: v = a | b; break;
            default: v = a & b;
          }
        } else if (funct7 == 0x20 && funct3 == 0) v = a - b;
        else if (funct7 == 0x20 && funct3 == 5) v = <u64>(<i64>a >> <i64>(b & 63));
        else if (funct7 == 1) v = executeMul(funct3, a, b, false);
        else illegal = true;
        if (!illegal) wx(h, rd, v);
        break;
      }
      case 0x3b: {
        // addw subw sllw srlw sraw, mulw divw divuw remw remuw
        const a = rx(h, rs1);
        const b = rx(h, rs2);
        const funct7 = insn >> 25;
        let v: u64 = 0;
        if (funct7 == 0 && funct3 == 0) v = sext32(a + b);
        else if (funct7 == 0x20 && funct3 == 0) v = sext32(a - b);
        else if (funct7 == 0 && funct3 == 1) v = sext32(a << (b & 31));
        else if (funct7 == 0 && funct3 == 5) v = sext32(<u64>(<u32>a >> <u32>(b & 31)));
        else if (funct7 == 0x20 && funct3 == 5) v = <u64>(<i64>(<i32>a >> <i32>(b & 31)));
        else if (funct7 == 1 && (funct3 == 0 || funct3 >= 4)) v = executeMul(funct3, a, b, true);
        else illegal = true;
        if (!illegal) wx(h, rd, v);
        break;
      }
      case 0x0f: // fence, fence.i: the interpreter fetches from memory.
        // Translated blocks are copies of code, so FENCE.I drops them: "FENCE.I ... ensures that a
        // subsequent instruction fetch on a RISC-V hart will see any previous data stores already
        // visible to the same RISC-V hart" (unprivileged spec, Zifencei) — and only FENCE.I promises it.
        if (funct3 == 1) {
          fetchVpn = 0xffff_ffff_ffff_ffff;
          jitEpoch++;
        } else if (funct3 != 0) illegal = true;
        // Guest loads and stores are plain wasm accesses, which wasm may reorder as seen from another
        // thread; a sequentially consistent atomic orders them as any FENCE asks. (An atomic add of 0 to
        // x0's slot, which always holds 0: this asc's Binaryen rejects atomic.fence as "unordered".)
        // With one hart, memory is coherent in program order and the fence would only cost time.
        else if (fencesOrder) atomic.add<u64>(h + X_REGS, 0);
        break;
      case 0x2f: // AMO
        executeAmo(insn, rd, rs1, rs2);
        break;
      case 0x73: {
        // SYSTEM
        setRetiredInSlice(<u64>retired);
        const outcome = executeSystem(insn, pc);
        fetchVpn = 0xffff_ffff_ffff_ffff;
        if (outcome == SYS_JUMP) {
          next = sysTarget;
          head = true;
        }
        else if (outcome == SYS_WFI) signal(EV_WFI);
        break;
      }
      case 0x07: // flw fld (other widths, e.g. Zfh's flh or V's loads, are not implemented: illegal)
        if ((getMstatus() & MSTATUS_FS) == 0) illegal = true;
        else illegal = !executeFpLoad(insn, rd, rx(h, rs1));
        break;
      case 0x27: // fsw fsd
        if ((getMstatus() & MSTATUS_FS) == 0) illegal = true;
        else illegal = !executeFpStore(insn, rs2, rx(h, rs1));
        break;
      case 0x43: // fmadd
      case 0x47: // fmsub
      case 0x4b: // fnmsub
      case 0x4f: // fnmadd
        if ((getMstatus() & MSTATUS_FS) == 0) illegal = true;
        else illegal = !executeFma(insn);
        break;
      case 0x53: // OP-FP
        if ((getMstatus() & MSTATUS_FS) == 0) illegal = true;
        else illegal = !executeFp(insn);
        break;
      default:
        illegal = true;
    }
    // ---- the single trap exit (STYLE habit 5) ----
    if (illegal || events != 0) {
      const ev = takeEvents();
      if (illegal || (ev & (EV_FAULT | EV_ILLEGAL | EV_RAISED)) != 0) {
        let cause: u64;
        let tval: u64;
        if (illegal || (ev & EV_ILLEGAL) != 0) {
          cause = CAUSE_ILLEGAL_INSTRUCTION;
          tval = <u64>raw;
        } else if ((ev & EV_RAISED) != 0) {
          cause = raisedCause;
          tval = raisedTval;
        } else {
          cause = trapCause;
          tval = trapTval;
        }
        clearTrap();
        store<u64>(hart, <u64>raw, FETCH_RAW);
        store<u64>(hart, cause, TRAP_CAUSE);
        store<u64>(hart, tval, TRAP_TVAL);
        pc = takeTrap(cause, tval, pc);
        fetchVpn = 0xffff_ffff_ffff_ffff;
        head = true;
        continue;
      }
      retired++;
      pc = next;
      if ((ev & EV_WFI) != 0 && (pendingInterrupts() & csrField(MIE)) == 0) {
        store<u64>(hart, 1, WFI_STATE);
        stop = STOP_WFI;
      }
      if ((ev & EV_INTERRUPTS) != 0) {
        irq = interruptToTake();
        if (irq != 0) {
          pc = takeTrap(irq, 0, pc);
          fetchVpn = 0xffff_ffff_ffff_ffff;
          head = true;
          if (stop == STOP_WFI) {
            stop = STOP_BUDGET;
            store<u64>(hart, 0, WFI_STATE);
          }
        }
      }
      if ((ev & EV_TOHOST) != 0) stop = STOP_TOHOST;
      if (stop != STOP_BUDGET) break;
      continue;
    }
    retired++;
    pc = next;
  }
  store<u64>(hart, pc, PC);
  store<u64>(hart, load<u64>(hart, INSTRET) + <u64>retired, INSTRET);
  store<u64>(hart, <u64>stop, STOP_REASON);
  return retired;
}

/** The host changed mip lines or mtime between slices: nothing to do but keep keys coherent. */
export function afterStateLoad(): void {
  updateKeys();
  flushTlb();
  jitFlush();
}

