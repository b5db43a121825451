// Control and status registers (privileged spec 1.12 ch. 2, 3, 4), trap entry, interrupts and xRET.
// The CSRs are a table: one descriptor per CSR (or per run of alike CSRs) says how to read and write it
// and which gate guards it; the rules every CSR shares — bits 11:10 = 0b11 read-only, bits 9:8 the lowest
// privilege that may access it (§2.1) — are checked in one place, csrAccess.
import {
  MSTATUS,
  MISA,
  MEDELEG,
  MIDELEG,
  MIE,
  MIP,
  MTVEC,
  MCOUNTEREN,
  MSCRATCH,
  MEPC,
  MCAUSE,
  MTVAL,
  STVEC,
  SCOUNTEREN,
  SSCRATCH,
  SEPC,
  SCAUSE,
  STVAL,
  SATP,
  FCSR,
  INSTRET,
  CYCLE_DELTA,
  MENVCFG,
  SENVCFG,
  MHARTID,
  RESERVATION,
  SEIP_LINE,
  PMPCFG,
  PMPADDR,
  CSR_TABLE,
} from '../layout';
import {
  hart,
  getPriv,
  setPrivilege,
  getMstatus,
  readMstatus,
  csrField,
  setCsrField,
  flushTlb,
  updateKeys,
  signal,
  EV_INTERRUPTS,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  MSTATUS_SIE,
  MSTATUS_MIE,
  MSTATUS_SPIE,
  MSTATUS_MPIE,
  MSTATUS_SPP,
  MSTATUS_MPP,
  MSTATUS_MPP_SHIFT,
  MSTATUS_FS,
  MSTATUS_MPRV,
  MSTATUS_SUM,
  MSTATUS_MXR,
  MSTATUS_TVM,
  MSTATUS_TW,
  MSTATUS_TSR,
  MSTATUS_SD,
  IRQ_SSI,
  IRQ_MSI,
  IRQ_STI,
  IRQ_MTI,
  IRQ_SEI,
  IRQ_MEI,
  CAUSE_INTERRUPT,
} from './state';

/**
 * Guest time (mtime) in ticks, from the host: the `time` CSR must agree with the CLINT's mtime register
 * read at the same moment, so it cannot be a copy taken at the start of the slice.
 */
@external('env', 'mtime') declare function hostMtime(): f64;

/** Instructions retired before the current one in this run() call; the interpreter keeps it current. */
export let retiredInSlice: u64 = 0;
export function setRetiredInSlice(n: u64): void {
  retiredInSlice = n;
}

/** Set by csrRead/csrWrite when the access is illegal. */
export let csrIllegal: bool = false;

const MSTATUS_WRITABLE: u64 =
  MSTATUS_SIE |
  MSTATUS_MIE |
  MSTATUS_SPIE |
  MSTATUS_MPIE |
  MSTATUS_SPP |
  MSTATUS_MPP |
  MSTATUS_FS |
  MSTATUS_MPRV |
  MSTATUS_SUM |
  MSTATUS_MXR |
  MSTATUS_TVM |
  MSTATUS_TW |
  MSTATUS_TSR;
// sstatus is a restricted view of mstatus (§4.1.1): SIE SPIE UBE SPP VS FS XS SUM MXR UXL SD.
const SSTATUS_VISIBLE: u64 = 0x8000_0003_000d_e762;
const SSTATUS_WRITABLE: u64 = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | MSTATUS_SUM | MSTATUS_MXR;

const S_INTERRUPTS: u64 = (1 << IRQ_SSI) | (1 << IRQ_STI) | (1 << IRQ_SEI);
const ALL_INTERRUPTS: u64 = S_INTERRUPTS | (1 << IRQ_MSI) | (1 << IRQ_MTI) | (1 << IRQ_MEI);
// medeleg: every synchronous exception may be delegated except ecall from M (11), which is read-only 0
// ("medeleg[11] is read-only zero", §3.1.8); 10 and 14 are reserved.
const MEDELEG_WRITABLE: u64 = 0xb3ff;

