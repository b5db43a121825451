/**
 * The one layout of the shared WebAssembly.Memory (STYLE.md habit 7). This file is compiled twice:
 * by asc into the AssemblyScript core and by tsc into the TypeScript host, so it may hold nothing but
 * integer constants.
 *
 *   0x0000_0000  AssemblyScript's own static data (the core allocates nothing at run time)
 *   RVC_TABLE    the expansion of every 16-bit parcel (shared by all harts; built by the first attach)
 *   CSR_TABLE    the CSR file's descriptors (shared by all harts; rewritten with the same bytes by each
 *                instance of the core)
 *   HART_BASE    one flat state block per hart (registers, CSRs, TLBs)
 *   JIT_CACHE    per hart: the block cache of the JIT (workers/cpu/jit.ts); derived state, never saved
 *   SHARED_BLOCK words the harts and the device host share across threads (docs/harts.md); never saved
 *   RAM_OFFSET   guest DRAM; guest physical DRAM_BASE maps here
 */

export const RVC_TABLE = 0x0004_0000; // 65536 × u32: the 32-bit form of each parcel, 0 = illegal
export const RVC_TABLE_READY = 0x0003_fff8; // 1 once RVC_TABLE is filled
export const CSR_TABLE = 0x0008_0000; // assembly/csr.ts: 4096 descriptor indices, then the descriptors
export const HART_BASE = 0x0010_0000;
export const HART_STRIDE = 0x0002_0000;
export const MAX_HARTS = 8;
export const JIT_CACHE = 0x0020_0000;
export const JIT_CACHE_STRIDE = 0x0010_0000; // one hart's cache: JIT_ENTRIES entries
export const SHARED_BLOCK = 0x00f0_0000;
export const RAM_OFFSET = 0x0100_0000;
export const DRAM_BASE = 0x8000_0000;

// Offsets inside a hart block. Every field is 8 bytes wide.
export const X_REGS = 0x000; // x0..x31
export const F_REGS = 0x100; // f0..f31, NaN-boxed
export const PC = 0x200;
export const PRIV = 0x208; // 0 = U, 1 = S, 3 = M
export const MSTATUS = 0x210;
export const MISA = 0x218;
export const MEDELEG = 0x220;
export const MIDELEG = 0x228;
export const MIE = 0x230;
export const MIP = 0x238; // software-visible bits; MTIP/MSIP/MEIP/SEIP lines are ORed in by devices
export const MTVEC = 0x240;
export const MCOUNTEREN = 0x248;
export const MSCRATCH = 0x250;
export const MEPC = 0x258;
export const MCAUSE = 0x260;
export const MTVAL = 0x268;
export const STVEC = 0x270;
export const SCOUNTEREN = 0x278;
export const SSCRATCH = 0x280;
export const SEPC = 0x288;
export const SCAUSE = 0x290;
export const STVAL = 0x298;
export const SATP = 0x2a0;
export const FCSR = 0x2a8; // frm << 5 | fflags
export const INSTRET = 0x2b0; // minstret
export const CYCLE_DELTA = 0x2b8; // mcycle − minstret: one instruction per cycle, but each is writable
export const MENVCFG = 0x2c0;
export const SENVCFG = 0x2c8;
export const MHARTID = 0x2d0;
export const MTIME = 0x2d8; // guest time in 10 MHz ticks, kept current by the host between slices
export const RESERVATION = 0x2e0; // LR/SC reserved address, or -1 when none
export const SEIP_LINE = 0x2e8; // the PLIC's supervisor external interrupt line for this hart (0/1)
export const MSECCFG = 0x2f0;
export const WFI_STATE = 0x2f8; // 1 while the hart sleeps in WFI
export const PMPCFG = 0x300; // pmpcfg0 and pmpcfg2 (RV64 has only the even ones): 2 × 8 bytes
export const PMPADDR = 0x310; // pmpaddr0..15
export const STOP_REASON = 0x390; // why run() returned, see STOP_* below
export const TRAP_TVAL = 0x398; // scratch for the single trap exit
export const TRAP_CAUSE = 0x3a0;
export const TOHOST_ADDR = 0x3a8; // physical address of a bare-metal program's tohost word, or 0
export const BUS_ERROR = 0x3b0; // set to 1 by the host when an MMIO access hit no device (access fault)
export const FETCH_RAW = 0x3b8; // the raw bits of the instruction that trapped (for tval and traces)
export const RESERVED_VALUE = 0x3c0; // what LR loaded at RESERVATION: SC stores only if memory still holds it

