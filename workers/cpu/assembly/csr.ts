// Control and status registers (privileged spec 1.12 ch. 2, 3, 4), trap entry, interrupts and xRET.
// Access rules come from the CSR number itself (§2.1: bits 11:10 = read-only when 0b11, bits 9:8 = the
// lowest privilege that may access it); the per-register behaviour is one `case` per CSR, grouped by the
// spec section that defines it.
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

/** The pending bits a hart sees: software-written bits plus the PLIC's supervisor external line. */
@inline export function pendingInterrupts(): u64 {
  return csrField(MIP) | (csrField(SEIP_LINE) != 0 ? <u64>(1 << IRQ_SEI) : 0);
}

function counterAllowed(index: u32): bool {
  // §3.1.11: a counter is accessible below M only when its bit is set in mcounteren, and in U also in
  // scounteren; otherwise an illegal instruction exception.
  const priv = getPriv();
  if (priv == PRIV_M) return true;
  const bit: u64 = (<u64>1) << index;
  if ((csrField(MCOUNTEREN) & bit) == 0) return false;
  if (priv == PRIV_U && (csrField(SCOUNTEREN) & bit) == 0) return false;
  return true;
}

@inline function fpEnabled(): bool {
  return (getMstatus() & MSTATUS_FS) != 0;
}

export function markFpDirty(): void {
  setCsrField(MSTATUS, getMstatus() | MSTATUS_FS);
}

/** Read CSR `num`; sets csrIllegal when this privilege may not, or the CSR does not exist. */
export function csrRead(num: u32): u64 {
  csrIllegal = false;
  if (((num >> 8) & 3) > getPriv()) {
    csrIllegal = true;
    return 0;
  }
  switch (num) {
    // Unprivileged floating-point CSRs (unprivileged spec §11.2).
    case 0x001: // fflags
      if (!fpEnabled()) break;
      return csrField(FCSR) & 0x1f;
    case 0x002: // frm
      if (!fpEnabled()) break;
      return (csrField(FCSR) >> 5) & 7;
    case 0x003: // fcsr
      if (!fpEnabled()) break;
      return csrField(FCSR) & 0xff;
    // Counters (Zicntr): cycle, time, instret; one instruction per cycle.
    case 0xc00: // cycle
      if (!counterAllowed(0)) break;
      return csrField(INSTRET) + retiredInSlice + csrField(CYCLE_DELTA);
    case 0xc01: // time
      if (!counterAllowed(1)) break;
      return <u64>hostMtime();
    case 0xc02: // instret
      if (!counterAllowed(2)) break;
      return csrField(INSTRET) + retiredInSlice;
    // Supervisor (§4.1).
    case 0x100: // sstatus
      return readMstatus() & SSTATUS_VISIBLE;
    case 0x104: // sie
      return csrField(MIE) & csrField(MIDELEG);
    case 0x105: // stvec
      return csrField(STVEC);
    case 0x106: // scounteren
      return csrField(SCOUNTEREN);
    case 0x10a: // senvcfg
      return csrField(SENVCFG);
    case 0x140: // sscratch
      return csrField(SSCRATCH);
    case 0x141: // sepc
      return csrField(SEPC);
    case 0x142: // scause
      return csrField(SCAUSE);
    case 0x143: // stval
      return csrField(STVAL);
    case 0x144: // sip
      return pendingInterrupts() & csrField(MIDELEG);
    case 0x180: // satp
      // "When TVM=1, attempts to read or write the satp CSR ... while executing in S-mode will raise an
      // illegal instruction exception."
      if (getPriv() == PRIV_S && (getMstatus() & MSTATUS_TVM) != 0) break;
      return csrField(SATP);
    // Machine (§3.1).
    case 0xf11: // mvendorid: 0 = not implemented / non-commercial
    case 0xf12: // marchid
    case 0xf13: // mimpid
    case 0xf15: // mconfigptr
      return 0;
    case 0xf14: // mhartid
      return csrField(MHARTID);
    case 0x300: // mstatus
      return readMstatus();
    case 0x301: // misa
      return csrField(MISA);
    case 0x302: // medeleg
      return csrField(MEDELEG);
    case 0x303: // mideleg
      return csrField(MIDELEG);
    case 0x304: // mie
      return csrField(MIE);
    case 0x305: // mtvec
      return csrField(MTVEC);
    case 0x306: // mcounteren
      return csrField(MCOUNTEREN);
    case 0x30a: // menvcfg
      return csrField(MENVCFG);
    case 0x320: // mcountinhibit: the counters always count (every bit is WARL, hardwired to 0 here)
      return 0;
    case 0x340: // mscratch
      return csrField(MSCRATCH);
    case 0x341: // mepc
      return csrField(MEPC);
    case 0x342: // mcause
      return csrField(MCAUSE);
    case 0x343: // mtval
      return csrField(MTVAL);
    case 0x344: // mip
      return pendingInterrupts();
    // Debug triggers (Sdtrig, debug spec 1.0 §5): none. tselect reads 0 whatever is written and
    // tdata1 reads type 0, "there is no trigger at this tselect", which is how software probes them.
    case 0x7a0: // tselect
    case 0x7a1: // tdata1
    case 0x7a2: // tdata2
    case 0x7a3: // tdata3
      return 0;
    case 0x7a4: // tinfo: bit 0 = only type 0 (no trigger) exists at this index
      return 1;
    case 0xb00: // mcycle
      return csrField(INSTRET) + retiredInSlice + csrField(CYCLE_DELTA);
    case 0xb02: // minstret
      return csrField(INSTRET) + retiredInSlice;
    default:
      if (num >= 0x3a0 && num <= 0x3af) {
        // pmpcfg0..15: on RV64 only the even ones exist; entries 16..63 are not implemented (read 0).
        if ((num & 1) != 0) break;
        const index = num - 0x3a0;
        return index < 4 ? load<u64>(hart + PMPCFG + (<usize>(index >> 1) << 3)) : 0;
      }
      if (num >= 0x3b0 && num <= 0x3ef) {
        const index = num - 0x3b0;
        return index < 16 ? load<u64>(hart + PMPADDR + (<usize>index << 3)) : 0;
      }
      // hpmcounter3..31, mhpmcounter3..31 and mhpmevent3..31 exist and read as zero (§3.1.10).
      if (num >= 0xc03 && num <= 0xc1f) {
        if (!counterAllowed(num - 0xc00)) break;
        return 0;
      }
      if ((num >= 0xb03 && num <= 0xb1f) || (num >= 0x323 && num <= 0x33f)) return 0;
      break;
  }
  csrIllegal = true;
  return 0;
}