export const MISA_VALUE: u64 =
  ((<u64>2) << 62) | // MXL = 64
  (1 << 0) | // A
  (1 << 2) | // C
  (1 << 3) | // D
  (1 << 5) | // F
  (1 << 8) | // I
  (1 << 12) | // M
  (1 << 18) | // S
  (1 << 20); // U

export function resetCsrs(hartId: u64): void {
  setCsrField(MSTATUS, (<u64>2 << 32) | (<u64>2 << 34)); // UXL = SXL = 64 bits
  setCsrField(MISA, MISA_VALUE);
  setCsrField(MHARTID, hartId);
  setCsrField(RESERVATION, 0xffff_ffff_ffff_ffff);
  setPrivilege(PRIV_M);
  flushTlb();
}

/**
 * The pending bits a hart sees: software-written bits plus the PLIC's supervisor external line. Devices
 * drive both from the device host, possibly in another thread (HartPins in workers/cpu/core.ts), hence
 * the atomic loads.
 */
@inline export function pendingInterrupts(): u64 {
  return atomic.load<u64>(hart + MIP) | (atomic.load<u64>(hart + SEIP_LINE) != 0 ? <u64>(1 << IRQ_SEI) : 0);
}

export function markFpDirty(): void {
  setCsrField(MSTATUS, getMstatus() | MSTATUS_FS);
}

// ---- The CSR table -----------------------------------------------------------------------------------

// How a CSR is read and written (the descriptor's kind).
/** A field of the hart block: reads (field >> shift) & view; a write replaces the bits of mask << shift. */
const FIELD: u32 = 0;
/** mtvec, stvec: a FIELD whose MODE is WARL; the reserved modes 2 and 3 read back as 0 (direct). */
const TVEC: u32 = 1;
/** satp: a FIELD that keeps its value when written with an unsupported MODE (§4.1.11) and flushes the TLB. */
const SATP_REGISTER: u32 = 2;
/** mip, sip: a FIELD (the software-writable MIP bits) that reads with the PLIC's SEIP line ORed in. */
const PENDING: u32 = 3;
/** mstatus, sstatus: reads the mstatus with SD derived; writes the bits of mask through writeMstatus. */
const STATUS: u32 = 4;
/** cycle, mcycle: one instruction per cycle, minstret + CYCLE_DELTA. */
const CYCLE: u32 = 5;
/** instret, minstret. */
const INSTRET_COUNTER: u32 = 6;
/** time: the host's mtime. */
const TIME: u32 = 7;
/** pmpcfg0, pmpcfg2: eight entries each; locked entries ignore writes. */
const PMP_CONFIG: u32 = 8;
/** pmpaddr0..15. */
const PMP_ADDRESS: u32 = 9;
/** Reads `view` (all its bits are constant), ignores writes. */
const CONSTANT: u32 = 10;

// Which rule beyond the number's privilege guards a CSR (the descriptor's gate).
const GATE_NONE: u32 = 0;
/**
 * F: illegal while mstatus.FS = Off: "any instruction that attempts to read or write the corresponding
 * state will cause an illegal instruction exception" (§3.1.6.6).
 */
const GATE_FP: u32 = 1;
/** Zicntr: below M, bit (number & 31) of mcounteren, and in U also of scounteren, must be set (§3.1.11). */
const GATE_COUNTER: u32 = 2;
/** satp in S while mstatus.TVM = 1 is illegal (§3.1.6.5). */
const GATE_TVM: u32 = 3;

// What a write does besides storing (the descriptor's effects).
const AFTER_NOTHING: u32 = 0;
/** The write changes F state: mstatus.FS becomes Dirty. */
const AFTER_FP_DIRTY: u32 = 1;
/** The write may make an interrupt deliverable: the interpreter looks again after the instruction. */
const AFTER_INTERRUPTS: u32 = 2;
/** Only the bits delegated in mideleg are visible and writable (sie, sip: §4.1.3). */
const DELEGATED_ONLY: u32 = 4;
/** Read-only although the number says read/write (writes are illegal). */
const READ_ONLY: u32 = 8;

const ALL: u64 = 0xffff_ffff_ffff_ffff;

