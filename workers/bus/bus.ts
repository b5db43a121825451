/**
 * The MMIO bus: routes the CPU's slow-path physical accesses (everything that is not DRAM) to the
 * device that owns the address. Regions are half-open [base, base + size), fixed at machine build
 * time; an overlap is a bug in our wiring, so `map` throws. A bad guest access (unmapped address, a
 * width the device did not declare, a misaligned or region-straddling access) is logged once (STYLE.md
 * habit 4). Through `load`, `store` and `fetch`, what the CPU calls, it is refused and the CPU takes an
 * access fault, as QEMU's `virt` does (its memory core refuses an access outside a device's `valid`
 * sizes or unaligned, and the RISC-V target turns that into an access fault); `read` and `write`, for
 * the host's own use, read 0 and ignore it. Instructions come only from executable regions (the boot
 * ROM): a fetch from any other device is an instruction access fault, as in QEMU.
 *
 * Lookup is a binary search over the regions sorted by base, behind a one-entry cache: a guest
 * usually hammers one device at a time (the UART while printing, the PLIC in its interrupt handler).
 */
import type { AccessSize, MmioDevice } from './device.ts';
import { GuestErrorLog, hex } from './guest-log.ts';

/** MMIO lives below 4 GiB (the virt map's devices and the DRAM base all do). */
const ADDRESS_LIMIT = 2 ** 32;

export interface BusRegion {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /** base + size: the first address past the region. */
  readonly end: number;
  readonly device: MmioDevice;
  /** Bit `size` set for each declared access width. */
  readonly widthMask: number;
  /** The device's narrower ranges, offsets relative to the region, each with its width mask. */
  readonly rangeMasks: readonly { readonly start: number; readonly end: number; readonly widthMask: number }[];
}

function widthMaskOf(sizes: readonly AccessSize[]): number {
  let mask = 0;
  for (const s of sizes) mask |= 1 << s;
  return mask;
}

export class Bus {
  readonly #log: GuestErrorLog;
  /** Sorted by base; never overlapping. */
  readonly #regions: BusRegion[] = [];
  #lastHit: BusRegion | undefined;

  constructor(log: GuestErrorLog = new GuestErrorLog()) {
    this.#log = log;
  }

  /** The mapped regions, sorted by base. */
  get regions(): readonly BusRegion[] {
    return this.#regions;
  }

  /** Maps `device` at [base, base + size). Throws on a malformed range, a reused name or an overlap. */
  map(name: string, base: number, size: number, device: MmioDevice): BusRegion {
    if (!Number.isInteger(base) || !Number.isInteger(size) || base < 0 || size <= 0 || base + size > ADDRESS_LIMIT) {
      throw new RangeError(`bus: region ${name} [${hex(base)}, +${hex(size)}) is not a valid range below 4 GiB`);
    }
    if (device.accessSizes.length === 0) throw new Error(`bus: device ${name} declares no access size`);
    if (this.#regions.some((r) => r.name === name)) throw new Error(`bus: region name ${name} is already mapped`);
    const end = base + size;
    for (const other of this.#regions) {
      if (base < other.end && other.base < end) {
        throw new Error(
          `bus: region ${name} [${hex(base)}, ${hex(end)}) overlaps ${other.name} [${hex(other.base)}, ${hex(other.end)})`,
        );
      }
    }
    const widthMask = widthMaskOf(device.accessSizes);
    const rangeMasks = (device.accessRanges ?? []).map((r) => ({
      start: r.start,
      end: r.end,
      widthMask: widthMaskOf(r.sizes),
    }));
    const region: BusRegion = { name, base, size, end, device, widthMask, rangeMasks };
    this.#regions.push(region);
    this.#regions.sort((a, b) => a.base - b.base);
    return region;
  }

  /** The region containing `addr`, or undefined. */
  findRegion(addr: number): BusRegion | undefined {
    const last = this.#lastHit;
    if (last !== undefined && addr >= last.base && addr < last.end) return last;
    const regions = this.#regions;
    let lo = 0;
    let hi = regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = regions[mid]!;
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.end) lo = mid + 1;
      else {
        this.#lastHit = r;
        return r;
      }
    }
    return undefined;
  }

  /** Reads `size` bytes at physical `addr`; the result is zero-extended. Bad guest accesses read 0. */
  read(addr: number, size: AccessSize): bigint {
    return this.load(addr, size) ?? 0n;
  }

  /** A CPU load: the value, or undefined when the access is refused (the CPU raises a load access fault). */
  load(addr: number, size: AccessSize): bigint | undefined {
    const region = this.#check(addr, size, 'read');
    if (region === undefined) return undefined;
    const { device } = region;
    const offset = addr - region.base;
    const piece = device.splitTo;
    if (piece === undefined || size <= piece) return device.read(offset, size);
    let value = 0n;
    for (let at = 0; at < size; at += piece) value |= device.read(offset + at, piece) << BigInt(at * 8);
    return value;
  }

  /** A CPU store: false when the access is refused (the CPU raises a store/AMO access fault). */
  store(addr: number, value: bigint, size: AccessSize): boolean {
    const region = this.#check(addr, size, 'write');
    if (region === undefined) return false;
    const { device } = region;
    const offset = addr - region.base;
    const piece = device.splitTo;
    if (piece === undefined || size <= piece) {
      device.write(offset, BigInt.asUintN(size * 8, value), size);
      return true;
    }
    for (let at = 0; at < size; at += piece)
      device.write(offset + at, BigInt.asUintN(piece * 8, value >> BigInt(at * 8)), piece);
    return true;
  }

  /** A CPU instruction fetch: the parcel, or undefined outside executable regions (instruction access fault). */
  fetch(addr: number, size: AccessSize): bigint | undefined {
    const region = this.findRegion(addr);
    if (region !== undefined && region.device.executable !== true) {
      this.#log.once(
        `${region.name} fetch`,
        `instruction fetch at ${hex(addr)} from ${region.name}, which holds no code`,
      );
      return undefined;
    }
    return this.load(addr, size);
  }

  /**
   * Writes the low `size` bytes of `value` at physical `addr`. The device receives the value
   * zero-extended from the access width, so a sign-extended register from `sw` arrives as 32 bits.
   */
  write(addr: number, value: bigint, size: AccessSize): void {
    this.store(addr, value, size);
  }

  /** The region an access may go to, or undefined after logging why it may not. */
  #check(addr: number, size: AccessSize, kind: 'read' | 'write'): BusRegion | undefined {
    const region = this.findRegion(addr);
    if (region === undefined) {
      this.#log.once(`unmapped ${kind} ${hex(addr)}`, `${kind} of ${size} bytes at unmapped address ${hex(addr)}`);
      return undefined;
    }
    const offset = addr - region.base;
    const range = region.rangeMasks.find((r) => offset >= r.start && offset < r.end);
    if (((range ?? region).widthMask & (1 << size)) === 0) {
      this.#log.once(
        `${region.name} width ${kind}`,
        `${size}-byte ${kind} at ${hex(addr)} in ${region.name}, which does not accept that width there`,
      );
      return undefined;
    }
    // Devices see naturally aligned accesses only (QEMU refuses unaligned MMIO to devices that do
    // not opt in), and never one that runs past their region.
    if (addr % size !== 0 || addr + size > region.end) {
      this.#log.once(
        `${region.name} misaligned ${kind}`,
        `misaligned or straddling ${size}-byte ${kind} at ${hex(addr)} in ${region.name}`,
      );
      return undefined;
    }
    return region;
  }
}
