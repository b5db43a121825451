// Guest memory: Sv39/Sv48 translation (privileged spec 1.12 §4.3–4.4), PMP (§3.7), the software TLBs and
// the load/store/fetch helpers the interpreter calls. RAM hits in the TLB take the fast path; everything
// else (page walks, MMIO, PMP-split pages, page-crossing accesses) takes the slow path. A fault never
// leaves through here: it sets `trapCause`/`trapTval` and `trapped`, and the interpreter traps once.
import {
  TLB_READ,
  TLB_WAY,
  TLB_WRITE,
  TLB_FETCH,
  SATP,
  PMPCFG,
  PMPADDR,
  DRAM_BASE,
  RAM_OFFSET,
  TOHOST_ADDR,
  BUS_ERROR,
} from '../layout';
import {
  hart,
  ramSize,
  dataKey,
  fetchKey,
  dataPriv,
  getPriv,
  csrField,
  PRIV_M,
  PRIV_S,
  PRIV_U,
  CAUSE_FETCH_ACCESS,
  CAUSE_LOAD_ACCESS,
  CAUSE_STORE_ACCESS,
  CAUSE_FETCH_PAGE_FAULT,
  CAUSE_LOAD_PAGE_FAULT,
  CAUSE_STORE_PAGE_FAULT,
  getMstatus,
  signal,
  EV_FAULT,
  EV_TOHOST,
  MSTATUS_MXR,
  MSTATUS_SUM,
} from './state';

@external('env', 'mmioRead') declare function mmioRead(addr: u64, size: i32): u64;
@external('env', 'mmioWrite') declare function mmioWrite(addr: u64, value: u64, size: i32): void;
/** An instruction fetch outside RAM: the bus answers only from memory that holds code (the boot ROM). */
@external('env', 'mmioFetch') declare function mmioFetch(addr: u64, size: i32): u64;

export const ACCESS_READ: i32 = 0;
export const ACCESS_WRITE: i32 = 1;
export const ACCESS_FETCH: i32 = 2;

/** Set by any helper that faults; the interpreter raises (trapCause, trapTval) and clears it. */
export let trapped: bool = false;
export let trapCause: u64 = 0;
export let trapTval: u64 = 0;

export function clearTrap(): void {
  trapped = false;
}

@inline function fault(cause: u64, tval: u64): void {
  trapped = true;
  signal(EV_FAULT);
  trapCause = cause;
  trapTval = tval;
}

@inline function accessFaultCause(access: i32): u64 {
  return access == ACCESS_FETCH ? CAUSE_FETCH_ACCESS : access == ACCESS_WRITE ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS;
}
@inline function pageFaultCause(access: i32): u64 {
  return access == ACCESS_FETCH
    ? CAUSE_FETCH_PAGE_FAULT
    : access == ACCESS_WRITE
      ? CAUSE_STORE_PAGE_FAULT
      : CAUSE_LOAD_PAGE_FAULT;
}

@inline export function isRam(pa: u64): bool {
  return pa - <u64>DRAM_BASE < ramSize;
}
@inline export function ramHost(pa: u64): usize {
  return <usize>(pa - <u64>DRAM_BASE + <u64>RAM_OFFSET);
}

// ---- PMP (§3.7) ----------------------------------------------------------------------------------------

const PMP_R: u32 = 1;
const PMP_W: u32 = 2;
const PMP_X: u32 = 4;
const PMP_A_SHIFT: u32 = 3;
const PMP_TOR: u32 = 1;
const PMP_NA4: u32 = 2;
const PMP_NAPOT: u32 = 3;
const PMP_L: u32 = 0x80;
const PMP_NO_MATCH: i32 = -1;
const PMP_PARTIAL: i32 = -2;

@inline export function pmpCfg(i: u32): u32 {
  return <u32>load<u8>(hart + PMPCFG + <usize>i);
}
@inline export function pmpAddr(i: u32): u64 {
  return load<u64>(hart + PMPADDR + (<usize>i << 3));
}

/**
 * The highest-priority entry that matches any byte of [lo, lo+size): its index, or PMP_NO_MATCH, or
 * PMP_PARTIAL when that entry covers only part of the range ("if the PMP entry matches some but not
 * all bytes of the access, the access fails", §3.7.1).
 */