// The table lives at CSR_TABLE, outside AssemblyScript's static data: a data segment would be copied
// in again (as zeros) by every instance of the core, under the feet of harts already running. The
// definitions below write the same bytes whenever an instance starts.
const MAX_DESCRIPTORS: usize = 64;
/** Descriptor index per CSR number; 0 = not implemented. */
const CSR_INDEX: usize = CSR_TABLE;
/** Per descriptor: kind | gate << 8 | effects << 12 | shift << 16 | hart block offset << 32. */
const DESCRIPTOR_INFO: usize = CSR_TABLE + 4096;
/** Per descriptor: the bits a write may change (before the shift). */
const DESCRIPTOR_MASK: usize = DESCRIPTOR_INFO + MAX_DESCRIPTORS * 8;
/** Per descriptor: the bits a read shows (for CONSTANT, the value). */
const DESCRIPTOR_VIEW: usize = DESCRIPTOR_MASK + MAX_DESCRIPTORS * 8;
let descriptors: usize = 1;

/** One table entry: CSRs first..last (inclusive), all alike. */
function define(
  first: u32,
  last: u32,
  kind: u32,
  field: usize,
  mask: u64,
  view: u64 = ALL,
  gate: u32 = GATE_NONE,
  effects: u32 = AFTER_NOTHING,
  shift: u32 = 0,
): void {
  const d = descriptors++;
  store<u64>(
    DESCRIPTOR_INFO + (d << 3),
    <u64>kind | (<u64>gate << 8) | (<u64>effects << 12) | (<u64>shift << 16) | (<u64>field << 32),
  );
  store<u64>(DESCRIPTOR_MASK + (d << 3), mask);
  store<u64>(DESCRIPTOR_VIEW + (d << 3), view);
  for (let n = first; n <= last; n++) store<u8>(CSR_INDEX + n, <u8>d);
}

