/**
 * CSR number → name, for the disassembler, traces and error messages (the CSR file's own table of
 * access checks and handlers lives with the core; this is only the names).
 *
 * Sources: unprivileged spec 20191213 (F/D fcsr, Zicntr counters), the V 1.0 spec (vector CSRs),
 * privileged spec 1.12 Tables 2.2–2.6 (U/S/H/M and debug CSRs), and the ratified extensions whose CSRs a
 * Linux guest may probe: Sstc (stimecmp), Sscofpmf (scountovf, mhpmevent*h), Smstateen, Smaia/Ssaia
 * (AIA), Zkr (seed), Debug 1.0 (tinfo, tcontrol, mscontext). The `…h` names are the RV32 upper halves;
 * on our RV64 hart they do not exist, but a disassembly should still call them by name.
 */

const table = new Map<number, string>();
const name = (csr: number, csrName: string): void => {
  table.set(csr, csrName);
};
/** first..last named prefix+index, e.g. hpmcounter3..hpmcounter31. */
const range = (base: number, firstIndex: number, lastIndex: number, prefix: string, suffix = ''): void => {
  for (let i = firstIndex; i <= lastIndex; i++) name(base + i, `${prefix}${i}${suffix}`);
};

// ---- unprivileged ----
name(0x001, 'fflags');
name(0x002, 'frm');
name(0x003, 'fcsr');
name(0x008, 'vstart');
name(0x009, 'vxsat');
name(0x00a, 'vxrm');
name(0x00f, 'vcsr');
name(0x015, 'seed');
name(0xc00, 'cycle');
name(0xc01, 'time');
name(0xc02, 'instret');
range(0xc00, 3, 31, 'hpmcounter');
name(0xc20, 'vl');
name(0xc21, 'vtype');
name(0xc22, 'vlenb');
name(0xc80, 'cycleh');
name(0xc81, 'timeh');
name(0xc82, 'instreth');
range(0xc80, 3, 31, 'hpmcounter', 'h');

// ---- supervisor ----
name(0x100, 'sstatus');
name(0x104, 'sie');
name(0x105, 'stvec');
name(0x106, 'scounteren');
name(0x10a, 'senvcfg');
range(0x10c, 0, 3, 'sstateen');
name(0x140, 'sscratch');
name(0x141, 'sepc');
name(0x142, 'scause');
name(0x143, 'stval');
name(0x144, 'sip');
name(0x14d, 'stimecmp');
name(0x15d, 'stimecmph');
name(0x180, 'satp');
name(0x5a8, 'scontext');
name(0xda0, 'scountovf');
// AIA (Ssaia)
name(0x114, 'sieh');
name(0x150, 'siselect');
name(0x151, 'sireg');
name(0x154, 'siph');
name(0x15c, 'stopei');
name(0xdb0, 'stopi');

// ---- hypervisor and virtual supervisor ----
name(0x600, 'hstatus');
name(0x602, 'hedeleg');
name(0x603, 'hideleg');
name(0x604, 'hie');
name(0x605, 'htimedelta');
name(0x606, 'hcounteren');
name(0x607, 'hgeie');
name(0x60a, 'henvcfg');
range(0x60c, 0, 3, 'hstateen');
name(0x615, 'htimedeltah');
name(0x61a, 'henvcfgh');
range(0x61c, 0, 3, 'hstateen', 'h');
name(0x643, 'htval');
name(0x644, 'hip');
name(0x645, 'hvip');
name(0x64a, 'htinst');
name(0x680, 'hgatp');
name(0x6a8, 'hcontext');
name(0xe12, 'hgeip');
name(0x200, 'vsstatus');
name(0x204, 'vsie');
name(0x205, 'vstvec');
name(0x240, 'vsscratch');
name(0x241, 'vsepc');
name(0x242, 'vscause');
name(0x243, 'vstval');
name(0x244, 'vsip');
name(0x24d, 'vstimecmp');
name(0x25d, 'vstimecmph');
name(0x280, 'vsatp');
// AIA (Smaia with H)
name(0x608, 'hvien');
name(0x609, 'hvictl');
name(0x613, 'hidelegh');
name(0x618, 'hvienh');
name(0x646, 'hviprio1');
name(0x647, 'hviprio2');
name(0x655, 'hviph');
name(0x656, 'hviprio1h');
name(0x657, 'hviprio2h');
name(0x214, 'vsieh');
name(0x250, 'vsiselect');
name(0x251, 'vsireg');
name(0x254, 'vsiph');
name(0x25c, 'vstopei');
name(0xeb0, 'vstopi');

// ---- machine ----
name(0xf11, 'mvendorid');
name(0xf12, 'marchid');
name(0xf13, 'mimpid');
name(0xf14, 'mhartid');
name(0xf15, 'mconfigptr');
name(0x300, 'mstatus');
name(0x301, 'misa');
name(0x302, 'medeleg');
name(0x303, 'mideleg');
name(0x304, 'mie');
name(0x305, 'mtvec');
name(0x306, 'mcounteren');
name(0x30a, 'menvcfg');
range(0x30c, 0, 3, 'mstateen');
name(0x310, 'mstatush');
name(0x31a, 'menvcfgh');
range(0x31c, 0, 3, 'mstateen', 'h');
name(0x320, 'mcountinhibit');
range(0x320, 3, 31, 'mhpmevent');
range(0x720, 3, 31, 'mhpmevent', 'h');
name(0x340, 'mscratch');
name(0x341, 'mepc');
name(0x342, 'mcause');
name(0x343, 'mtval');
name(0x344, 'mip');
name(0x34a, 'mtinst');
name(0x34b, 'mtval2');
range(0x3a0, 0, 15, 'pmpcfg');
range(0x3b0, 0, 63, 'pmpaddr');
name(0x747, 'mseccfg');
name(0x757, 'mseccfgh');
name(0xb00, 'mcycle');
name(0xb02, 'minstret');
range(0xb00, 3, 31, 'mhpmcounter');
name(0xb80, 'mcycleh');
name(0xb82, 'minstreth');
range(0xb80, 3, 31, 'mhpmcounter', 'h');
// AIA (Smaia)
name(0x308, 'mvien');
name(0x309, 'mvip');
name(0x313, 'midelegh');
name(0x314, 'mieh');
name(0x318, 'mvienh');
name(0x319, 'mviph');
name(0x350, 'miselect');
name(0x351, 'mireg');
name(0x354, 'miph');
name(0x35c, 'mtopei');
name(0xfb0, 'mtopi');

// ---- debug and trigger (Debug spec 1.0) ----
name(0x7a0, 'tselect');
name(0x7a1, 'tdata1');
name(0x7a2, 'tdata2');
name(0x7a3, 'tdata3');
name(0x7a4, 'tinfo');
name(0x7a5, 'tcontrol');
name(0x7a8, 'mcontext');
name(0x7aa, 'mscontext');
name(0x7b0, 'dcsr');
name(0x7b1, 'dpc');
name(0x7b2, 'dscratch0');
name(0x7b3, 'dscratch1');

/** Every named CSR, by number. */
export const CSR_NAMES: ReadonlyMap<number, string> = table;

/** The CSR's name, or undefined for a number no spec above assigns. */
export function csrName(csr: number): string | undefined {
  return table.get(csr);
}

/** The CSR's name, or its number in hex (GNU objdump's form, e.g. `0x7c0`) when it has none. */
export function csrLabel(csr: number): string {
  return table.get(csr) ?? `0x${csr.toString(16)}`;
}