function pmpFind(lo: u64, size: u64): i32 {
  const hi = lo + size;
  for (let i: u32 = 0; i < 16; i++) {
    const cfg = pmpCfg(i);
    const a = (cfg >> PMP_A_SHIFT) & 3;
    if (a == 0) continue;
    let start: u64;
    let end: u64;
    const addr = pmpAddr(i);
    if (a == PMP_TOR) {
      start = i == 0 ? 0 : pmpAddr(i - 1) << 2;
      end = addr << 2;
      if (end <= start) continue;
    } else if (a == PMP_NA4) {
      start = addr << 2;
      end = start + 4;
    } else {
      const ones = <u64>ctz(~addr);
      const span: u64 = ones >= 62 ? 0 : (<u64>1) << (ones + 3);
      start = ones >= 62 ? 0 : (addr & ~(((<u64>1) << ones) - 1)) << 2;
      end = ones >= 62 ? 0xffff_ffff_ffff_ffff : start + span;
    }
    if (hi <= start || lo >= end) continue;
    if (lo >= start && hi <= end) return <i32>i;
    return PMP_PARTIAL;
  }
  return PMP_NO_MATCH;
}

@inline function pmpAllows(entry: i32, access: i32, priv: u32): bool {
  if (entry == PMP_PARTIAL) return false;
  // "If no PMP entry matches an M-mode access, the access succeeds. If no PMP entry matches an S-mode or
  // U-mode access, but at least one PMP entry is implemented, the access fails."
  if (entry == PMP_NO_MATCH) return priv == PRIV_M;
  const cfg = pmpCfg(<u32>entry);
  if (priv == PRIV_M && (cfg & PMP_L) == 0) return true;
  const need = access == ACCESS_FETCH ? PMP_X : access == ACCESS_WRITE ? PMP_W : PMP_R;
  return (cfg & need) != 0;
}

/** Whether the last successful pmpCheck's verdict holds for the whole 4 KiB page (then the TLB may cache it). */
let pmpPageWide: bool = true;

function pmpCheck(pa: u64, size: u64, access: i32, priv: u32): bool {
  const page = pmpFind(pa & ~0xfff, 4096);
  if (page != PMP_PARTIAL) {
    pmpPageWide = true;
    return pmpAllows(page, access, priv);
  }
  pmpPageWide = false;
  return pmpAllows(pmpFind(pa, size), access, priv);
}

// ---- Translation (§4.3.2, §4.4) ------------------------------------------------------------------------

const PTE_V: u64 = 1;
const PTE_R: u64 = 2;
const PTE_W: u64 = 4;
const PTE_X: u64 = 8;
const PTE_U: u64 = 16;
const PTE_A: u64 = 64;
const PTE_D: u64 = 128;
const PTE_RESERVED: u64 = 0xffc0_0000_0000_0000; // bits 63–54: PBMT and N are not implemented
const SATP_MODE_SV39: u64 = 8;
const SATP_MODE_SV48: u64 = 9;

/**
 * Whether `pa` is on the page of a bare-metal program's tohost word. That page is never cached, so every
 * store to it goes through writeSlow, which watches for the word.
 */
@inline function isTohostPage(pa: u64): bool {
  const tohost = csrField(TOHOST_ADDR);
  return tohost != 0 && (pa & ~0xfff) == (tohost & ~0xfff);
}

/** Whether the last translation may be cached in a TLB (RAM, page-wide PMP verdict, not tohost). */
export let translationCacheable: bool = false;

/**
 * Virtual → physical for one access of `size` bytes (within one page) at privilege `priv`. On a fault
 * sets `trapped` and returns 0.
 * A and D are updated by the walk (Svadu-style hardware update, which §4.3.1 permits) so a TLB entry
 * for writes is only made once D is set.
 */