// Unprivileged floating-point CSRs (unprivileged spec §11.2): views of one fcsr field.
define(0x001, 0x001, FIELD, FCSR, 0x1f, 0x1f, GATE_FP, AFTER_FP_DIRTY); // fflags
define(0x002, 0x002, FIELD, FCSR, 7, 7, GATE_FP, AFTER_FP_DIRTY, 5); // frm
define(0x003, 0x003, FIELD, FCSR, 0xff, 0xff, GATE_FP, AFTER_FP_DIRTY); // fcsr
// Counters (Zicntr); hpmcounter3..31 exist and read 0 (§3.1.10).
define(0xc00, 0xc00, CYCLE, 0, 0, ALL, GATE_COUNTER); // cycle
define(0xc01, 0xc01, TIME, 0, 0, ALL, GATE_COUNTER); // time
define(0xc02, 0xc02, INSTRET_COUNTER, 0, 0, ALL, GATE_COUNTER); // instret
define(0xc03, 0xc1f, CONSTANT, 0, 0, 0, GATE_COUNTER); // hpmcounter3..31
// Supervisor (§4.1).
define(0x100, 0x100, STATUS, MSTATUS, SSTATUS_WRITABLE, SSTATUS_VISIBLE); // sstatus
define(0x104, 0x104, FIELD, MIE, ALL, ALL, GATE_NONE, AFTER_INTERRUPTS | DELEGATED_ONLY); // sie
define(0x105, 0x105, TVEC, STVEC, ALL); // stvec
define(0x106, 0x106, FIELD, SCOUNTEREN, 0xffff_ffff); // scounteren
define(0x10a, 0x10a, FIELD, SENVCFG, 1); // senvcfg: only FIOM (bit 0)
define(0x140, 0x140, FIELD, SSCRATCH, ALL); // sscratch
define(0x141, 0x141, FIELD, SEPC, ~1); // sepc: with C, bit 0 is always zero
define(0x142, 0x142, FIELD, SCAUSE, ALL); // scause
define(0x143, 0x143, FIELD, STVAL, ALL); // stval
// sip: only SSIP is writable, and only when delegated (§4.1.3).
define(0x144, 0x144, PENDING, MIP, 1 << IRQ_SSI, ALL, GATE_NONE, AFTER_INTERRUPTS | DELEGATED_ONLY);
// satp: ASIDLEN = 16 (bits 59:44) and a 44-bit PPN, so every bit is kept; the TLB is flushed on every
// write, so ASIDs only matter to the guest.
define(0x180, 0x180, SATP_REGISTER, SATP, ALL, ALL, GATE_TVM);
// Machine information (§3.1): mvendorid, marchid, mimpid 0 = not implemented / non-commercial; mhartid;
// mconfigptr 0.
define(0xf11, 0xf13, CONSTANT, 0, 0, 0); // mvendorid marchid mimpid
define(0xf14, 0xf14, FIELD, MHARTID, 0); // mhartid
define(0xf15, 0xf15, CONSTANT, 0, 0, 0); // mconfigptr
// Machine trap setup and handling (§3.1).
define(0x300, 0x300, STATUS, MSTATUS, MSTATUS_WRITABLE); // mstatus
define(0x301, 0x301, FIELD, MISA, 0); // misa: WARL, extensions cannot be turned off here
define(0x302, 0x302, FIELD, MEDELEG, MEDELEG_WRITABLE); // medeleg
define(0x303, 0x303, FIELD, MIDELEG, S_INTERRUPTS, ALL, GATE_NONE, AFTER_INTERRUPTS); // mideleg: S only
define(0x304, 0x304, FIELD, MIE, ALL_INTERRUPTS, ALL, GATE_NONE, AFTER_INTERRUPTS); // mie
define(0x305, 0x305, TVEC, MTVEC, ALL); // mtvec
define(0x306, 0x306, FIELD, MCOUNTEREN, 0xffff_ffff); // mcounteren
define(0x30a, 0x30a, FIELD, MENVCFG, 1); // menvcfg: FIOM only; no Sstc, Svpbmt or Zicbo*
define(0x320, 0x320, CONSTANT, 0, 0, 0); // mcountinhibit: the counters always count (WARL, hardwired 0)
define(0x323, 0x33f, CONSTANT, 0, 0, 0); // mhpmevent3..31
define(0x340, 0x340, FIELD, MSCRATCH, ALL); // mscratch
define(0x341, 0x341, FIELD, MEPC, ~1); // mepc
define(0x342, 0x342, FIELD, MCAUSE, ALL); // mcause
define(0x343, 0x343, FIELD, MTVAL, ALL); // mtval
// mip: SSIP, STIP and SEIP are writable by M-mode; MSIP, MTIP and MEIP belong to the CLINT/PLIC.
define(0x344, 0x344, PENDING, MIP, S_INTERRUPTS, ALL, GATE_NONE, AFTER_INTERRUPTS);
// PMP (§3.7): on RV64 only the even pmpcfg exist; entries 16..63 are not implemented (read 0).
define(0x3a0, 0x3a0, PMP_CONFIG, 0, 0); // pmpcfg0
define(0x3a2, 0x3a2, PMP_CONFIG, 0, 0); // pmpcfg2
for (let n: u32 = 0x3a4; n <= 0x3ae; n += 2) define(n, n, CONSTANT, 0, 0, 0); // pmpcfg4..14
define(0x3b0, 0x3bf, PMP_ADDRESS, 0, 0); // pmpaddr0..15
define(0x3c0, 0x3ef, CONSTANT, 0, 0, 0); // pmpaddr16..63
// Debug triggers (Sdtrig, debug spec 1.0 §5): none. tselect reads 0 whatever is written and tdata1
// reads type 0, "there is no trigger at this tselect", which is how software probes them; tinfo bit 0:
// only type 0 (no trigger) exists at this index.
define(0x7a0, 0x7a3, CONSTANT, 0, 0, 0); // tselect tdata1..3
define(0x7a4, 0x7a4, CONSTANT, 0, 0, 1, GATE_NONE, READ_ONLY); // tinfo
// Machine counters: mcycle, minstret; mhpmcounter3..31 read 0.
define(0xb00, 0xb00, CYCLE, 0, 0);
define(0xb02, 0xb02, INSTRET_COUNTER, 0, 0);
define(0xb03, 0xb1f, CONSTANT, 0, 0, 0);

