// Access to the flat hart state block (workers/cpu/layout.ts). Every field lives in the shared memory at
// a fixed offset from `hart`, so the host can save a CPU with one byte copy and a future JIT can emit
// loads and stores at the same offsets.
import {
  HART_BASE,
  X_REGS,
  F_REGS,
  PRIV,
  MSTATUS,
  TLB_READ,
  TLB_WRITE,
  TLB_FETCH,
  TLB_ENTRIES,
  TLB_WAY,
} from '../layout';

/** Base address of the current hart's state block. */
export let hart: usize = HART_BASE;
/** Bytes of guest DRAM. */
export let ramSize: u64 = 0;

export function setHart(base: usize, ram: u64): void {
  hart = base;
  ramSize = ram;
}

export const PRIV_U: u32 = 0;
export const PRIV_S: u32 = 1;
export const PRIV_M: u32 = 3;

// mstatus fields (privileged spec 1.12 §3.1.6).
export const MSTATUS_SIE: u64 = 1 << 1;
export const MSTATUS_MIE: u64 = 1 << 3;
export const MSTATUS_SPIE: u64 = 1 << 5;
export const MSTATUS_MPIE: u64 = 1 << 7;
export const MSTATUS_SPP: u64 = 1 << 8;
export const MSTATUS_MPP_SHIFT: u64 = 11;
export const MSTATUS_MPP: u64 = 3 << 11;
export const MSTATUS_FS_SHIFT: u64 = 13;
export const MSTATUS_FS: u64 = 3 << 13;
export const MSTATUS_MPRV: u64 = 1 << 17;
export const MSTATUS_SUM: u64 = 1 << 18;
export const MSTATUS_MXR: u64 = 1 << 19;
export const MSTATUS_TVM: u64 = 1 << 20;
export const MSTATUS_TW: u64 = 1 << 21;
export const MSTATUS_TSR: u64 = 1 << 22;
export const MSTATUS_UXL: u64 = 3 << 32;
export const MSTATUS_SXL: u64 = 3 << 34;
export const MSTATUS_SD: u64 = 1 << 63;

// Interrupt bits of mip/mie (§3.1.9).
export const IRQ_SSI: u32 = 1;
export const IRQ_MSI: u32 = 3;
export const IRQ_STI: u32 = 5;
export const IRQ_MTI: u32 = 7;
export const IRQ_SEI: u32 = 9;
export const IRQ_MEI: u32 = 11;

// Exception causes (§3.1.15, table 3.6).
export const CAUSE_MISALIGNED_FETCH: u64 = 0;
export const CAUSE_FETCH_ACCESS: u64 = 1;
export const CAUSE_ILLEGAL_INSTRUCTION: u64 = 2;
export const CAUSE_BREAKPOINT: u64 = 3;
export const CAUSE_MISALIGNED_LOAD: u64 = 4;
export const CAUSE_LOAD_ACCESS: u64 = 5;
export const CAUSE_MISALIGNED_STORE: u64 = 6;
export const CAUSE_STORE_ACCESS: u64 = 7;
export const CAUSE_USER_ECALL: u64 = 8;
export const CAUSE_SUPERVISOR_ECALL: u64 = 9;
export const CAUSE_MACHINE_ECALL: u64 = 11;
export const CAUSE_FETCH_PAGE_FAULT: u64 = 12;
export const CAUSE_LOAD_PAGE_FAULT: u64 = 13;
export const CAUSE_STORE_PAGE_FAULT: u64 = 15;
export const CAUSE_INTERRUPT: u64 = 1 << 63;

// ---- Events -------------------------------------------------------------------------------------------
// Anything other than "retire and go on" that happens during an instruction sets a bit here, so the
// interpreter tests one word per instruction instead of one flag per kind of event.
export let events: i32 = 0;
export const EV_FAULT: i32 = 1; // a memory helper faulted (mmu trapCause/trapTval)
export const EV_ILLEGAL: i32 = 2; // a helper found the instruction illegal
export const EV_RAISED: i32 = 4; // ecall, ebreak, misaligned atomic (raisedCause/raisedTval)
export const EV_INTERRUPTS: i32 = 8; // a CSR write or xRET may have made an interrupt deliverable
export const EV_TOHOST: i32 = 16; // a store hit the bare-metal tohost word
export const EV_WFI: i32 = 32; // WFI executed
@inline export function signal(bits: i32): void {
  events |= bits;
}
@inline export function takeEvents(): i32 {
  const e = events;
  events = 0;
  return e;
}