export function translate(va: u64, access: i32, priv: u32, size: u64 = 1): u64 {
  const satp = csrField(SATP);
  const mode = satp >> 60;
  let pa: u64;
  if (priv == PRIV_M || mode == 0) {
    pa = va;
  } else {
    const levels: i32 = mode == SATP_MODE_SV48 ? 4 : 3;
    const vaBits: u64 = <u64>(12 + 9 * levels);
    // "Instruction fetch addresses and load and store effective addresses ... must have bits 63–39 all
    // equal to bit 38, or else a page-fault exception will occur" (Sv39; Sv48 likewise from bit 47).
    const upper = <i64>va >> (vaBits - 1);
    if (upper != 0 && upper != -1) {
      fault(pageFaultCause(access), va);
      return 0;
    }
    let table: u64 = (satp & 0xfff_ffff_ffff) << 12;
    let level: i32 = levels - 1;
    let pte: u64 = 0;
    let pteAddr: u64 = 0;
    while (true) {
      pteAddr = table + (((va >> (12 + 9 * <u64>level)) & 0x1ff) << 3);
      if (!isRam(pteAddr) || !pmpCheck(pteAddr, 8, ACCESS_READ, PRIV_S)) {
        fault(accessFaultCause(access), va);
        return 0;
      }
      pte = load<u64>(ramHost(pteAddr));
      if ((pte & PTE_V) == 0 || ((pte & PTE_R) == 0 && (pte & PTE_W) != 0) || (pte & PTE_RESERVED) != 0) {
        fault(pageFaultCause(access), va);
        return 0;
      }
      if ((pte & (PTE_R | PTE_X)) != 0) break;
      // A non-leaf PTE must have A, D and U clear (§4.3.2 step 4 reserves them for future use).
      if ((pte & (PTE_A | PTE_D | PTE_U)) != 0 || level == 0) {
        fault(pageFaultCause(access), va);
        return 0;
      }
      level--;
      table = ((pte >> 10) & 0xfff_ffff_ffff) << 12;
    }
    // Leaf: permissions.
    let ok: bool;
    if (access == ACCESS_FETCH) ok = (pte & PTE_X) != 0;
    else if (access == ACCESS_WRITE) ok = (pte & PTE_W) != 0;
    else ok = (pte & PTE_R) != 0 || ((getMstatus() & MSTATUS_MXR) != 0 && (pte & PTE_X) != 0);
    if ((pte & PTE_U) != 0) {
      // S-mode may touch user pages only with SUM, and may never execute them.
      if (priv == PRIV_S && (access == ACCESS_FETCH || (getMstatus() & MSTATUS_SUM) == 0)) ok = false;
    } else if (priv == PRIV_U) {
      ok = false;
    }
    const ppn = (pte >> 10) & 0xfff_ffff_ffff;
    // A superpage whose low PPN bits are not zero is misaligned: page fault.
    if (level > 0 && (ppn & (((<u64>1) << (9 * <u64>level)) - 1)) != 0) ok = false;
    if (!ok) {
      fault(pageFaultCause(access), va);
      return 0;
    }
    const newPte = pte | PTE_A | (access == ACCESS_WRITE ? PTE_D : 0);
    if (newPte != pte) {
      if (!pmpCheck(pteAddr, 8, ACCESS_WRITE, PRIV_S)) {
        fault(accessFaultCause(access), va);
        return 0;
      }
      store<u64>(ramHost(pteAddr), newPte);
    }
    const offsetMask: u64 = ((<u64>1) << (12 + 9 * <u64>level)) - 1;
    pa = ((ppn << 12) & ~offsetMask) | (va & offsetMask);
  }
  // Physical addresses are 56 bits wide; beyond that nothing answers. PMP checks every byte of the
  // access: "if the PMP entry matches some but not all bytes of the access, the access fails" (§3.7.1).
  if ((pa >> 56) != 0 || !pmpCheck(pa, size, access, priv)) {
    fault(accessFaultCause(access), va);
    return 0;
  }
  translationCacheable = pmpPageWide && isRam(pa) && !isTohostPage(pa);
  return pa;
}

// Each TLB (layout.ts) is two-way set-associative: the page `vpn` may sit in entry `vpn & 0xff` of the
// table (its first way) or in the same entry of the table TLB_WAY bytes on (its second way). A
// direct-mapped TLB let two hot pages whose numbers agree in the low 8 bits (the stack and a data page
// of the program, say) evict each other on every access: the JIT's regions then left for the
// interpreter at each of those loads and stores (README, Performance).
@inline function tlbEntry(table: usize, vpn: u64): usize {
  return hart + table + ((<usize>vpn & 0xff) << 4);
}
@inline function otherWay(e: usize): usize {
  return e + TLB_WAY;
}