function gateOpen(gate: u32, num: u32, priv: u32): bool {
  if (gate == GATE_FP) return (getMstatus() & MSTATUS_FS) != 0;
  if (gate == GATE_COUNTER) {
    if (priv == PRIV_M) return true;
    const bit: u64 = (<u64>1) << (num & 31);
    if ((csrField(MCOUNTEREN) & bit) == 0) return false;
    return priv != PRIV_U || (csrField(SCOUNTEREN) & bit) != 0;
  }
  // GATE_TVM: "When TVM=1, attempts to read or write the satp CSR ... while executing in S-mode will
  // raise an illegal instruction exception."
  return priv != PRIV_S || (getMstatus() & MSTATUS_TVM) == 0;
}

/**
 * The access check every CSR shares: the descriptor of CSR `num`, or 0 (and csrIllegal set) when it
 * does not exist, the privilege is too low, a write meets a read-only CSR, or its gate is closed.
 */
@inline function csrAccess(num: u32, write: bool): usize {
  const d = <usize>load<u8>(CSR_INDEX + <usize>num);
  const priv = getPriv();
  const info = load<u64>(DESCRIPTOR_INFO + (d << 3));
  const gate = <u32>(info >> 8) & 15;
  if (
    d == 0 ||
    ((num >> 8) & 3) > priv ||
    (write && (((num >> 10) & 3) == 3 || ((<u32>info >> 12) & READ_ONLY) != 0)) ||
    (gate != GATE_NONE && !gateOpen(gate, num, priv))
  ) {
    csrIllegal = true;
    return 0;
  }
  csrIllegal = false;
  return d;
}

/** Read CSR `num`; sets csrIllegal when this privilege may not, or the CSR does not exist. */
export function csrRead(num: u32): u64 {
  const d = csrAccess(num, false);
  if (d == 0) return 0;
  const info = load<u64>(DESCRIPTOR_INFO + (d << 3));
  const field = <usize>(info >> 32);
  let v: u64;
  switch (<u32>info & 0xff) {
    case FIELD:
    case TVEC:
    case SATP_REGISTER:
      v = csrField(field) >> ((info >> 16) & 63);
      break;
    case PENDING:
      v = pendingInterrupts();
      break;
    case STATUS:
      v = readMstatus();
      break;
    case CYCLE:
      v = csrField(INSTRET) + retiredInSlice + csrField(CYCLE_DELTA);
      break;
    case INSTRET_COUNTER:
      v = csrField(INSTRET) + retiredInSlice;
      break;
    case TIME:
      v = <u64>hostMtime();
      break;
    case PMP_CONFIG:
      v = load<u64>(hart + PMPCFG + (<usize>((num >> 1) & 1) << 3));
      break;
    case PMP_ADDRESS:
      v = load<u64>(hart + PMPADDR + (<usize>(num & 15) << 3));
      break;
    default: // CONSTANT
      v = ALL;
  }
  v &= load<u64>(DESCRIPTOR_VIEW + (d << 3));
  return ((<u32>info >> 12) & DELEGATED_ONLY) != 0 ? v & csrField(MIDELEG) : v;
}

