/**
 * Where the boot images go in guest RAM, the way QEMU's `virt` board places them for
 * `-bios fw_dynamic.bin -kernel Image -initrd initrd` (QEMU hw/riscv/boot.c):
 *
 * - firmware: an ELF at its physical addresses with its ELF entry, anything else raw at the start
 *   of DRAM (riscv_load_firmware);
 * - kernel: an ELF at its physical addresses, anything else raw at the firmware's end rounded up
 *   to 2 MiB, which is DRAM + KERNEL_OFFSET for any firmware under 2 MiB
 *   (riscv_calc_kernel_start_addr);
 * - initrd: at the kernel's lowest address + min(RAM / 2, 512 MiB), so that a kernel which grows
 *   past its file (.bss, early allocations) does not run over it (riscv_load_initrd). QEMU 7.2,
 *   Debian bookworm's, still uses min(RAM / 2, 128 MiB) from the kernel entry; the 2024 patch "hw:
 *   riscv: Allow large kernels to boot by moving the initrd further way in RAM" raised the cap to
 *   512 MiB, and the later RISCVBootInfo rework measures from the kernel's lowest address. Up to
 *   256 MiB of RAM both rules give the same address;
 * - device tree: at the end of RAM minus its size, rounded down to 2 MiB (riscv_compute_fdt_addr;
 *   16 MiB before the 2022 fix for QEMU issue #992; on RV64 no longer capped at 3 GiB). OpenSBI
 *   edits the tree in place and grows it, so it must not end right at the end of RAM.
 *
 * Unlike QEMU, the plan refuses overlapping pieces and pieces outside RAM with an ImageError one
 * line long, instead of booting into a corrupted kernel.
 */

import { buildBootRom, type FwDynamicNextMode } from './boot-rom.ts';
import { parseElf, isElf, type ElfImage } from './elf.ts';
import { buildVirtDeviceTree } from './fdt.ts';
import { ImageError } from './image-error.ts';
import { KERNEL_OFFSET, MEMORY_MAP } from './memory-map.ts';

const MiB = 1024 * 1024;
/** QEMU aligns the kernel (after the firmware) and the device tree to 2 MiB on RV64. */
const ALIGN_2MIB = 2 * MiB;
/** The initrd goes at most this far above the kernel's start. */
const INITRD_MAX_OFFSET = 512 * MiB;
/** How far `planBoot` looks when it tells the user how much RAM would be enough. */
const LARGEST_RAM_SUGGESTION = 64 * 1024 * MiB;

// --- image kinds ---------------------------------------------------------------------------------

/** Offsets in the RISC-V Linux `Image` header (Linux Documentation/arch/riscv/boot-image-header.rst). */
const IMAGE_TEXT_OFFSET = 0x08;
const IMAGE_SIZE = 0x10;
const IMAGE_FLAGS = 0x18;
const IMAGE_VERSION = 0x20;
/** `magic`, "RISCV\0\0\0", deprecated since header version 0.2 but still written. */
const IMAGE_MAGIC = 0x30;
/** `magic2`, "RSC\x05", the magic a loader should check. */
const IMAGE_MAGIC2 = 0x38;
const IMAGE_HEADER_SIZE = 0x40;
const IMAGE_MAGIC_BYTES = [0x52, 0x49, 0x53, 0x43, 0x56, 0, 0, 0]; // "RISCV\0\0\0"
const IMAGE_MAGIC2_BYTES = [0x52, 0x53, 0x43, 0x05]; // "RSC\x05"

export type ImageKind = 'elf' | 'linux-image' | 'gzip' | 'raw';

export interface LinuxImageHeader {
  /** Where the kernel expects to sit above a 2 MiB-aligned base (0x200000 on RV64). */
  readonly textOffset: bigint;
  /** Bytes the kernel occupies once running, .bss included: its real footprint. */
  readonly imageSize: bigint;
  readonly flags: bigint;
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** code0 is "MZ": the image is also a PE/COFF EFI application. */
  readonly efiStub: boolean;
}

