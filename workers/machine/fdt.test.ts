import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceTree, FdtNode, buildVirtDeviceTree, type VirtDeviceTreeConfig } from './fdt.ts';
import {
  allNodes,
  cellsOf,
  findNode,
  parseFdt,
  phandleMap,
  stringOf,
  stringsOf,
  u64sOf,
  type ParsedFdtNode,
} from './fdt-reader.ts';
import { IRQ, MEMORY_MAP, PLIC_NUM_SOURCES, TIMEBASE_FREQUENCY, VIRTIO_MMIO_SLOTS } from './memory-map.ts';

const MiB = 1024 * 1024;

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
const HAS_DTC = hasTool('dtc');
const HAS_QEMU = hasTool('qemu-system-riscv64');

const workDir = mkdtempSync(join(tmpdir(), 'tabvm-fdt-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** dtc's decompiled source of a blob, and what it said on stderr. */
function dtcDecompile(blob: Uint8Array): { dts: string; warnings: string } {
  const file = join(workDir, `decompile-${Math.random().toString(36).slice(2)}.dtb`);
  writeFileSync(file, blob);
  const result = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', file], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`dtc failed: ${result.stderr}`);
  return { dts: result.stdout, warnings: result.stderr };
}

function dtcCompile(dts: string): Uint8Array {
  const file = join(workDir, `compile-${Math.random().toString(36).slice(2)}.dts`);
  writeFileSync(file, dts);
  return new Uint8Array(execFileSync('dtc', ['-q', '-I', 'dts', '-O', 'dtb', file]));
}

function prop(node: ParsedFdtNode | undefined, name: string): Uint8Array {
  const value = node?.properties.get(name);
  if (!value) throw new Error(`${node?.path ?? '(no node)'} has no ${name}`);
  return value;
}

function node(root: ParsedFdtNode, path: string): ParsedFdtNode {
  const found = findNode(root, path);
  if (!found) throw new Error(`no node ${path}`);
  return found;
}

/** A plain-object view of a parsed tree, for deep comparisons. */
function plain(tree: ParsedFdtNode): unknown {
  return {
    name: tree.name,
    properties: [...tree.properties].map(([name, value]) => [name, [...value]]),
    children: tree.children.map(plain),
  };
}

describe('FDT writer', () => {
  it('lays out a one-property tree byte for byte as §5 says', () => {
    const tree = new DeviceTree();
    tree.root.setCells('a', 1);
    tree.bootCpuidPhys = 2;
    const blob = tree.toBlob();
    // Worked out by hand: header (40), the reservation terminator (16), then the structure block
    // at 56: BEGIN_NODE, "" padded to 4, PROP len nameoff value, END_NODE, END = 32 bytes; the
    // strings block "a\0" at 88; 90 bytes padded to 96.
    // prettier-ignore
    const expected = [
      [0xd0, 0x0d, 0xfe, 0xed], [0, 0, 0, 96], [0, 0, 0, 56], [0, 0, 0, 88], [0, 0, 0, 40],
      [0, 0, 0, 17], [0, 0, 0, 16], [0, 0, 0, 2], [0, 0, 0, 2], [0, 0, 0, 32],
      [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0],
      [0, 0, 0, 1], [0, 0, 0, 0],
      [0, 0, 0, 3], [0, 0, 0, 4], [0, 0, 0, 0], [0, 0, 0, 1],
      [0, 0, 0, 2], [0, 0, 0, 9],
      [0x61, 0, 0, 0], [0, 0, 0, 0],
    ].flat();
    expect([...blob]).toEqual(expected);
  });

  it('is read back by the reader, which skips FDT_NOP tokens', () => {
    // The one-property tree above with an FDT_NOP (4) before the property, and a 0x10000-byte
    // reservation at 0x80000000.
    const blob = new Uint8Array(
      // prettier-ignore
      [
        [0xd0, 0x0d, 0xfe, 0xed], [0, 0, 0, 112], [0, 0, 0, 72], [0, 0, 0, 108], [0, 0, 0, 40],
        [0, 0, 0, 17], [0, 0, 0, 16], [0, 0, 0, 0], [0, 0, 0, 2], [0, 0, 0, 36],
        [0, 0, 0, 0], [0x80, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0],
        [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0],
        [0, 0, 0, 1], [0, 0, 0, 0],
        [0, 0, 0, 4],
        [0, 0, 0, 3], [0, 0, 0, 4], [0, 0, 0, 0], [0, 0, 0, 42],
        [0, 0, 0, 2], [0, 0, 0, 9],
        [0x61, 0, 0, 0], [0, 0, 0, 0],
      ].flat(),
    );
    const parsed = parseFdt(blob);
    expect(parsed.reservations).toEqual([{ address: 0x8000_0000n, size: 0x1_0000n }]);
    expect(parsed.root.children).toEqual([]);
    expect([...parsed.root.properties.keys()]).toEqual(['a']);
    expect(cellsOf(prop(parsed.root, 'a'))).toEqual([42]);
  });

  it('keeps every block aligned and totalsize a multiple of 8', () => {
    const tree = new DeviceTree();
    tree.root.setString('odd', 'abc');
    tree.root.addChild('x@1').setBytes('b', new Uint8Array([1, 2, 3]));
    tree.reserve(0x8000_0000, 0x1000);
    const blob = tree.toBlob();
    const view = new DataView(blob.buffer);
    expect(view.getUint32(4)).toBe(blob.length);
    expect(blob.length % 8).toBe(0);
    expect(view.getUint32(16) % 8).toBe(0); // off_mem_rsvmap
    expect(view.getUint32(8) % 4).toBe(0); // off_dt_struct
  });

  it('stores each property name once in the strings block', () => {
    const tree = new DeviceTree();
    for (const name of ['a@1', 'b@2', 'c@3']) {
      tree.root.addChild(name).setString('compatible', 'x').setCells('reg', 1);
    }
    const parsed = parseFdt(tree.toBlob());
    expect(parsed.header.stringsSize).toBe('compatible\0reg\0'.length);
    expect(parsed.root.children.map((child) => stringOf(prop(child, 'compatible')))).toEqual(['x', 'x', 'x']);
  });

  it('writes the memory reservation block and boot_cpuid_phys', () => {
    const tree = new DeviceTree();
    tree.reserve(0x8000_0000, 0x20_0000);
    tree.reserve(0x1_0000_0000n, 0x1000n);
    tree.bootCpuidPhys = 3;
    const parsed = parseFdt(tree.toBlob());
    expect(parsed.reservations).toEqual([
      { address: 0x8000_0000n, size: 0x20_0000n },
      { address: 0x1_0000_0000n, size: 0x1000n },
    ]);
    expect(parsed.header.bootCpuidPhys).toBe(3);
    expect(parsed.header.version).toBe(17);
    expect(parsed.header.lastCompVersion).toBe(16);
  });

  it('encodes u64 values as two cells, high first, and string lists NUL-separated', () => {
    const tree = new DeviceTree();
    tree.root.setU64('big', 0x1_2345_6789, 0xffff_ffff_ffff_ffffn);
    tree.root.setStrings('list', ['one', 'two']);
    tree.root.setEmpty('flag');
    const root = parseFdt(tree.toBlob()).root;
    expect(cellsOf(prop(root, 'big'))).toEqual([0x1, 0x2345_6789, 0xffff_ffff, 0xffff_ffff]);
    expect([...prop(root, 'list')]).toEqual([...'one\0two\0'].map((c) => c.charCodeAt(0)));
    expect(stringsOf(prop(root, 'list'))).toEqual(['one', 'two']);
    expect(prop(root, 'flag').length).toBe(0);
  });

  it('hands out unique phandles and reuses a node’s own', () => {
    const tree = new DeviceTree();
    const a = tree.root.addChild('a');
    const b = tree.root.addChild('b');
    const first = tree.phandle(a);
    expect(tree.phandle(b)).not.toBe(first);
    expect(tree.phandle(a)).toBe(first);
    expect(first).not.toBe(0);
    const map = phandleMap(parseFdt(tree.toBlob()).root);
    expect(map.get(first)?.path).toBe('/a');
  });

  it('refuses what the spec does not allow', () => {
    const root = new DeviceTree().root;
    expect(() => root.addChild('bad name')).toThrow(/node name/);
    expect(() => root.addChild('x'.repeat(32))).toThrow(/node name/);
    expect(() => root.setCells('bad name', 1)).toThrow(/property name/);
    expect(() => root.setCells('c', 2 ** 32)).toThrow(/32-bit/);
    expect(() => root.setCells('c', -1)).toThrow(/32-bit/);
    expect(() => root.setU64('c', 2 ** 60)).toThrow(/u64/);
    expect(() => root.setString('s', 'a\0b')).toThrow(/NUL/);
    root.addChild('dup');
    expect(() => root.addChild('dup')).toThrow(/already exists/);
    expect(() => new FdtNode('')).not.toThrow();
  });

  describe.skipIf(!HAS_DTC)('against dtc', () => {
    it('writes the same tree as dtc compiles from the same source', () => {
      const source = `/dts-v1/;
/memreserve/ 0x80000000 0x200000;
/ {
	#address-cells = <0x02>;
	#size-cells = <0x02>;
	compatible = "test,one", "test,two";
	child@1000 {
		reg = <0x00 0x1000 0x00 0x100>;
		empty;
		bytes = [01 02 03];
		phandle = <0x07>;
	};
	other {
		ref = <0x07>;
		compatible = "x";
	};
};
`;
      const tree = new DeviceTree();
      tree.root.setCells('#address-cells', 2).setCells('#size-cells', 2);
      tree.root.setStrings('compatible', ['test,one', 'test,two']);
      tree.root
        .addChild('child@1000')
        .setU64('reg', 0x1000, 0x100)
        .setEmpty('empty')
        .setBytes('bytes', new Uint8Array([1, 2, 3]))
        .setCells('phandle', 7);
      tree.root.addChild('other').setCells('ref', 7).setString('compatible', 'x');
      tree.reserve(0x8000_0000, 0x20_0000);
      const ours = tree.toBlob();
      const theirs = dtcCompile(source);
      expect(plain(parseFdt(ours).root)).toEqual(plain(parseFdt(theirs).root));
      expect(parseFdt(ours).reservations).toEqual(parseFdt(theirs).reservations);
      const decompiled = dtcDecompile(ours);
      expect(decompiled.warnings).toBe('');
      expect(decompiled.dts).toBe(dtcDecompile(theirs).dts);
    });
  });
});

const baseConfig: VirtDeviceTreeConfig = { harts: 3, ramSize: 256 * MiB, bootargs: 'console=ttyS0 quiet' };

/** Follows every phandle reference in the virt tree; returns them as [property path, target path]. */
function references(root: ParsedFdtNode): [string, string][] {
  const byPhandle = phandleMap(root);
  const target = (phandle: number | undefined, where: string): ParsedFdtNode => {
    const found = phandle === undefined ? undefined : byPhandle.get(phandle);
    if (!found) throw new Error(`${where}: phandle ${phandle} resolves to nothing`);
    return found;
  };
  const out: [string, string][] = [];
  for (const node of allNodes(root)) {
    for (const [name, value] of node.properties) {
      const where = `${node.path}/${name}`;
      if (['interrupt-parent', 'regmap', 'cpu'].includes(name)) {
        out.push([where, target(cellsOf(value)[0], where).path]);
      } else if (name === 'interrupts-extended') {
        const cells = cellsOf(value);
        for (let i = 0; i < cells.length;) {
          const controller = target(cells[i], where);
          const width = cellsOf(prop(controller, '#interrupt-cells'))[0] ?? 0;
          out.push([where, `${controller.path} ${cells.slice(i + 1, i + 1 + width).join(' ')}`]);
          i += 1 + width;
        }
      }
    }
  }
  return out;
}

describe('buildVirtDeviceTree', () => {
  const blob = buildVirtDeviceTree(baseConfig);
  const parsed = parseFdt(blob);
  const root = parsed.root;

  it('has a v17 header for boot hart 0 and no reservations', () => {
    expect(parsed.header.version).toBe(17);
    expect(parsed.header.lastCompVersion).toBe(16);
    expect(parsed.header.bootCpuidPhys).toBe(0);
    expect(parsed.header.totalSize).toBe(blob.length);
    expect(blob.length % 8).toBe(0);
    expect(parsed.reservations).toEqual([]);
  });

  it('describes the board at the root and in /chosen', () => {
    expect(stringOf(prop(root, 'compatible'))).toBe('riscv-virtio');
    expect(stringOf(prop(root, 'model'))).toMatch(/^riscv-virtio,/);
    expect(cellsOf(prop(root, '#address-cells'))).toEqual([2]);
    expect(cellsOf(prop(root, '#size-cells'))).toEqual([2]);
    const chosen = node(root, '/chosen');
    expect(stringOf(prop(chosen, 'bootargs'))).toBe('console=ttyS0 quiet');
    const stdout = stringOf(prop(chosen, 'stdout-path'));
    expect(stdout).toBe('/soc/serial@10000000');
    expect(stringsOf(prop(findNode(root, stdout), 'compatible'))).toEqual(['ns16550a']);
    expect(chosen.properties.has('linux,initrd-start')).toBe(false);
    expect(chosen.properties.has('rng-seed')).toBe(false);
  });

  it('adds the initrd range, the rng seed, and drops empty bootargs', () => {
    const seed = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const chosen = node(
      parseFdt(
        buildVirtDeviceTree({
          ...baseConfig,
          bootargs: '',
          initrd: { start: 0x8820_0000, end: 0x8870_0123 },
          rngSeed: seed,
        }),
      ).root,
      '/chosen',
    );
    expect(u64sOf(prop(chosen, 'linux,initrd-start'))).toEqual([0x8820_0000n]);
    expect(u64sOf(prop(chosen, 'linux,initrd-end'))).toEqual([0x8870_0123n]);
    expect([...prop(chosen, 'rng-seed')]).toEqual([...seed]);
    expect(chosen.properties.has('bootargs')).toBe(false);
  });

  it('has the memory node for the configured RAM', () => {
    const memory = node(root, `/memory@${MEMORY_MAP.dram.base.toString(16)}`);
    expect(stringOf(prop(memory, 'device_type'))).toBe('memory');
    expect(u64sOf(prop(memory, 'reg'))).toEqual([BigInt(MEMORY_MAP.dram.base), BigInt(256 * MiB)]);
    const big = parseFdt(buildVirtDeviceTree({ ...baseConfig, ramSize: 6 * 1024 * MiB })).root;
    expect(u64sOf(prop(findNode(big, '/memory@80000000'), 'reg'))).toEqual([0x8000_0000n, 0x1_8000_0000n]);
  });

  it('has one cpu node per hart with the ISA Linux 6.1 and 6.12 accept', () => {
    const cpus = node(root, '/cpus');
    expect(cellsOf(prop(cpus, 'timebase-frequency'))).toEqual([TIMEBASE_FREQUENCY]);
    expect(cellsOf(prop(cpus, '#address-cells'))).toEqual([1]);
    expect(cellsOf(prop(cpus, '#size-cells'))).toEqual([0]);
    const cpuNodes = cpus.children.filter((child) => child.name.startsWith('cpu@'));
    expect(cpuNodes.map((cpu) => cpu.name)).toEqual(['cpu@0', 'cpu@1', 'cpu@2']);
    cpuNodes.forEach((cpu, hart) => {
      expect(cellsOf(prop(cpu, 'reg'))).toEqual([hart]);
      expect(stringOf(prop(cpu, 'device_type'))).toBe('cpu');
      expect(stringOf(prop(cpu, 'status'))).toBe('okay');
      expect(stringOf(prop(cpu, 'compatible'))).toBe('riscv');
      const isa = stringOf(prop(cpu, 'riscv,isa'));
      expect(isa).toBe('rv64imafdc_zicsr_zifencei_zicntr');
      // Linux 6.12's fallback: strncasecmp(isa, "rv64ima", 7); Linux 6.1: lower case only.
      expect(isa.startsWith('rv64ima')).toBe(true);
      expect(isa).toBe(isa.toLowerCase());
      expect(stringOf(prop(cpu, 'riscv,isa-base'))).toBe('rv64i');
      // prettier-ignore
      expect(stringsOf(prop(cpu, 'riscv,isa-extensions'))).toEqual([
        'i', 'm', 'a', 'f', 'd', 'c', 'zicsr', 'zifencei', 'zicntr',
      ]);
      expect(stringOf(prop(cpu, 'mmu-type'))).toBe('riscv,sv48');
      const intc = node(root, `${cpu.path}/interrupt-controller`);
      expect(stringOf(prop(intc, 'compatible'))).toBe('riscv,cpu-intc');
      expect(cellsOf(prop(intc, '#interrupt-cells'))).toEqual([1]);
      expect(prop(intc, 'interrupt-controller').length).toBe(0);
      expect(intc.properties.has('phandle')).toBe(true);
    });
  });

  it('resolves every phandle reference to the node it means', () => {
    const refs = references(root);
    const intc = (hart: number): string => `/cpus/cpu@${hart}/interrupt-controller`;
    const expectedRefs: [string, string][] = [];
    for (let hart = 0; hart < 3; hart++) {
      expectedRefs.push([`/cpus/cpu-map/cluster0/core${hart}/cpu`, `/cpus/cpu@${hart}`]);
    }
    for (let hart = 0; hart < 3; hart++) {
      // CLINT: machine software (mip bit 3) and machine timer (7) interrupts.
      expectedRefs.push([`/soc/clint@2000000/interrupts-extended`, `${intc(hart)} 3`]);
      expectedRefs.push([`/soc/clint@2000000/interrupts-extended`, `${intc(hart)} 7`]);
    }
    for (let hart = 0; hart < 3; hart++) {
      // PLIC context 2h = M external (11), 2h+1 = S external (9).
      expectedRefs.push([`/soc/plic@c000000/interrupts-extended`, `${intc(hart)} 11`]);
      expectedRefs.push([`/soc/plic@c000000/interrupts-extended`, `${intc(hart)} 9`]);
    }
    for (const device of ['serial@10000000', 'rtc@101000']) {
      expectedRefs.push([`/soc/${device}/interrupt-parent`, '/soc/plic@c000000']);
    }
    for (let slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
      const base = MEMORY_MAP.virtio.base + slot * MEMORY_MAP.virtio.size;
      expectedRefs.push([`/soc/virtio_mmio@${base.toString(16)}/interrupt-parent`, '/soc/plic@c000000']);
    }
    expectedRefs.push(['/poweroff/regmap', '/soc/test@100000']);
    expectedRefs.push(['/reboot/regmap', '/soc/test@100000']);
    expect([...refs].sort()).toEqual([...expectedRefs].sort());
  });

  it('describes every region of MEMORY_MAP with its reg, compatible and interrupt', () => {
    const expectations: Record<string, { node: string; compatible: string[]; irq?: number }> = {
      sifiveTest: { node: 'test', compatible: ['sifive,test1', 'sifive,test0', 'syscon'] },
      rtc: { node: 'rtc', compatible: ['google,goldfish-rtc'], irq: IRQ.rtc },
      clint: { node: 'clint', compatible: ['sifive,clint0', 'riscv,clint0'] },
      plic: { node: 'plic', compatible: ['sifive,plic-1.0.0', 'riscv,plic0'] },
      uart0: { node: 'serial', compatible: ['ns16550a'], irq: IRQ.uart0 },
    };
    // The boot ROM is not in QEMU's tree either (nothing in the guest looks for it); DRAM is the
    // memory node and the virtio slots are checked below.
    const describedElsewhere = ['bootRom', 'dram', 'virtio'];
    for (const key of Object.keys(MEMORY_MAP)) {
      expect(
        key in expectations || describedElsewhere.includes(key),
        `MEMORY_MAP.${key} is not covered`,
      ).toBe(true);
    }
    for (const [key, expected] of Object.entries(expectations)) {
      const region = MEMORY_MAP[key as keyof typeof MEMORY_MAP];
      const device = node(root, `/soc/${expected.node}@${region.base.toString(16)}`);
      expect(u64sOf(prop(device, 'reg')), key).toEqual([BigInt(region.base), BigInt(region.size)]);
      expect(stringsOf(prop(device, 'compatible')), key).toEqual(expected.compatible);
      if (expected.irq !== undefined)
        expect(cellsOf(prop(device, 'interrupts')), key).toEqual([expected.irq]);
    }
    const virtio = node(root, '/soc').children.filter((child) => child.name.startsWith('virtio_mmio@'));
    expect(virtio).toHaveLength(VIRTIO_MMIO_SLOTS);
    for (let slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
      const base = MEMORY_MAP.virtio.base + slot * MEMORY_MAP.virtio.size;
      const device = node(root, `/soc/virtio_mmio@${base.toString(16)}`);
      expect(u64sOf(prop(device, 'reg'))).toEqual([BigInt(base), BigInt(MEMORY_MAP.virtio.size)]);
      expect(stringsOf(prop(device, 'compatible'))).toEqual(['virtio,mmio']);
      expect(cellsOf(prop(device, 'interrupts'))).toEqual([IRQ.virtio(slot)]);
    }
  });

  it('gives the PLIC, UART and sifive_test nodes the values their drivers read', () => {
    const plic = node(root, '/soc/plic@c000000');
    expect(cellsOf(prop(plic, 'riscv,ndev'))).toEqual([PLIC_NUM_SOURCES - 1]);
    expect(cellsOf(prop(plic, '#interrupt-cells'))).toEqual([1]);
    expect(cellsOf(prop(plic, '#address-cells'))).toEqual([0]);
    expect(plic.properties.has('interrupt-controller')).toBe(true);
    expect(cellsOf(prop(node(root, '/soc/serial@10000000'), 'clock-frequency'))).toEqual([3_686_400]);
    const soc = node(root, '/soc');
    expect(stringOf(prop(soc, 'compatible'))).toBe('simple-bus');
    expect(prop(soc, 'ranges').length).toBe(0);
    for (const [name, compatible, value] of [
      ['/poweroff', 'syscon-poweroff', 0x5555],
      ['/reboot', 'syscon-reboot', 0x7777],
    ] as const) {
      const syscon = node(root, name);
      expect(stringOf(prop(syscon, 'compatible'))).toBe(compatible);
      expect(cellsOf(prop(syscon, 'offset'))).toEqual([0]);
      expect(cellsOf(prop(syscon, 'value'))).toEqual([value]);
    }
  });

  it('refuses a config with no harts', () => {
    expect(() => buildVirtDeviceTree({ ...baseConfig, harts: 0 })).toThrow(/harts/);
    expect(() => buildVirtDeviceTree({ ...baseConfig, ramSize: 0 })).toThrow(/ramSize/);
  });

  describe.skipIf(!HAS_DTC)('decoded by dtc', () => {
    it('decompiles without a warning and to the same tree our reader sees', () => {
      const full = buildVirtDeviceTree({
        ...baseConfig,
        initrd: { start: 0x8820_0000, end: 0x8830_0000 },
        rngSeed: new Uint8Array(32).fill(0xa5),
      });
      const { dts, warnings } = dtcDecompile(full);
      expect(warnings).toBe('');
      expect(dts).toContain('riscv,isa = "rv64imafdc_zicsr_zifencei_zicntr";');
      expect(dts).toContain('linux,initrd-start = <0x00 0x88200000>;');
      expect(dts).toContain('stdout-path = "/soc/serial@10000000";');
      // dtc's reading of our blob, compiled again by dtc, is the tree our reader reads.
      expect(plain(parseFdt(dtcCompile(dts)).root)).toEqual(plain(parseFdt(full).root));
    });
  });
});

describe.skipIf(!HAS_QEMU)('compared with QEMU’s own virt tree', () => {
  // Nodes of QEMU's board that tabvm does not model (no PCIe, flash, fw_cfg, PMU or platform bus).
  const NOT_MODELLED = [/^\/pmu$/, /^\/fw-cfg@/, /^\/flash@/, /^\/platform-bus@/, /^\/soc\/pci@/];
  // Properties whose values differ on purpose, with the reason.
  const DIFFERENT = new Map<string, string>([
    ['/model', 'names tabvm, not QEMU'],
    ['/chosen/rng-seed', 'random in QEMU'],
    ['/cpus/cpu@0/riscv,isa', "QEMU's CPU has H, Zb*, Sstc…; ours is RV64GC + Zicntr"],
    ['/cpus/cpu@1/riscv,isa', 'as above'],
    ['/soc/plic@c000000/riscv,ndev', 'checked on its own below'],
  ]);
  // Properties we add that QEMU 7.2's tree lacks.
  const EXTRA = [
    /^\/chosen\/bootargs$/,
    /^\/cpus\/cpu@\d+\/riscv,isa-(base|extensions)$/,
    /^\/cpus\/cpu@\d+\/interrupt-controller\/#address-cells$/,
  ];

  /** path/property → value, with phandles replaced by the path of the node they name. */
  function normalize(root: ParsedFdtNode): Map<string, string> {
    const byPhandle = phandleMap(root);
    const out = new Map<string, string>();
    for (const tree of allNodes(root)) {
      // The patterns are anchored at the start only, so they also drop the nodes' children.
      if (NOT_MODELLED.some((pattern) => pattern.test(tree.path))) continue;
      for (const [name, value] of tree.properties) {
        if (name === 'phandle') continue;
        let text: string;
        if (['interrupt-parent', 'regmap', 'cpu'].includes(name)) {
          text = byPhandle.get(cellsOf(value)[0] ?? 0)?.path ?? 'dangling';
        } else if (name === 'interrupts-extended') {
          const cells = cellsOf(value);
          const parts: string[] = [];
          for (let i = 0; i < cells.length; i += 2) {
            parts.push(`${byPhandle.get(cells[i] ?? 0)?.path ?? 'dangling'} ${cells[i + 1]}`);
          }
          text = parts.join(', ');
        } else {
          text = [...value].join(',');
        }
        out.set(`${tree.path === '/' ? '' : tree.path}/${name}`, text);
      }
    }
    return out;
  }

  it('has every node and value of `qemu-system-riscv64 -M virt -m 256M -smp 2` it models', () => {
    const qemuFile = join(workDir, 'qemu-virt.dtb');
    execFileSync(
      'qemu-system-riscv64',
      ['-machine', `virt,dumpdtb=${qemuFile}`, '-m', '256M', '-smp', '2', '-nographic', '-bios', 'none'],
      { stdio: 'pipe' },
    );
    const qemu = normalize(parseFdt(new Uint8Array(readFileSync(qemuFile))).root);
    const ours = normalize(
      parseFdt(buildVirtDeviceTree({ harts: 2, ramSize: 256 * MiB, bootargs: 'console=ttyS0' })).root,
    );
    // The comparison below is only as good as what it sees: make sure QEMU's tree was read.
    expect(qemu.get('/soc/clint@2000000/interrupts-extended')).toBe(
      '/cpus/cpu@0/interrupt-controller 3, /cpus/cpu@0/interrupt-controller 7, ' +
        '/cpus/cpu@1/interrupt-controller 3, /cpus/cpu@1/interrupt-controller 7',
    );
    expect(qemu.size).toBeGreaterThan(80);
    const mismatches: string[] = [];
    for (const [key, value] of qemu) {
      if (DIFFERENT.has(key)) continue;
      if (!ours.has(key)) mismatches.push(`missing ${key}`);
      else if (ours.get(key) !== value) mismatches.push(`${key}: ours ${ours.get(key)}, QEMU ${value}`);
    }
    for (const key of ours.keys()) {
      if (!qemu.has(key) && !EXTRA.some((pattern) => pattern.test(key)) && !DIFFERENT.has(key)) {
        mismatches.push(`extra ${key}`);
      }
    }
    expect(mismatches).toEqual([]);
    // The binding's riscv,ndev excludes the reserved source 0. QEMU 7.2 wrote its source count
    // (96); later QEMU writes VIRT_IRQCHIP_NUM_SOURCES - 1.
    const ndev = (text: string | undefined): number =>
      new DataView(new Uint8Array((text ?? '').split(',').map(Number)).buffer).getUint32(0);
    expect(ndev(ours.get('/soc/plic@c000000/riscv,ndev'))).toBe(PLIC_NUM_SOURCES - 1);
    expect([PLIC_NUM_SOURCES - 1, PLIC_NUM_SOURCES]).toContain(
      ndev(qemu.get('/soc/plic@c000000/riscv,ndev')),
    );
  });
});
