/**
 * A Flattened Devicetree writer (Devicetree Specification v0.4, chapter 5, "Flattened Devicetree
 * (DTB) Format"), and the tree of QEMU's `virt` board built from the one hardware table
 * (memory-map.ts), so the tree the guest reads cannot drift from the devices the bus serves.
 *
 * The blob is version 17 (last compatible version 16): a 40-byte header, the memory reservation
 * block, the structure block and the strings block, everything big-endian (§5.1).
 */

import {
  IRQ,
  MEMORY_MAP,
  PLIC_NUM_SOURCES,
  TIMEBASE_FREQUENCY,
  VIRTIO_MMIO_SLOTS,
  type Region,
} from './memory-map.ts';

/** §5.2: magic, then the header's ten 32-bit fields. */
export const FDT_MAGIC = 0xd00d_feed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
export const FDT_HEADER_SIZE = 40;

/** §5.4.1 structure block tokens. */
export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

export interface FdtProperty {
  readonly name: string;
  /** The property's value exactly as it goes into the blob (big-endian cells, NUL-ended strings). */
  readonly value: Uint8Array;
}

export interface FdtReservation {
  readonly address: number | bigint;
  readonly size: number | bigint;
}

// §2.2.1 Table 2.1: characters allowed in a node name; the unit address after '@' uses the same set.
const NODE_NAME = /^[0-9a-zA-Z,._+-]{1,31}(@[0-9a-zA-Z,._+-]+)?$/;
// §2.2.4 Table 2.2: characters allowed in a property name.
const PROPERTY_NAME = /^[0-9a-zA-Z,._+?#-]{1,31}$/;

const TWO_TO_32 = 2 ** 32;
const U64_MAX = (1n << 64n) - 1n;

const textEncoder = new TextEncoder();

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value >= TWO_TO_32) {
    throw new RangeError(`${what}: ${value} is not a 32-bit cell`);
  }
}