/** Caches a translation in its first way; the page that was there moves to the second way. */
@inline function fillTlb(table: usize, key: u64, va: u64, pa: u64): void {
  const vpn = va >> 12;
  const e = tlbEntry(table, vpn);
  const second = otherWay(e);
  store<u64>(second, load<u64>(e));
  store<u64>(second, load<u64>(e, 8), 8);
  store<u64>(e, (vpn << 4) | key);
  store<u64>(e, <u64>ramHost(pa & ~0xfff) - (va & ~0xfff), 8);
}

// ---- Data accesses ------------------------------------------------------------------------------------

@inline function tlbHost(table: usize, key: u64, va: u64): usize {
  const vpn = va >> 12;
  const tag = (vpn << 4) | key;
  const e = tlbEntry(table, vpn);
  if (load<u64>(e) == tag) return <usize>(va + load<u64>(e, 8));
  const second = otherWay(e);
  if (load<u64>(second) == tag) return <usize>(va + load<u64>(second, 8));
  return 0;
}

@inline function samePage(va: u64, size: u64): bool {
  return (va & 0xfff) <= 0x1000 - size;
}

/**
 * The wasm address for a `size`-byte data access at `va` when the TLB `table` (TLB_READ or TLB_WRITE)
 * maps its page and the access stays inside it; 0 otherwise (then take readSlow/writeSlow).
 */
@inline export function dataHost(table: usize, va: u64, size: u64): usize {
  const host = tlbHost(table, dataKey, va);
  return samePage(va, size) ? host : 0;
}

/** Read `size` bytes (1, 2, 4, 8) zero-extended. */
export function readSlow(va: u64, size: i32): u64 {
  if (!samePage(va, <u64>size)) {
    // Misaligned across a page: byte by byte (§2.6 allows misaligned accesses to be non-atomic).
    let v: u64 = 0;
    for (let i: i32 = 0; i < size; i++) {
      const b = readSlow(va + <u64>i, 1);
      if (trapped) return 0;
      v |= b << (8 * <u64>i);
    }
    return v;
  }
  const pa = translate(va, ACCESS_READ, dataPriv, <u64>size);
  if (trapped) return 0;
  if (isRam(pa)) {
    if (translationCacheable) fillTlb(TLB_READ, dataKey, va, pa);
    const h = ramHost(pa);
    if (size == 8) return load<u64>(h);
    if (size == 4) return <u64>load<u32>(h);
    if (size == 2) return <u64>load<u16>(h);
    return <u64>load<u8>(h);
  }
  store<u64>(hart + BUS_ERROR, 0);
  const v = mmioRead(pa, size);
  if (load<u64>(hart + BUS_ERROR) != 0) {
    fault(CAUSE_LOAD_ACCESS, va);
    return 0;
  }
  return v;
}

export function writeSlow(va: u64, v: u64, size: i32): void {
  if (!samePage(va, <u64>size)) {
    // Translate both pages first so that a fault on the second leaves memory untouched.
    const second = (va + <u64>size - 1) & ~0xfff;
    translate(second, ACCESS_WRITE, dataPriv);
    if (trapped) return;
    for (let i: i32 = 0; i < size; i++) {
      writeSlow(va + <u64>i, (v >> (8 * <u64>i)) & 0xff, 1);
      if (trapped) return;
    }
    return;
  }
  const pa = translate(va, ACCESS_WRITE, dataPriv, <u64>size);
  if (trapped) return;
  if (isRam(pa)) {
    if (translationCacheable) {
      fillTlb(TLB_WRITE, dataKey, va, pa);
    } else if (isTohostPage(pa)) {
      const tohost = csrField(TOHOST_ADDR);
      if (pa <= tohost + 7 && pa + <u64>size > tohost) signal(EV_TOHOST);
    }
    const h = ramHost(pa);
    if (size == 8) store<u64>(h, v);
    else if (size == 4) store<u32>(h, <u32>v);
    else if (size == 2) store<u16>(h, <u16>v);
    else store<u8>(h, <u8>v);
    return;
  }
  store<u64>(hart + BUS_ERROR, 0);
  mmioWrite(pa, v, size);
  if (load<u64>(hart + BUS_ERROR) != 0) fault(CAUSE_STORE_ACCESS, va);
}