// Software TLBs: read, write and fetch, each TLB_ENTRIES entries of 16 bytes: the tag (virtual page
// number << 4 | the access key; all ones = empty), then the addend that turns a virtual address into
// an offset in the wasm memory. Two-way set-associative: the page `vpn` is in entry `vpn & 0xff` of
// its table (the first way) or in the same entry of the table TLB_WAY bytes on (the second way).
export const TLB_ENTRIES = 256;
export const TLB_READ = 0x1000;
export const TLB_WRITE = 0x2000;
export const TLB_FETCH = 0x3000;
export const TLB_WAY = 0x3000; // second ways: read at 0x4000, write at 0x5000, fetch at 0x6000

// Reasons run() stops before its budget is spent.
export const STOP_BUDGET = 0;
export const STOP_WFI = 1;
export const STOP_TOHOST = 2;

// The JIT's block cache: JIT_ENTRIES direct-mapped entries of JIT_ENTRY_SIZE bytes, indexed by
// ((pc >> 1) ^ (pc >> 17)) mod JIT_ENTRIES. A translation is valid only for the code bytes at the wasm address it was
// made from, so an entry matches when both the guest pc and that address match.
export const JIT_ENTRY_SIZE = 32;
export const JIT_ENTRIES = 0x8000;
export const JIT_PC = 0; // u64: guest virtual pc of the block's first instruction
export const JIT_HOST = 8; // u32: wasm address of that instruction's bytes
export const JIT_FN = 12; // u32: function table index of the translation, 0 = none yet
export const JIT_LENGTH = 16; // u32: instructions one pass through the block retires at most
export const JIT_HITS = 20; // u32: times the interpreter reached this pc as a block head
export const JIT_EPOCH = 24; // u32: the FENCE.I epoch in which the translation was last known current

// The shared block (SHARED_BLOCK + these offsets): what crosses threads when a hart runs in another worker
// than the devices (workers/machine/{hart-runner,device-host,mmio-mailbox}.ts). Plain integers, read and
// written only with atomics.
export const CLOCK_EPOCH = 0x000; // the guest clock (workers/machine/clock.ts): seqlock i32, running i32, ticks i64, host ms f64
export const DEVICE_DOORBELL = 0x040; // i32 counter the device host sleeps on: an MMIO request or host input arrived
export const MACHINE_CONTROL = 0x044; // i32: CONTROL_* below, set by the device host, read by every hart runner
export const CONTROL_ACKS = 0x048; // i32: harts stopped for a reset or pause; the last one to stop acknowledges it
export const HART_WAKE = 0x080; // per hart an i32 counter, bumped with Atomics.notify when its interrupt lines change
export const MMIO_MAILBOX = 0x100; // per hart MMIO_MAILBOX_STRIDE bytes: one MMIO request and its answer
export const MMIO_MAILBOX_STRIDE = 0x40;
export const HART_BUSY_MS = 0x300; // per hart an i32: ms its thread spent running it (WFI sleeps excluded), the page's CPU figure
export const HART_SLICES = 0x320; // per hart an i32: bumped as its thread begins and as it ends a slice (odd inside one), the stuck-hart watch

export const CONTROL_RUN = 0;
export const CONTROL_HALT = 1; // powered off or tohost: harts stop for good
export const CONTROL_RESET = 2; // the guest asked for a reboot: harts stop at the end of their slice and ack
export const CONTROL_RESET_ACK = 3; // the hart stopped; the device host reloads the images and sets CONTROL_RUN
export const CONTROL_PAUSE = 4; // save requested: harts stop at the end of their slice and ack
export const CONTROL_PAUSED = 5; // the hart is parked between slices; the device host saves, then sets CONTROL_RUN
