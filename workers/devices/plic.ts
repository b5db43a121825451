/**
 * The platform-level interrupt controller, following the RISC-V PLIC Specification 1.0.0 with QEMU
 * virt's parameters: the board's number of sources (source 0 does not exist), 7 priority levels, and two
 * contexts per hart in QEMU's order — context 2·hart is the hart's M mode (drives MEIP), 2·hart + 1
 * its S mode (drives SEIP).
 *
 *   +0x00_0000 + 4·source                   priority (WARL, 3 bits)
 *   +0x00_1000 + 4·word                     pending bits, read-only
 *   +0x00_2000 + 0x80·context + 4·word      enable bits
 *   +0x20_0000 + 0x1000·context             priority threshold
 *   +0x20_0004 + 0x1000·context             claim (read) / complete (write)
 *
 * All sources are level-triggered, each behind a gateway (spec, "Interrupt Gateways"): "the gateway
 * will convert the first assertion of the interrupt level into an interrupt request, but thereafter
 * the gateway will not forward an additional request until it receives an interrupt completion
 * message. On receiving an interrupt completion message, if the interrupt is level-triggered and the
 * interrupt is still asserted, a new interrupt request will be forwarded". And, where QEMU differs
 * (it drops pending when the level falls): "The gateway does not have the facility to retract an
 * interrupt request once forwarded to the PLIC core" — so a request stays pending after its level
 * falls, and the driver's handler sees a spurious interrupt, as on real hardware.
 */
import type { AccessSize, IrqLine, MmioDevice } from '../bus/device.ts';
import { GuestErrorLog, hex } from '../bus/guest-log.ts';

export const PLIC_PRIORITY_BASE = 0x00_0000;
export const PLIC_PENDING_BASE = 0x00_1000;
export const PLIC_ENABLE_BASE = 0x00_2000;
export const PLIC_ENABLE_STRIDE = 0x80;
export const PLIC_CONTEXT_BASE = 0x20_0000;
export const PLIC_CONTEXT_STRIDE = 0x1000;
export const PLIC_CONTEXT_THRESHOLD = 0x0;
export const PLIC_CONTEXT_CLAIM = 0x4;
/** QEMU virt's VIRT_PLIC_NUM_PRIORITIES; priority and threshold registers are WARL over 0..7. */
export const PLIC_MAX_PRIORITY = 7;

export interface PlicHartLines {
  /** Machine external interrupt (mip.MEIP), driven by context 2·hart. */
  readonly meip: IrqLine;
  /** Supervisor external interrupt (mip.SEIP), driven by context 2·hart + 1. */
  readonly seip: IrqLine;
}

/** The board's PLIC parameters (QEMU hands its PLIC the same as properties: num-sources, aperture-size). */
export interface PlicGeometry {
  /** Interrupt sources, counting the nonexistent source 0 (virt: PLIC_NUM_SOURCES). */
  readonly sources: number;
  /** Size of the PLIC's MMIO region, which every context's registers must fit. */
  readonly regionSize: number;
}

export interface PlicState {
  v: 1;
  /** Indexed by source; entry 0 is always 0. */
  priority: number[];
  /** Sources whose pending bit is set. */
  pending: number[];
  /** Sources whose gateway forwarded a request and waits for its completion. */
  awaitingCompletion: number[];
  /** Sources whose input level is high. */
  level: number[];
  /** Per context, the enabled sources. */
  enable: number[][];
  /** Per context, the priority threshold. */
  threshold: number[];
}

export class Plic implements MmioDevice {
  readonly accessSizes: readonly AccessSize[] = [4];
  readonly #log: GuestErrorLog;
  /** Context c drives #outputs[c]. */
  readonly #outputs: IrqLine[];
  readonly #outputLevel: boolean[];
  readonly #contexts: number;
  readonly #sources: number;
  /** 32-bit words of pending / enable bits covering the sources. */
  readonly #words: number;
  readonly #priority: Uint8Array;
  readonly #pending: Uint32Array;
  readonly #awaitingCompletion: Uint32Array;
  readonly #level: Uint32Array;
  /** Context c's enable words at [c·#words, (c + 1)·#words). */
  readonly #enable: Uint32Array;
  readonly #threshold: Uint8Array;
  readonly #lines = new Map<number, IrqLine>();

  constructor(harts: readonly PlicHartLines[], geometry: PlicGeometry, log: GuestErrorLog = new GuestErrorLog()) {
    if (harts.length === 0) throw new RangeError('plic: no harts');
    this.#log = log;
    this.#sources = geometry.sources;
    this.#words = Math.ceil(geometry.sources / 32);
    this.#priority = new Uint8Array(this.#sources);
    this.#pending = new Uint32Array(this.#words);
    this.#awaitingCompletion = new Uint32Array(this.#words);
    this.#level = new Uint32Array(this.#words);
    this.#outputs = harts.flatMap((h) => [h.meip, h.seip]);
    this.#contexts = this.#outputs.length;
    if (PLIC_CONTEXT_BASE + this.#contexts * PLIC_CONTEXT_STRIDE > geometry.regionSize) {
      throw new RangeError(`plic: ${this.#contexts} contexts do not fit the PLIC's region`);
    }
    this.#outputLevel = this.#outputs.map(() => false);
    this.#enable = new Uint32Array(this.#contexts * this.#words);
    this.#threshold = new Uint8Array(this.#contexts);
    this.#driveOutputs(true);
  }