@inline export function read64(va: u64): u64 {
  const h = tlbHost(TLB_READ, dataKey, va);
  if (h != 0 && samePage(va, 8)) return load<u64>(h);
  return readSlow(va, 8);
}
@inline export function read32(va: u64): u32 {
  const h = tlbHost(TLB_READ, dataKey, va);
  if (h != 0 && samePage(va, 4)) return load<u32>(h);
  return <u32>readSlow(va, 4);
}
@inline export function write64(va: u64, v: u64): void {
  const h = tlbHost(TLB_WRITE, dataKey, va);
  if (h != 0 && samePage(va, 8)) store<u64>(h, v);
  else writeSlow(va, v, 8);
}
@inline export function write32(va: u64, v: u32): void {
  const h = tlbHost(TLB_WRITE, dataKey, va);
  if (h != 0 && samePage(va, 4)) store<u32>(h, v);
  else writeSlow(va, <u64>v, 4);
}

/**
 * The wasm address of an aligned atomic operand (LR/SC/AMO), translated for writing (AMOs and SC need
 * write permission: a fault is a store/AMO fault). Returns 0 after a fault. AMOs on MMIO are not
 * supported by our devices: they raise an access fault, as PMAs may declare (§3.6.3.1).
 */
export function atomicHost(va: u64, forWrite: bool, size: u64): usize {
  const h = tlbHost(forWrite ? TLB_WRITE : TLB_READ, dataKey, va);
  if (h != 0) return h;
  const pa = translate(va, forWrite ? ACCESS_WRITE : ACCESS_READ, dataPriv, size);
  if (trapped) return 0;
  if (!isRam(pa)) {
    fault(forWrite ? CAUSE_STORE_ACCESS : CAUSE_LOAD_ACCESS, va);
    return 0;
  }
  if (translationCacheable) fillTlb(forWrite ? TLB_WRITE : TLB_READ, dataKey, va, pa);
  return ramHost(pa);
}

/**
 * After an AMO or a successful SC wrote `size` bytes at wasm address `h` (from atomicHost): signal
 * EV_TOHOST when they include the tohost word. Plain stores meet it in writeSlow (its page is never in
 * the write TLB); atomics write through the address atomicHost returned, so they are checked here.
 */
@inline export function atomicStored(h: usize, size: u64): void {
  const tohost = csrField(TOHOST_ADDR);
  if (tohost != 0 && isRam(tohost)) {
    const word = ramHost(tohost);
    if (h < word + 8 && h + <usize>size > word) signal(EV_TOHOST);
  }
}

// ---- Instruction fetch --------------------------------------------------------------------------------

/** Fetch a 16-bit parcel at `va`; on a fault `trapped` is set with tval = va. */
export function fetch16(va: u64): u32 {
  const h = tlbHost(TLB_FETCH, fetchKey, va);
  if (h != 0) return <u32>load<u16>(h);
  const priv = getPriv();
  const pa = translate(va, ACCESS_FETCH, priv, 2);
  if (trapped) return 0;
  if (isRam(pa)) {
    if (translationCacheable) fillTlb(TLB_FETCH, fetchKey, va, pa);
    return <u32>load<u16>(ramHost(pa));
  }
  // Code outside RAM (the boot ROM) is fetched through the bus, slowly; it runs a handful of times. A
  // device's registers are not memory that holds code: the bus refuses the fetch (an access fault).
  store<u64>(hart + BUS_ERROR, 0);
  const v = <u32>mmioFetch(pa, 2);
  if (load<u64>(hart + BUS_ERROR) != 0) {
    fault(CAUSE_FETCH_ACCESS, va);
    return 0;
  }
  return v;
}

/** The host address of the fetch page containing `va` when it is cached, else 0 (then use fetch16). */
@inline export function fetchPageHost(va: u64): usize {
  return tlbHost(TLB_FETCH, fetchKey, va);
}