/** Write CSR `num` (the caller has read it first when the instruction reads it). */
export function csrWrite(num: u32, v: u64): void {
  const d = csrAccess(num, true);
  if (d == 0) return;
  const info = load<u64>(DESCRIPTOR_INFO + (d << 3));
  const field = <usize>(info >> 32);
  const effects = (<u32>info >> 12) & 15;
  const shift = (info >> 16) & 63;
  let mask = load<u64>(DESCRIPTOR_MASK + (d << 3)) << shift;
  if ((effects & DELEGATED_ONLY) != 0) mask &= csrField(MIDELEG);
  switch (<u32>info & 0xff) {
    case FIELD:
    case PENDING: {
      // Devices set and clear the other mip bits at any time, from any thread: clear and set only the
      // software-writable bits, each with one atomic step, so no device update is lost.
      const bits = (v << shift) & mask;
      atomic.and<u64>(hart + field, ~(mask & ~bits));
      atomic.or<u64>(hart + field, bits);
      break;
    }
    case TVEC:
      setCsrField(field, (v & 3) >= 2 ? v & ~3 : v);
      break;
    case SATP_REGISTER: {
      // "If satp is written with an unsupported MODE, the entire write has no effect" (§4.1.11).
      const mode = v >> 60;
      if (mode != 0 && mode != 8 && mode != 9) return;
      setCsrField(SATP, v);
      flushTlb();
      break;
    }
    case STATUS:
      writeMstatus((getMstatus() & ~mask) | (v & mask));
      break;
    // "A value written to instret by one instruction will be the value read by the following
    // instruction" (Zicsr): the write replaces this instruction's own increment, which run() adds when
    // it retires, hence the - 1. mcycle is minstret + CYCLE_DELTA, so each write leaves the other alone.
    case CYCLE:
      setCsrField(CYCLE_DELTA, v - (csrField(INSTRET) + retiredInSlice + 1));
      break;
    case INSTRET_COUNTER: {
      const instret = v - retiredInSlice - 1;
      setCsrField(CYCLE_DELTA, csrField(CYCLE_DELTA) + csrField(INSTRET) - instret);
      setCsrField(INSTRET, instret);
      break;
    }
    case PMP_CONFIG:
      writePmpcfg((num >> 1) & 1, v);
      break;
    case PMP_ADDRESS:
      writePmpaddr(num & 15, v);
      break;
    default: // CONSTANT: writes are ignored
  }
  if ((effects & AFTER_FP_DIRTY) != 0) markFpDirty();
  if ((effects & AFTER_INTERRUPTS) != 0) signal(EV_INTERRUPTS);
}

function writeMstatus(v: u64): void {
  const old = getMstatus();
  let m = (old & ~MSTATUS_WRITABLE) | (v & MSTATUS_WRITABLE);
  // MPP is WARL: the reserved encoding 2 keeps the previous value.
  if ((m & MSTATUS_MPP) == (<u64>2 << MSTATUS_MPP_SHIFT)) m = (m & ~MSTATUS_MPP) | (old & MSTATUS_MPP);
  setCsrField(MSTATUS, m & ~MSTATUS_SD);
  updateKeys();
  signal(EV_INTERRUPTS);
}

function writePmpcfg(register: u32, v: u64): void {
  const base = hart + PMPCFG + (<usize>register << 3);
  for (let i: u32 = 0; i < 8; i++) {
    const old = load<u8>(base + i);
    if ((old & 0x80) != 0) continue; // locked entries ignore writes (§3.7.1)
    let cfg = <u8>(v >> (8 * i));
    // R=0, W=1 is reserved; keep such an entry without W. Bits 6:5 are reserved (read 0).
    cfg &= 0x9f;
    if ((cfg & 3) == 2) cfg &= ~2;
    store<u8>(base + i, cfg);
  }
  flushTlb();
}

function writePmpaddr(index: u32, v: u64): void {
  const cfg = load<u8>(hart + PMPCFG + index);
  if ((cfg & 0x80) != 0) return;
  // "If PMP entry i+1's A field is set to TOR and its L bit is set, writes to pmpaddr i are ignored."
  if (index < 15) {
    const next = load<u8>(hart + PMPCFG + index + 1);
    if ((next & 0x80) != 0 && ((next >> 3) & 3) == 1) return;
  }
  store<u64>(hart + PMPADDR + (<usize>index << 3), v & 0x003f_ffff_ffff_ffff);
  flushTlb();
}

// ---- Traps (§3.1.6.1, §3.3.1, §4.1.1) ----------------------------------------------------------------