/** Write CSR `num` (the caller has read it first when the instruction reads it). */
export function csrWrite(num: u32, v: u64): void {
  csrIllegal = false;
  if (((num >> 10) & 3) == 3 || ((num >> 8) & 3) > getPriv()) {
    csrIllegal = true;
    return;
  }
  switch (num) {
    case 0x001: // fflags
      if (!fpEnabled()) break;
      setCsrField(FCSR, (csrField(FCSR) & ~0x1f) | (v & 0x1f));
      markFpDirty();
      return;
    case 0x002: // frm
      if (!fpEnabled()) break;
      setCsrField(FCSR, (csrField(FCSR) & 0x1f) | ((v & 7) << 5));
      markFpDirty();
      return;
    case 0x003: // fcsr
      if (!fpEnabled()) break;
      setCsrField(FCSR, v & 0xff);
      markFpDirty();
      return;
    case 0x100: // sstatus
      writeMstatus((getMstatus() & ~SSTATUS_WRITABLE) | (v & SSTATUS_WRITABLE));
      return;
    case 0x104: {
      // sie: only delegated bits are visible and writable.
      const mask = csrField(MIDELEG);
      setCsrField(MIE, (csrField(MIE) & ~mask) | (v & mask));
      signal(EV_INTERRUPTS);
      return;
    }
    case 0x105: // stvec: modes 0 (direct) and 1 (vectored); reserved modes are WARL → direct.
      setCsrField(STVEC, (v & 3) >= 2 ? v & ~3 : v);
      return;
    case 0x106: // scounteren
      setCsrField(SCOUNTEREN, v & 0xffff_ffff);
      return;
    case 0x10a: // senvcfg: only FIOM (bit 0) is implemented.
      setCsrField(SENVCFG, v & 1);
      return;
    case 0x140: // sscratch
      setCsrField(SSCRATCH, v);
      return;
    case 0x141: // sepc: with C, bit 0 is always zero.
      setCsrField(SEPC, v & ~1);
      return;
    case 0x142: // scause
      setCsrField(SCAUSE, v);
      return;
    case 0x143: // stval
      setCsrField(STVAL, v);
      return;
    case 0x144: {
      // sip: only SSIP is writable, and only when delegated (§4.1.3).
      const mask = csrField(MIDELEG) & (1 << IRQ_SSI);
      setCsrField(MIP, (csrField(MIP) & ~mask) | (v & mask));
      signal(EV_INTERRUPTS);
      return;
    }
    case 0x180: {
      // satp
      if (getPriv() == PRIV_S && (getMstatus() & MSTATUS_TVM) != 0) break;
      const mode = v >> 60;
      // "If satp is written with an unsupported MODE, the entire write has no effect" (§4.1.11).
      if (mode != 0 && mode != 8 && mode != 9) return;
      // ASIDLEN = 16 (bits 59:44) and a 44-bit PPN, so every bit is kept; we flush on every write so
      // ASIDs only matter to the guest.
      setCsrField(SATP, v);
      flushTlb();
      return;
    }
    case 0x300: // mstatus
      writeMstatus(v);
      return;
    case 0x301: // misa: WARL, extensions cannot be turned off here; writes are ignored.
      return;
    case 0x302: // medeleg
      setCsrField(MEDELEG, v & MEDELEG_WRITABLE);
      return;
    case 0x303: // mideleg: only supervisor interrupts can be delegated.
      setCsrField(MIDELEG, v & S_INTERRUPTS);
      signal(EV_INTERRUPTS);
      return;
    case 0x304: // mie
      setCsrField(MIE, v & ALL_INTERRUPTS);
      signal(EV_INTERRUPTS);
      return;
    case 0x305: // mtvec
      setCsrField(MTVEC, (v & 3) >= 2 ? v & ~3 : v);
      return;
    case 0x306: // mcounteren
      setCsrField(MCOUNTEREN, v & 0xffff_ffff);
      return;
    case 0x30a: // menvcfg: FIOM only; no Sstc, Svpbmt or Zicbo*.
      setCsrField(MENVCFG, v & 1);
      return;
    case 0x320: // mcountinhibit: hardwired to 0
    case 0x7a0: // tselect, tdata1..3: no triggers, writes are ignored
    case 0x7a1:
    case 0x7a2:
    case 0x7a3:
      return;
    case 0x340: // mscratch
      setCsrField(MSCRATCH, v);
      return;
    case 0x341: // mepc
      setCsrField(MEPC, v & ~1);
      return;
    case 0x342: // mcause
      setCsrField(MCAUSE, v);
      return;
    case 0x343: // mtval
      setCsrField(MTVAL, v);
      return;
    case 0x344: {
      // mip: SSIP, STIP and SEIP are writable by M-mode; MSIP, MTIP and MEIP belong to the CLINT/PLIC.
      const mask: u64 = S_INTERRUPTS;
      setCsrField(MIP, (csrField(MIP) & ~mask) | (v & mask));
      signal(EV_INTERRUPTS);
      return;
    }
    // "A value written to instret by one instruction will be the value read by the following
    // instruction" (Zicsr): the write replaces this instruction's own increment, which run() adds when
    // it retires, hence the - 1. mcycle is minstret + CYCLE_DELTA, so each write leaves the other alone.
    case 0xb00: {
      // mcycle
      setCsrField(CYCLE_DELTA, v - (csrField(INSTRET) + retiredInSlice + 1));
      return;
    }
    case 0xb02: {
      // minstret
      const instret = v - retiredInSlice - 1;
      setCsrField(CYCLE_DELTA, csrField(CYCLE_DELTA) + csrField(INSTRET) - instret);
      setCsrField(INSTRET, instret);
      return;
    }
    default:
      if (num >= 0x3a0 && num <= 0x3af) {
        if ((num & 1) != 0) break;
        const index = num - 0x3a0;
        if (index < 4) writePmpcfg(index >> 1, v);
        return;
      }
      if (num >= 0x3b0 && num <= 0x3ef) {
        const index = num - 0x3b0;
        if (index < 16) writePmpaddr(index, v);
        return;
      }
      if ((num >= 0xb03 && num <= 0xb1f) || (num >= 0x323 && num <= 0x33f)) return;
      break;
  }
  csrIllegal = true;
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