function bytesAt(bytes: Uint8Array, at: number, expected: readonly number[]): boolean {
  return expected.every((byte, i) => bytes[at + i] === byte);
}

/** The RISC-V Linux Image header, if the bytes carry either of its magics. */
export function parseLinuxImageHeader(bytes: Uint8Array): LinuxImageHeader | undefined {
  if (bytes.length < IMAGE_HEADER_SIZE) return undefined;
  if (!bytesAt(bytes, IMAGE_MAGIC2, IMAGE_MAGIC2_BYTES) && !bytesAt(bytes, IMAGE_MAGIC, IMAGE_MAGIC_BYTES)) {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(IMAGE_VERSION, true);
  return {
    textOffset: view.getBigUint64(IMAGE_TEXT_OFFSET, true),
    imageSize: view.getBigUint64(IMAGE_SIZE, true),
    flags: view.getBigUint64(IMAGE_FLAGS, true),
    versionMajor: version >>> 16,
    versionMinor: version & 0xffff,
    efiStub: bytes[0] === 0x4d && bytes[1] === 0x5a,
  };
}

export function detectImageKind(bytes: Uint8Array): ImageKind {
  if (isElf(bytes)) return 'elf';
  if (parseLinuxImageHeader(bytes)) return 'linux-image';
  // RFC 1952: ID1 ID2 CM(8 = deflate).
  if (bytes.length >= 3 && bytes[0] === 0x1f && bytes[1] === 0x8b && bytes[2] === 8) return 'gzip';
  return 'raw';
}

// --- the plan ------------------------------------------------------------------------------------

/** Bytes to put in guest RAM: `data` at `address`, then zeros up to `address + size`. */
export interface MemoryLoad {
  readonly address: number;
  readonly data: Uint8Array;
  /** ≥ data.length; the tail past data is zero-filled (an ELF segment's .bss). */
  readonly size: number;
}

export interface PlacedImage {
  readonly kind: ImageKind;
  /** Physical entry point (firmware and kernel), or the start (initrd, FDT). */
  readonly entry: number;
  /** [start, end): the footprint in RAM, .bss and the Linux Image's image_size included. */
  readonly start: number;
  readonly end: number;
  readonly loads: readonly MemoryLoad[];
}

export interface BootInput {
  readonly ramSize: number;
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  /** Total size in bytes of the DTB that will be placed. */
  readonly fdtSize: number;
  /** Names used in messages; default "bios", "kernel", "initrd". */
  readonly names?: { readonly bios?: string; readonly kernel?: string; readonly initrd?: string };
}

export interface BootPlan {
  readonly ramBase: number;
  readonly ramEnd: number;
  readonly firmware: PlacedImage;
  readonly kernel?: PlacedImage;
  readonly initrd?: { readonly start: number; readonly end: number };
  readonly fdt: { readonly start: number; readonly end: number };
  /** fw_dynamic_info.next_addr: the kernel's entry, or 0 with no kernel (as QEMU does). */
  readonly nextAddress: number;
  /** Every load for the firmware, kernel and initrd (not the FDT, whose bytes come later). */
  readonly loads: readonly MemoryLoad[];
}

function hex(value: number): string {
  return `0x${value.toString(16)}`;
}

function mib(bytes: number): string {
  const value = bytes / MiB;
  return Number.isInteger(value) ? `${value} MiB` : `${value.toFixed(1)} MiB`;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function alignDown(value: number, alignment: number): number {
  return Math.floor(value / alignment) * alignment;
}

/** An ELF's PT_LOAD segments as loads at their physical addresses. */
function elfLoads(elf: ElfImage, what: string): MemoryLoad[] {
  return elf.segments
    .filter((segment) => segment.memsz > 0)
    .map((segment) => {
      if (segment.paddr > BigInt(Number.MAX_SAFE_INTEGER)) {
        const hint = what === 'kernel' ? ' (a vmlinux? boot arch/riscv/boot/Image instead)' : '';
        throw new ImageError(
          `${what}: ELF segment at physical 0x${segment.paddr.toString(16)} is not in RAM${hint}`,
        );
      }
      return { address: Number(segment.paddr), data: segment.data, size: segment.memsz };
    });
}

/** The ELF entry as a physical address: translated through the segment whose vaddr range holds it. */
function elfPhysicalEntry(elf: ElfImage, what: string): number {
  const segment = elf.segments.find(
    (candidate) =>
      elf.entry >= candidate.vaddr && elf.entry < candidate.vaddr + BigInt(Math.max(candidate.memsz, 1)),
  );
  const physical = segment ? elf.entry - segment.vaddr + segment.paddr : elf.entry;
  if (physical > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ImageError(`${what}: ELF entry 0x${elf.entry.toString(16)} is not a physical address in RAM`);
  }
  return Number(physical);
}

function placeElf(bytes: Uint8Array, what: string): PlacedImage {
  const elf = parseElf(bytes, what);
  const loads = elfLoads(elf, what);
  if (loads.length === 0) throw new ImageError(`${what}: ELF has no bytes to load`);
  return {
    kind: 'elf',
    entry: elfPhysicalEntry(elf, what),
    start: Math.min(...loads.map((load) => load.address)),
    end: Math.max(...loads.map((load) => load.address + load.size)),
    loads,
  };
}

function placeRaw(bytes: Uint8Array, kind: ImageKind, at: number, footprint: number): PlacedImage {
  return {
    kind,
    entry: at,
    start: at,
    end: at + footprint,
    loads: [{ address: at, data: bytes, size: bytes.length }],
  };
}

function checkNotEmpty(bytes: Uint8Array, what: string): void {
  if (bytes.length === 0) throw new ImageError(`${what}: the file is empty`);
}

function checkNotGzip(bytes: Uint8Array, what: string): void {
  if (detectImageKind(bytes) === 'gzip') {
    throw new ImageError(`${what}: gzip-compressed (Image.gz or vmlinuz); decompress it to an Image first`);
  }
}

type Layout =
  | { readonly ok: true; readonly plan: BootPlan }
  | { readonly ok: false; readonly tooSmall: boolean; readonly message: string };

/**
 * Everything in the plan that does not depend on the RAM size is computed by the caller once; this
 * places the pieces for one RAM size so that a failure can be retried with more RAM to say how much
 * would be enough.
 */
function layout(
  ramSize: number,
  firmware: PlacedImage,
  kernelImage: { place(start: number): PlacedImage } | undefined,
  initrdSize: number | undefined,
  fdtSize: number,
  names: { bios: string; kernel: string; initrd: string },
): Layout {
  const ramBase: number = MEMORY_MAP.dram.base;
  const ramEnd = ramBase + ramSize;
  const tooSmall = (message: string): Layout => ({ ok: false, tooSmall: true, message });
  const ramRange = `RAM ${hex(ramBase)}-${hex(ramEnd - 1)}`;

  // Firmware and kernel sit where their format says whatever the RAM size ('fixed'); the initrd
  // and the device tree move with it. Only a clash between two fixed pieces, or a piece below RAM,
  // is beyond the help of more RAM.
  const pieces: { name: string; start: number; end: number; fixed: boolean }[] = [];
  const place = (name: string, start: number, end: number, fixed: boolean): Layout | undefined => {
    if (start < ramBase) {
      const message = `${name}: ${hex(start)}-${hex(end - 1)} lies below RAM at ${hex(ramBase)}`;
      return fixed ? { ok: false, tooSmall: false, message } : tooSmall(message);
    }
    for (const other of pieces) {
      if (start < other.end && other.start < end) {
        const message = `${name} (${hex(start)}-${hex(end - 1)}) overlaps ${other.name} (${hex(other.start)}-${hex(other.end - 1)})`;
        return fixed && other.fixed ? { ok: false, tooSmall: false, message } : tooSmall(message);
      }
    }
    if (end > ramEnd) return tooSmall(`${name} ends at ${hex(end)}, past the end of ${ramRange}`);
    pieces.push({ name, start, end, fixed });
    return undefined;
  };

  for (const load of firmware.loads) {
    const failure = place(names.bios, load.address, load.address + load.size, true);
    if (failure) return failure;
  }

  let kernel: PlacedImage | undefined;
  let kernelLow = ramBase;
  if (kernelImage) {
    kernel = kernelImage.place(alignUp(firmware.end, KERNEL_OFFSET));
    const failure = place(names.kernel, kernel.start, kernel.end, true);
    if (failure) return failure;
    kernelLow = kernel.start;
  }

  let initrd: { start: number; end: number } | undefined;
  if (initrdSize !== undefined) {
    const start = kernelLow + Math.min(Math.floor(ramSize / 2), INITRD_MAX_OFFSET);
    initrd = { start, end: start + initrdSize };
    const failure = place(names.initrd, initrd.start, initrd.end, false);
    if (failure) return failure;
  }

  const fdtStart = alignDown(ramEnd - fdtSize, ALIGN_2MIB);
  const fdt = { start: fdtStart, end: fdtStart + fdtSize };
  const failure = place('device tree', fdt.start, fdt.end, false);
  if (failure) return failure;

  const loads = [...firmware.loads, ...(kernel?.loads ?? [])];
  return {
    ok: true,
    plan: {
      ramBase,
      ramEnd,
      firmware,
      ...(kernel ? { kernel } : {}),
      ...(initrd ? { initrd } : {}),
      fdt,
      nextAddress: kernel?.entry ?? 0,
      loads,
    },
  };
}

/**
 * Places firmware, kernel, initrd and device tree in guest RAM as QEMU's `virt` does (see the file
 * comment), or throws an ImageError naming what does not fit. The initrd's bytes are not in
 * `loads`: the caller copies `input.initrd` to `plan.initrd.start`.
 */
export function planBoot(input: BootInput): BootPlan {
  const names = {
    bios: input.names?.bios ?? 'bios',
    kernel: input.names?.kernel ?? 'kernel',
    initrd: input.names?.initrd ?? 'initrd',
  };
  if (!Number.isSafeInteger(input.ramSize) || input.ramSize <= 0) {
    throw new ImageError(`RAM size ${input.ramSize} is not a positive number of bytes`);
  }
  if (!Number.isSafeInteger(input.fdtSize) || input.fdtSize <= 0) {
    throw new ImageError(`device tree size ${input.fdtSize} is not a positive number of bytes`);
  }
  if (input.initrd && !input.kernel) {
    // QEMU refuses this too ("-initrd only allowed with -kernel option"): nobody would read it.
    throw new ImageError(`${names.initrd}: an initrd needs a kernel`);
  }

  checkNotEmpty(input.bios, names.bios);
  checkNotGzip(input.bios, names.bios);
  const firmware = isElf(input.bios)
    ? placeElf(input.bios, names.bios)
    : placeRaw(input.bios, detectImageKind(input.bios), MEMORY_MAP.dram.base, input.bios.length);

  let kernelImage: { place(start: number): PlacedImage } | undefined;
  if (input.kernel) {
    const bytes = input.kernel;
    checkNotEmpty(bytes, names.kernel);
    checkNotGzip(bytes, names.kernel);
    if (isElf(bytes)) {
      const placed = placeElf(bytes, names.kernel);
      kernelImage = { place: () => placed };
    } else {
      const header = parseLinuxImageHeader(bytes);
      let footprint = bytes.length;
      if (header) {
        if (header.flags & 1n)
          throw new ImageError(`${names.kernel}: big-endian Linux Image; RISC-V is little-endian`);
        if (header.imageSize > BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new ImageError(
            `${names.kernel}: Image header image_size 0x${header.imageSize.toString(16)} is absurd`,
          );
        }
        // "Image size is mandatory for boot loader to load kernel image" (boot-image-header.rst):
        // the kernel's .bss and early allocations live past the end of the file.
        footprint = Math.max(footprint, Number(header.imageSize));
      }
      const kind = header ? 'linux-image' : 'raw';
      kernelImage = { place: (start) => placeRaw(bytes, kind, start, footprint) };
    }
  }

  const initrdSize = input.initrd?.length;
  const attempt = (ramSize: number): Layout =>
    layout(ramSize, firmware, kernelImage, initrdSize, input.fdtSize, names);
  const result = attempt(input.ramSize);
  if (result.ok) return result.plan;
  if (!result.tooSmall) throw new ImageError(result.message);

  // Say how much RAM would do, in whole MiB, as a person would pick it.
  for (let ramSize = alignUp(input.ramSize + 1, MiB); ramSize <= LARGEST_RAM_SUGGESTION; ramSize += MiB) {
    if (attempt(ramSize).ok) {
      const pieces = [
        names.bios,
        ...(input.kernel ? [names.kernel] : []),
        ...(input.initrd ? [names.initrd] : []),
      ];
      throw new ImageError(
        `RAM too small: ${pieces.join(', ')} and the device tree need ${mib(ramSize)}, the VM has ${mib(input.ramSize)} (${result.message})`,
      );
    }
  }
  throw new ImageError(`cannot place the boot images: ${result.message}`);
}

// --- everything at once --------------------------------------------------------------------------

export interface VirtBootInput {
  readonly harts: number;
  readonly ramSize: number;
  readonly bootargs: string;
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly rngSeed?: Uint8Array;
  /** fw_dynamic_info.boot_hart; QEMU passes 0. */
  readonly bootHart?: number;
  readonly nextMode?: FwDynamicNextMode;
  readonly names?: BootInput['names'];
}

export interface VirtBoot {
  readonly plan: BootPlan;
  readonly dtb: Uint8Array;
  /** MEMORY_MAP.bootRom.size bytes for the ROM region. */
  readonly bootRom: Uint8Array;
  /** Firmware, kernel, initrd and DTB: copy each into RAM (zeroing past data up to size). */
  readonly loads: readonly MemoryLoad[];
}

/**
 * Plans the boot, builds the device tree that names the initrd's place, and the boot ROM that
 * points at both. The DTB's size does not depend on the initrd's addresses (always two cells each),
 * so a first tree with placeholder addresses measures it.
 */
export function prepareVirtBoot(input: VirtBootInput): VirtBoot {
  const treeConfig = {
    harts: input.harts,
    ramSize: input.ramSize,
    bootargs: input.bootargs,
    ...(input.rngSeed ? { rngSeed: input.rngSeed } : {}),
  };
  const placeholder = input.initrd ? { initrd: { start: 0, end: 0 } } : {};
  const fdtSize = buildVirtDeviceTree({ ...treeConfig, ...placeholder }).length;
  const plan = planBoot({
    ramSize: input.ramSize,
    bios: input.bios,
    fdtSize,
    ...(input.kernel ? { kernel: input.kernel } : {}),
    ...(input.initrd ? { initrd: input.initrd } : {}),
    ...(input.names ? { names: input.names } : {}),
  });
  const dtb = buildVirtDeviceTree({ ...treeConfig, ...(plan.initrd ? { initrd: plan.initrd } : {}) });
  if (dtb.length !== fdtSize) throw new Error(`device tree changed size: ${fdtSize} then ${dtb.length}`);
  const bootRom = buildBootRom({
    fdtAddress: plan.fdt.start,
    firmwareEntry: plan.firmware.entry,
    nextAddress: plan.nextAddress,
    nextMode: input.nextMode ?? 'S',
    bootHart: input.bootHart ?? 0,
  });
  const initrdLoads: MemoryLoad[] =
    plan.initrd && input.initrd
      ? [{ address: plan.initrd.start, data: input.initrd, size: input.initrd.length }]
      : [];
  return {
    plan,
    dtb,
    bootRom,
    loads: [...plan.loads, ...initrdLoads, { address: plan.fdt.start, data: dtb, size: dtb.length }],
  };
}