/** Splits a u64 into [high, low] 32-bit halves. */
function u64Halves(value: number | bigint, what: string): [number, number] {
  if (typeof value === 'bigint') {
    if (value < 0n || value > U64_MAX) throw new RangeError(`${what}: ${value} is not a u64`);
    return [Number(value >> 32n), Number(value & 0xffff_ffffn)];
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what}: ${value} is not a u64 that a number holds exactly`);
  }
  return [Math.floor(value / TWO_TO_32), value >>> 0];
}

function cellBytes(cells: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(cells.length * 4);
  const view = new DataView(bytes.buffer);
  cells.forEach((cell, i) => view.setUint32(i * 4, cell));
  return bytes;
}

function stringListBytes(values: readonly string[], what: string): Uint8Array {
  const parts = values.map((value) => {
    // §2.2.4.2: a <string> ends at its NUL, so a NUL inside would silently cut it.
    if (value.includes('\0')) throw new RangeError(`${what}: string contains NUL`);
    return textEncoder.encode(value);
  });
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length + 1, 0));
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length + 1;
  }
  return bytes;
}

/** One node of the tree. Setting a property that exists replaces its value in place. */
export class FdtNode {
  readonly children: FdtNode[] = [];
  readonly properties: FdtProperty[] = [];

  constructor(readonly name: string) {
    // The root node is the only one with an empty name (§5.4.1).
    if (name !== '' && !NODE_NAME.test(name)) throw new RangeError(`bad node name "${name}"`);
  }

  /** Adds a child node and returns it. */
  addChild(name: string): FdtNode {
    if (name === '') throw new RangeError('only the root node has an empty name');
    if (this.child(name)) throw new RangeError(`node "${name}" already exists under "${this.name}"`);
    const node = new FdtNode(name);
    this.children.push(node);
    return node;
  }

  child(name: string): FdtNode | undefined {
    return this.children.find((node) => node.name === name);
  }

  property(name: string): Uint8Array | undefined {
    return this.properties.find((property) => property.name === name)?.value;
  }

  setBytes(name: string, value: Uint8Array): this {
    if (!PROPERTY_NAME.test(name)) throw new RangeError(`bad property name "${name}"`);
    const copy = value.slice();
    const at = this.properties.findIndex((property) => property.name === name);
    if (at >= 0) this.properties[at] = { name, value: copy };
    else this.properties.push({ name, value: copy });
    return this;
  }

  /** A property with no value, whose presence is the information (e.g. `interrupt-controller`). */
  setEmpty(name: string): this {
    return this.setBytes(name, new Uint8Array(0));
  }

  /** One or more 32-bit cells (<u32>, <prop-encoded-array>, <phandle>). */
  setCells(name: string, ...cells: number[]): this {
    cells.forEach((cell) => checkU32(cell, `${this.name}/${name}`));
    return this.setBytes(name, cellBytes(cells));
  }

  /** Each value as a <u64>: two cells, high half first. */
  setU64(name: string, ...values: (number | bigint)[]): this {
    return this.setCells(name, ...values.flatMap((value) => u64Halves(value, `${this.name}/${name}`)));
  }

  setString(name: string, value: string): this {
    return this.setBytes(name, stringListBytes([value], `${this.name}/${name}`));
  }

  /** A <stringlist>: each string NUL-terminated, back to back. */
  setStrings(name: string, values: readonly string[]): this {
    if (values.length === 0) throw new RangeError(`${this.name}/${name}: empty string list`);
    return this.setBytes(name, stringListBytes(values, `${this.name}/${name}`));
  }
}

/** A tree under construction: the root, the reservation list and the phandle counter. */
export class DeviceTree {
  readonly root = new FdtNode('');
  readonly reservations: FdtReservation[] = [];
  /** The header's boot_cpuid_phys: the physical id (hart id) of the boot CPU. */
  bootCpuidPhys = 0;
  private nextPhandle = 1;

  /**
   * The node's phandle, giving it one (the `phandle` property, §2.3.3) the first time. Values are
   * unique in this tree; 0 and 0xffffffff are never used.
   */
  phandle(node: FdtNode): number {
    const existing = node.property('phandle');
    if (existing) return new DataView(existing.buffer, existing.byteOffset).getUint32(0);
    const value = this.nextPhandle++;
    node.setCells('phandle', value);
    return value;
  }

  /** Adds an entry to the memory reservation block (§5.3). */
  reserve(address: number | bigint, size: number | bigint): void {
    u64Halves(address, 'reservation address');
    u64Halves(size, 'reservation size');
    this.reservations.push({ address, size });
  }

  /** The blob, its total size a multiple of 8. */
  toBlob(): Uint8Array {
    return serialize(this.root, this.reservations, this.bootCpuidPhys);
  }
}

function pad4(length: number): number {
  return (length + 3) & ~3;
}

function serialize(
  root: FdtNode,
  reservations: readonly FdtReservation[],
  bootCpuidPhys: number,
): Uint8Array {
  checkU32(bootCpuidPhys, 'boot_cpuid_phys');

  // The strings block holds each property name once; properties point at it by offset (§5.5).
  const stringOffsets = new Map<string, number>();
  let stringsSize = 0;
  let structSize = 4; // FDT_END
  const measure = (node: FdtNode): void => {
    structSize += 4 + pad4(textEncoder.encode(node.name).length + 1);
    for (const property of node.properties) {
      if (!stringOffsets.has(property.name)) {
        stringOffsets.set(property.name, stringsSize);
        stringsSize += property.name.length + 1;
      }
      structSize += 12 + pad4(property.value.length);
    }
    node.children.forEach(measure);
    structSize += 4;
  };
  measure(root);

  // §5.1: the reservation block is 8-byte aligned and the structure block 4-byte aligned; the
  // header is 40 bytes and each reservation entry 16, so both hold without padding.
  const reservationsOffset = FDT_HEADER_SIZE;
  const structOffset = reservationsOffset + (reservations.length + 1) * 16;
  const stringsOffset = structOffset + structSize;
  const totalSize = (stringsOffset + stringsSize + 7) & ~7;

  const blob = new Uint8Array(totalSize);
  const view = new DataView(blob.buffer);
  const header = [
    FDT_MAGIC,
    totalSize,
    structOffset,
    stringsOffset,
    reservationsOffset,
    FDT_VERSION,
    FDT_LAST_COMP_VERSION,
    bootCpuidPhys,
    stringsSize,
    structSize,
  ];
  header.forEach((field, i) => view.setUint32(i * 4, field));

  let at = reservationsOffset;
  for (const { address, size } of reservations) {
    const [addressHigh, addressLow] = u64Halves(address, 'reservation address');
    const [sizeHigh, sizeLow] = u64Halves(size, 'reservation size');
    view.setUint32(at, addressHigh);
    view.setUint32(at + 4, addressLow);
    view.setUint32(at + 8, sizeHigh);
    view.setUint32(at + 12, sizeLow);
    at += 16;
  }
  at += 16; // the all-zero entry that ends the list

  const emit = (node: FdtNode): void => {
    view.setUint32(at, FDT_BEGIN_NODE);
    const name = textEncoder.encode(node.name);
    blob.set(name, at + 4);
    at += 4 + pad4(name.length + 1);
    for (const property of node.properties) {
      view.setUint32(at, FDT_PROP);
      view.setUint32(at + 4, property.value.length);
      view.setUint32(at + 8, stringOffsets.get(property.name) ?? 0);
      blob.set(property.value, at + 12);
      at += 12 + pad4(property.value.length);
    }
    node.children.forEach(emit);
    view.setUint32(at, FDT_END_NODE);
    at += 4;
  };
  emit(root);
  view.setUint32(at, FDT_END);

  for (const [name, offset] of stringOffsets) blob.set(textEncoder.encode(name), stringsOffset + offset);
  return blob;
}

// ---------------------------------------------------------------------------------------------
// The `virt` board's tree
// ---------------------------------------------------------------------------------------------

export interface VirtDeviceTreeConfig {
  readonly harts: number;
  /** Bytes of RAM at MEMORY_MAP.dram.base. */
  readonly ramSize: number;
  /** The kernel command line; an empty string leaves `bootargs` out, as QEMU does. */
  readonly bootargs: string;
  /** Guest physical [start, end) of the initrd, for /chosen linux,initrd-start/end. */
  readonly initrd?: { readonly start: number; readonly end: number };
  /** Bytes for /chosen rng-seed (QEMU passes 32 random bytes), which Linux credits as entropy. */
  readonly rngSeed?: Uint8Array;
}

/**
 * The ISA as the kernel reads it. Linux 6.1 (bookworm) only reads `riscv,isa`: it checks that the
 * string starts with "rv" (cpu.c) and parses it lower-case only (cpufeature.c), ignoring the
 * multi-letter extensions it does not know. Linux 6.12 (trixie) prefers `riscv,isa-base` +
 * `riscv,isa-extensions` (which must contain i, m, a) and falls back to `riscv,isa`, which must
 * then start with "rv64ima" (strncasecmp in riscv_early_of_processor_hartid). Canonical order
 * (imafdc, then Z extensions after '_') satisfies both.
 */
export const RISCV_ISA_STRING = 'rv64imafdc_zicsr_zifencei_zicntr';
export const RISCV_ISA_BASE = 'rv64i';
export const RISCV_ISA_EXTENSIONS = ['i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'zicntr'];
export const RISCV_MMU_TYPE = 'riscv,sv48';

/** The 16550's input clock QEMU advertises (1.8432 MHz × 2); Linux derives the divisor from it. */
export const UART0_CLOCK_FREQUENCY = 0x38_4000;
/** sifive,test0 values that the syscon-poweroff / syscon-reboot nodes write. */
export const SIFIVE_TEST_POWEROFF = 0x5555;
export const SIFIVE_TEST_REBOOT = 0x7777;

/** Local interrupt numbers (mip bits) of the hart's own interrupt controller (priv. spec §3.1.9). */
const IRQ_M_SOFT = 3;
const IRQ_M_TIMER = 7;
const IRQ_S_EXT = 9;
const IRQ_M_EXT = 11;

/** The node name for a device at `base`: `name@<hex address>`, no leading zeros (§2.2.1). */
export function unitName(name: string, base: number): string {
  return `${name}@${base.toString(16)}`;
}

function checkConfig(config: VirtDeviceTreeConfig): void {
  if (!Number.isInteger(config.harts) || config.harts < 1) {
    throw new RangeError(`harts must be a positive integer, not ${config.harts}`);
  }
  if (!Number.isSafeInteger(config.ramSize) || config.ramSize <= 0) {
    throw new RangeError(`ramSize must be a positive integer, not ${config.ramSize}`);
  }
  if (config.initrd && config.initrd.end < config.initrd.start) {
    throw new RangeError('initrd ends before it starts');
  }
}

/** The tree object, for callers that want to add nodes before serializing. */
export function buildVirtTree(config: VirtDeviceTreeConfig): DeviceTree {
  checkConfig(config);
  const tree = new DeviceTree();
  const root = tree.root;
  root.setCells('#address-cells', 2);
  root.setCells('#size-cells', 2);
  root.setString('compatible', 'riscv-virtio');
  root.setString('model', 'riscv-virtio,tabvm');

  const chosen = root.addChild('chosen');
  if (config.bootargs !== '') chosen.setString('bootargs', config.bootargs);
  chosen.setString('stdout-path', `/soc/${unitName('serial', MEMORY_MAP.uart0.base)}`);
  if (config.initrd) {
    // Linux reads these with of_read_number() over the property's length, so two cells work on
    // any RAM size; QEMU writes them as u64 too.
    chosen.setU64('linux,initrd-start', config.initrd.start);
    chosen.setU64('linux,initrd-end', config.initrd.end);
  }
  if (config.rngSeed) chosen.setBytes('rng-seed', config.rngSeed);

  const memory = root.addChild(unitName('memory', MEMORY_MAP.dram.base));
  memory.setString('device_type', 'memory');
  memory.setU64('reg', MEMORY_MAP.dram.base, config.ramSize);

  const cpus = root.addChild('cpus');
  cpus.setCells('#address-cells', 1);
  cpus.setCells('#size-cells', 0);
  cpus.setCells('timebase-frequency', TIMEBASE_FREQUENCY);
  const cpuPhandles: number[] = [];
  const intcPhandles: number[] = [];
  for (let hart = 0; hart < config.harts; hart++) {
    const cpu = cpus.addChild(`cpu@${hart.toString(16)}`);
    cpuPhandles.push(tree.phandle(cpu));
    cpu.setString('device_type', 'cpu');
    cpu.setCells('reg', hart);
    cpu.setString('status', 'okay');
    cpu.setString('compatible', 'riscv');
    cpu.setString('riscv,isa', RISCV_ISA_STRING);
    cpu.setString('riscv,isa-base', RISCV_ISA_BASE);
    cpu.setStrings('riscv,isa-extensions', RISCV_ISA_EXTENSIONS);
    cpu.setString('mmu-type', RISCV_MMU_TYPE);
    const intc = cpu.addChild('interrupt-controller');
    intc.setCells('#interrupt-cells', 1);
    // Not needed by the binding; dtc's interrupt_provider check asks for it, and 0 is the truth.
    intc.setCells('#address-cells', 0);
    intc.setEmpty('interrupt-controller');
    intc.setString('compatible', 'riscv,cpu-intc');
    intcPhandles.push(tree.phandle(intc));
  }
  const cluster = cpus.addChild('cpu-map').addChild('cluster0');
  cpuPhandles.forEach((phandle, hart) => cluster.addChild(`core${hart}`).setCells('cpu', phandle));

  const soc = root.addChild('soc');
  soc.setCells('#address-cells', 2);
  soc.setCells('#size-cells', 2);
  soc.setString('compatible', 'simple-bus');
  soc.setEmpty('ranges');
  const device = (name: string, region: Region): FdtNode => {
    const node = soc.addChild(unitName(name, region.base));
    node.setU64('reg', region.base, region.size);
    return node;
  };

  const clint = device('clint', MEMORY_MAP.clint);
  clint.setStrings('compatible', ['sifive,clint0', 'riscv,clint0']);
  clint.setCells(
    'interrupts-extended',
    ...intcPhandles.flatMap((intc) => [intc, IRQ_M_SOFT, intc, IRQ_M_TIMER]),
  );

  // Context 2h is hart h's M-mode external interrupt and 2h+1 its S-mode one: the order of the
  // pairs here is what tells the kernel (and OpenSBI) which PLIC context feeds which hart mode.
  const plic = device('plic', MEMORY_MAP.plic);
  const plicPhandle = tree.phandle(plic);
  plic.setCells('#address-cells', 0);
  plic.setCells('#interrupt-cells', 1);
  plic.setStrings('compatible', ['sifive,plic-1.0.0', 'riscv,plic0']);
  plic.setEmpty('interrupt-controller');
  plic.setCells('interrupts-extended', ...intcPhandles.flatMap((intc) => [intc, IRQ_M_EXT, intc, IRQ_S_EXT]));
  // The binding counts sources without the reserved source 0.
  plic.setCells('riscv,ndev', PLIC_NUM_SOURCES - 1);

  const serial = device('serial', MEMORY_MAP.uart0);
  serial.setString('compatible', 'ns16550a');
  serial.setCells('clock-frequency', UART0_CLOCK_FREQUENCY);
  serial.setCells('interrupts', IRQ.uart0);
  serial.setCells('interrupt-parent', plicPhandle);

  const rtc = device('rtc', MEMORY_MAP.rtc);
  rtc.setString('compatible', 'google,goldfish-rtc');
  rtc.setCells('interrupts', IRQ.rtc);
  rtc.setCells('interrupt-parent', plicPhandle);

  const test = device('test', MEMORY_MAP.sifiveTest);
  test.setStrings('compatible', ['sifive,test1', 'sifive,test0', 'syscon']);
  const testPhandle = tree.phandle(test);
  // poweroff and reboot sit at the root, as in QEMU's tree: Linux creates platform devices only for
  // children of buses ("simple-bus", "simple-mfd"), and test@100000 is a syscon, not a bus, so as
  // its children the two drivers would never bind.
  const syscon = (name: string, compatible: string, value: number): void => {
    const node = root.addChild(name);
    node.setString('compatible', compatible);
    node.setCells('regmap', testPhandle);
    node.setCells('offset', 0);
    node.setCells('value', value);
  };
  syscon('poweroff', 'syscon-poweroff', SIFIVE_TEST_POWEROFF);
  syscon('reboot', 'syscon-reboot', SIFIVE_TEST_REBOOT);

  // Highest slot first, the order of QEMU's tree. Linux probes in tree order, so the device in the
  // highest occupied slot is found first (virtio0, vda), as under QEMU for the same slots.
  for (let slot = VIRTIO_MMIO_SLOTS - 1; slot >= 0; slot--) {
    const region = {
      base: MEMORY_MAP.virtio.base + slot * MEMORY_MAP.virtio.size,
      size: MEMORY_MAP.virtio.size,
    };
    const node = device('virtio_mmio', region);
    node.setString('compatible', 'virtio,mmio');
    node.setCells('interrupts', IRQ.virtio(slot));
    node.setCells('interrupt-parent', plicPhandle);
  }
  return tree;
}

/** The DTB of the `virt` board for this configuration. */
export function buildVirtDeviceTree(config: VirtDeviceTreeConfig): Uint8Array {
  return buildVirtTree(config).toBlob();
}