/** Enter the trap handler for `cause` taken at `epc`; returns the handler's pc. */
export function takeTrap(cause: u64, tval: u64, epc: u64): u64 {
  const priv = getPriv();
  const isInterrupt = (cause & CAUSE_INTERRUPT) != 0;
  const code = cause & 63;
  const deleg = isInterrupt ? csrField(MIDELEG) : csrField(MEDELEG);
  // A trap never lowers privilege: delegated traps go to S only from S or U.
  setCsrField(RESERVATION, 0xffff_ffff_ffff_ffff);
  let m = getMstatus();
  if (priv <= PRIV_S && ((deleg >> code) & 1) != 0) {
    setCsrField(SCAUSE, cause);
    setCsrField(SEPC, epc);
    setCsrField(STVAL, tval);
    m = (m & ~(MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SIE)) | ((m & MSTATUS_SIE) != 0 ? MSTATUS_SPIE : 0);
    if (priv == PRIV_S) m |= MSTATUS_SPP;
    setCsrField(MSTATUS, m);
    setPrivilege(PRIV_S);
    const tvec = csrField(STVEC);
    return (tvec & 1) != 0 && isInterrupt ? (tvec & ~3) + 4 * code : tvec & ~3;
  }
  setCsrField(MCAUSE, cause);
  setCsrField(MEPC, epc);
  setCsrField(MTVAL, tval);
  m = (m & ~(MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MIE)) | ((m & MSTATUS_MIE) != 0 ? MSTATUS_MPIE : 0);
  m |= <u64>priv << MSTATUS_MPP_SHIFT;
  setCsrField(MSTATUS, m);
  setPrivilege(PRIV_M);
  const tvec = csrField(MTVEC);
  return (tvec & 1) != 0 && isInterrupt ? (tvec & ~3) + 4 * code : tvec & ~3;
}

// Priority among simultaneous interrupts (§3.1.9): MEI, MSI, MTI, SEI, SSI, STI.
@inline function highestInterrupt(bits: u64): u64 {
  if ((bits & (1 << IRQ_MEI)) != 0) return IRQ_MEI;
  if ((bits & (1 << IRQ_MSI)) != 0) return IRQ_MSI;
  if ((bits & (1 << IRQ_MTI)) != 0) return IRQ_MTI;
  if ((bits & (1 << IRQ_SEI)) != 0) return IRQ_SEI;
  if ((bits & (1 << IRQ_SSI)) != 0) return IRQ_SSI;
  return IRQ_STI;
}

/**
 * The interrupt to take now, as a cause value, or 0. "An interrupt i will trap to M-mode if ... either
 * the current privilege mode is M and the MIE bit in mstatus is set, or the current privilege mode has
 * less privilege than M-mode" (§3.1.9), and likewise for S with SIE for delegated interrupts.
 */
export function interruptToTake(): u64 {
  const pending = pendingInterrupts() & csrField(MIE);
  if (pending == 0) return 0;
  const priv = getPriv();
  const m = getMstatus();
  const deleg = csrField(MIDELEG);
  const machine = pending & ~deleg;
  if (machine != 0 && (priv < PRIV_M || (m & MSTATUS_MIE) != 0)) return CAUSE_INTERRUPT | highestInterrupt(machine);
  const supervisor = pending & deleg;
  if (supervisor != 0 && (priv < PRIV_S || (priv == PRIV_S && (m & MSTATUS_SIE) != 0))) {
    return CAUSE_INTERRUPT | highestInterrupt(supervisor);
  }
  return 0;
}

/** MRET (§3.3.2); returns the new pc. The caller has checked that the hart is in M-mode. */
export function mret(): u64 {
  let m = getMstatus();
  const mpp = <u32>((m >> MSTATUS_MPP_SHIFT) & 3);
  m = (m & ~MSTATUS_MIE) | ((m & MSTATUS_MPIE) != 0 ? MSTATUS_MIE : 0);
  m |= MSTATUS_MPIE;
  m &= ~MSTATUS_MPP; // MPP := U, the least-privileged supported mode
  // "If y≠M, x RET also sets MPRV=0."
  if (mpp != PRIV_M) m &= ~MSTATUS_MPRV;
  setCsrField(MSTATUS, m);
  setPrivilege(mpp);
  signal(EV_INTERRUPTS);
  return csrField(MEPC);
}

/** SRET; returns the new pc. The caller has checked privilege and TSR. */
export function sret(): u64 {
  let m = getMstatus();
  const spp: u32 = (m & MSTATUS_SPP) != 0 ? PRIV_S : PRIV_U;
  m = (m & ~MSTATUS_SIE) | ((m & MSTATUS_SPIE) != 0 ? MSTATUS_SIE : 0);
  m |= MSTATUS_SPIE;
  m &= ~MSTATUS_SPP;
  m &= ~MSTATUS_MPRV;
  setCsrField(MSTATUS, m);
  setPrivilege(spp);
  signal(EV_INTERRUPTS);
  return csrField(SEPC);
}