@inline export function getX(r: u32): u64 {
  return load<u64>(hart + (<usize>r << 3), X_REGS);
}
@inline export function setX(r: u32, v: u64): void {
  if (r != 0) store<u64>(hart + (<usize>r << 3), v, X_REGS);
}
@inline export function getF(r: u32): u64 {
  return load<u64>(hart + (<usize>r << 3), F_REGS);
}
@inline export function setF(r: u32, v: u64): void {
  store<u64>(hart + (<usize>r << 3), v, F_REGS);
}
@inline export function csrField(offset: usize): u64 {
  return load<u64>(hart + offset);
}
@inline export function setCsrField(offset: usize, v: u64): void {
  store<u64>(hart + offset, v);
}
@inline export function getPriv(): u32 {
  return <u32>load<u64>(hart, PRIV);
}
@inline export function getMstatus(): u64 {
  return load<u64>(hart, MSTATUS);
}

/** mstatus with SD derived from FS (SD is read-only: set when FS, VS or XS is dirty). */
export function readMstatus(): u64 {
  const m = getMstatus() & ~MSTATUS_SD;
  return (m & MSTATUS_FS) == MSTATUS_FS ? m | MSTATUS_SD : m;
}

// ---- Software TLB keys -------------------------------------------------------------------------------
// A TLB tag is (virtual page number << 4) | key, where the key names everything besides the page that
// decides a translation's outcome: the effective privilege and mstatus.SUM/MXR. Changing privilege or
// toggling SUM (Linux does it around every user copy) therefore needs no flush. satp writes,
// SFENCE.VMA and PMP changes flush.

/** Key for loads and stores: effective privilege (MPRV applies) << 2 | SUM << 1 | MXR. */
export let dataKey: u64 = <u64>PRIV_M << 2;
/** Key for instruction fetch: current privilege << 2. */
export let fetchKey: u64 = <u64>PRIV_M << 2;
/** Effective privilege for loads and stores. */
export let dataPriv: u32 = PRIV_M;

/** Recompute the TLB keys after a change of privilege or of mstatus. */
export function updateKeys(): void {
  const priv = getPriv();
  const m = getMstatus();
  let eff = priv;
  if (priv == PRIV_M && (m & MSTATUS_MPRV) != 0) eff = <u32>((m >> MSTATUS_MPP_SHIFT) & 3);
  dataPriv = eff;
  let key = <u64>eff << 2;
  if (eff == PRIV_S && (m & MSTATUS_SUM) != 0) key |= 2;
  if ((m & MSTATUS_MXR) != 0) key |= 1;
  dataKey = key;
  fetchKey = <u64>priv << 2;
}

export const TLB_EMPTY: u64 = 0xffff_ffff_ffff_ffff;

export function flushTlb(): void {
  for (let i: usize = 0; i < <usize>TLB_ENTRIES; i++) {
    store<u64>(hart + TLB_READ + (i << 4), TLB_EMPTY);
    store<u64>(hart + TLB_WRITE + (i << 4), TLB_EMPTY);
    store<u64>(hart + TLB_FETCH + (i << 4), TLB_EMPTY);
    store<u64>(hart + TLB_READ + TLB_WAY + (i << 4), TLB_EMPTY);
    store<u64>(hart + TLB_WRITE + TLB_WAY + (i << 4), TLB_EMPTY);
    store<u64>(hart + TLB_FETCH + TLB_WAY + (i << 4), TLB_EMPTY);
  }
}

export function setPrivilege(p: u32): void {
  store<u64>(hart, <u64>p, PRIV);
  updateKeys();
}