  /** The wire of interrupt source `source` (1 ≤ source < the number of sources), to hand to a device. */
  irqLine(source: number): IrqLine {
    if (!Number.isInteger(source) || source < 1 || source >= this.#sources) {
      throw new RangeError(`plic: no interrupt source ${source}`);
    }
    let line = this.#lines.get(source);
    if (line === undefined) {
      line = { set: (level: boolean) => this.#setLevel(source, level) };
      this.#lines.set(source, line);
    }
    return line;
  }

  read(offset: number, _size: AccessSize): bigint {
    if (offset < PLIC_PENDING_BASE) {
      const source = offset >>> 2;
      if (source >= this.#sources) return this.#reserved('read', offset);
      return BigInt(this.#priority[source]!);
    }
    if (offset < PLIC_ENABLE_BASE) {
      const word = (offset - PLIC_PENDING_BASE) >>> 2;
      if (word >= this.#words) return this.#reserved('read', offset);
      return BigInt(this.#pending[word]!);
    }
    if (offset < PLIC_CONTEXT_BASE) {
      const at = this.#enableIndex(offset);
      if (at === undefined) return this.#reserved('read', offset);
      return BigInt(this.#enable[at]!);
    }
    const context = (offset - PLIC_CONTEXT_BASE) >>> 12;
    const register = offset & (PLIC_CONTEXT_STRIDE - 1);
    if (context >= this.#contexts) return this.#reserved('read', offset);
    if (register === PLIC_CONTEXT_THRESHOLD) return BigInt(this.#threshold[context]!);
    if (register === PLIC_CONTEXT_CLAIM) return BigInt(this.#claim(context));
    return this.#reserved('read', offset);
  }

  write(offset: number, value: bigint, _size: AccessSize): void {
    const v = Number(value & 0xffff_ffffn);
    if (offset < PLIC_PENDING_BASE) {
      const source = offset >>> 2;
      if (source >= this.#sources) return void this.#reserved('write', offset);
      // Source 0 does not exist: its priority is hardwired to 0.
      if (source === 0) return;
      this.#priority[source] = v & PLIC_MAX_PRIORITY;
      this.#driveOutputs(false);
      return;
    }
    if (offset < PLIC_ENABLE_BASE) {
      // Spec §4: the pending bits are read-only; software clears one only by claiming it.
      this.#log.once(`pending write`, `PLIC: write to read-only pending bits at ${hex(offset)}`);
      return;
    }
    if (offset < PLIC_CONTEXT_BASE) {
      const at = this.#enableIndex(offset);
      if (at === undefined) return void this.#reserved('write', offset);
      // Bit 0 of word 0 is source 0, which does not exist.
      this.#enable[at] = at % this.#words === 0 ? v & ~1 : v;
      this.#driveOutputs(false);
      return;
    }
    const context = (offset - PLIC_CONTEXT_BASE) >>> 12;
    const register = offset & (PLIC_CONTEXT_STRIDE - 1);
    if (context >= this.#contexts) return void this.#reserved('write', offset);
    if (register === PLIC_CONTEXT_THRESHOLD) {
      this.#threshold[context] = v & PLIC_MAX_PRIORITY;
      this.#driveOutputs(false);
    } else if (register === PLIC_CONTEXT_CLAIM) {
      this.#complete(context, v);
    } else {
      this.#reserved('write', offset);
    }
  }

  saveState(): PlicState {
    const enable: number[][] = [];
    for (let c = 0; c < this.#contexts; c++)
      enable.push(sourcesOf(this.#enable.subarray(c * this.#words, (c + 1) * this.#words)));
    return {
      v: 1,
      priority: Array.from(this.#priority),
      pending: sourcesOf(this.#pending),
      awaitingCompletion: sourcesOf(this.#awaitingCompletion),
      level: sourcesOf(this.#level),
      enable,
      threshold: Array.from(this.#threshold),
    };
  }

  /** Restores every register and the gateways, then re-drives every context's output line. */
  loadState(state: PlicState): void {
    if (state.v !== 1) throw new Error(`plic: unknown state version ${String(state.v)}`);
    if (state.enable.length !== this.#contexts || state.threshold.length !== this.#contexts) {
      throw new Error(`plic: state has ${state.enable.length} contexts, this machine has ${this.#contexts}`);
    }
    if (state.priority.length > this.#sources) throw new Error('plic: state has more sources than this PLIC');
    this.#priority.fill(0);
    state.priority.forEach((p, source) => {
      if (source !== 0) this.#priority[source] = p & PLIC_MAX_PRIORITY;
    });
    setSources(this.#pending, state.pending, this.#sources);
    setSources(this.#awaitingCompletion, state.awaitingCompletion, this.#sources);
    setSources(this.#level, state.level, this.#sources);
    for (let c = 0; c < this.#contexts; c++)
      setSources(this.#enable.subarray(c * this.#words, (c + 1) * this.#words), state.enable[c]!, this.#sources);
    state.threshold.forEach((t, c) => (this.#threshold[c] = t & PLIC_MAX_PRIORITY));
    this.#driveOutputs(true);
  }

  #setLevel(source: number, level: boolean): void {
    const word = source >>> 5;
    const bit = 1 << (source & 31);
    const was = (this.#level[word]! & bit) !== 0;
    if (level === was) return;
    if (level) {
      this.#level[word]! |= bit;
      if ((this.#awaitingCompletion[word]! & bit) === 0) this.#forward(word, bit);
    } else {
      // A falling level does not retract a forwarded request (see the header).
      this.#level[word]! &= ~bit;
    }
  }

  #forward(word: number, bit: number): void {
    this.#awaitingCompletion[word]! |= bit;
    this.#pending[word]! |= bit;
    this.#driveOutputs(false);
  }

  /**
   * Interrupt Claim Process: the claim "returns the ID of the highest priority pending interrupt or
   * zero if there is no pending interrupt", among the sources enabled for the context; ties go to
   * the lowest ID. "The claim operation is not affected by the setting of the priority threshold
   * register" (QEMU, by contrast, masks sources at or below the threshold here too); a priority of
   * 0 still means "never interrupt", so such a source is never claimed.
   */
  #claim(context: number): number {
    const source = this.#best(context, 0);
    if (source !== 0) {
      this.#pending[source >>> 5]! &= ~(1 << (source & 31));
      this.#driveOutputs(false);
    }
    return source;
  }

  /**
   * Interrupt Completion: "If the completion ID does not match an interrupt source that is currently enabled for
   * the target, the completion is silently ignored." (Linux relies on this: it enables a masked
   * source around its completion write.)
   */
  #complete(context: number, source: number): void {
    if (source === 0 || source >= this.#sources) {
      this.#log.once(`complete ${source}`, `PLIC: completion of nonexistent source ${source}`);
      return;
    }
    const word = source >>> 5;
    const bit = 1 << (source & 31);
    if ((this.#enable[context * this.#words + word]! & bit) === 0) return;
    this.#awaitingCompletion[word]! &= ~bit;
    if ((this.#level[word]! & bit) !== 0) this.#forward(word, bit);
  }

  /** The pending source enabled for `context` with the highest priority above `floor`, lowest ID first. */
  #best(context: number, floor: number): number {
    let best = 0;
    let bestPriority = floor;
    for (let word = 0; word < this.#words; word++) {
      let bits = this.#pending[word]! & this.#enable[context * this.#words + word]!;
      while (bits !== 0) {
        const low = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const source = word * 32 + low;
        const priority = this.#priority[source]!;
        if (priority > bestPriority) {
          best = source;
          bestPriority = priority;
        }
      }
    }
    return best;
  }

  /**
   * Interrupt Notification: a context's EIP is set when some enabled pending source has a priority
   * above the context's threshold. `force` drives unchanged levels too.
   */
  #driveOutputs(force: boolean): void {
    for (let context = 0; context < this.#contexts; context++) {
      const level = this.#best(context, this.#threshold[context]!) !== 0;
      if (!force && level === this.#outputLevel[context]) continue;
      this.#outputLevel[context] = level;
      this.#outputs[context]!.set(level);
    }
  }

  #enableIndex(offset: number): number | undefined {
    const relative = offset - PLIC_ENABLE_BASE;
    const context = Math.floor(relative / PLIC_ENABLE_STRIDE);
    const word = (relative % PLIC_ENABLE_STRIDE) >>> 2;
    if (context >= this.#contexts || word >= this.#words) return undefined;
    return context * this.#words + word;
  }

  #reserved(kind: 'read' | 'write', offset: number): bigint {
    this.#log.once(`${kind} ${hex(offset)}`, `PLIC: ${kind} of reserved or absent register ${hex(offset)}`);
    return 0n;
  }
}

/** The source numbers whose bits are set in `words`. */
function sourcesOf(words: Uint32Array): number[] {
  const sources: number[] = [];
  for (let word = 0; word < words.length; word++) {
    for (let bit = 0; bit < 32; bit++) if ((words[word]! >>> bit) & 1) sources.push(word * 32 + bit);
  }
  return sources;
}

function setSources(words: Uint32Array, sources: readonly number[], count: number): void {
  words.fill(0);
  for (const source of sources) {
    if (!Number.isInteger(source) || source < 1 || source >= count) {
      throw new Error(`plic: state names nonexistent source ${source}`);
    }
    words[source >>> 5]! |= 1 << (source & 31);
  }
}
