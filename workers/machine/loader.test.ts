import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeElf } from './elf-fixture.ts';
import { cellsOf, findNode, parseFdt } from './fdt-reader.ts';
import { ImageError } from './image-error.ts';
import {
  detectImageKind,
  parseLinuxImageHeader,
  planBoot,
  prepareVirtBoot,
  type BootPlan,
  type MemoryLoad,
} from './loader.ts';

const MiB = 1024 * 1024;

function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
const HAS_QEMU = hasTool('qemu-system-riscv64');

const workDir = mkdtempSync(join(tmpdir(), 'tabvm-loader-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/**
 * A RISC-V Linux Image: the 64-byte header of boot-image-header.rst (little-endian) and `fileSize`
 * bytes in all. The fields are written one by one here, not by the code under test.
 */
function linuxImage(options: {
  imageSize: number;
  fileSize?: number;
  magic?: boolean;
  magic2?: boolean;
  efi?: boolean;
  flags?: number;
}): Uint8Array {
  const bytes = new Uint8Array(options.fileSize ?? 4096);
  const view = new DataView(bytes.buffer);
  if (options.efi)
    bytes.set([0x4d, 0x5a], 0); // "MZ"
  else view.setUint32(0, 0x0000_a221, true);
  view.setBigUint64(8, 0x20_0000n, true); // text_offset
  view.setBigUint64(16, BigInt(options.imageSize), true);
  view.setBigUint64(24, BigInt(options.flags ?? 0), true);
  view.setUint32(32, 0x0000_0002, true); // version 0.2
  if (options.magic ?? true) bytes.set([0x52, 0x49, 0x53, 0x43, 0x56, 0, 0, 0], 0x30); // "RISCV\0\0\0"
  if (options.magic2 ?? true) bytes.set([0x52, 0x53, 0x43, 0x05], 0x38); // "RSC\x05"
  return bytes;
}

function filled(size: number, seed: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31 + seed) & 0xff);
}

function imageError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ImageError);
    const message = (error as ImageError).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected an ImageError');
}

/** No two loads overlap and all lie in RAM. */
function checkLoads(loads: readonly MemoryLoad[], plan: BootPlan): void {
  const ranges = loads
    .map((load) => [load.address, load.address + load.size] as const)
    .sort((a, b) => a[0] - b[0]);
  ranges.forEach(([start, end], i) => {
    expect(start).toBeGreaterThanOrEqual(plan.ramBase);
    expect(end).toBeLessThanOrEqual(plan.ramEnd);
    const next = ranges[i + 1];
    if (next) expect(end).toBeLessThanOrEqual(next[0]);
  });
}

describe('image kinds', () => {
  it('tells ELF, Linux Image, gzip and raw apart', () => {
    expect(detectImageKind(makeElf({ segments: [] }))).toBe('elf');
    expect(detectImageKind(linuxImage({ imageSize: MiB }))).toBe('linux-image');
    expect(detectImageKind(linuxImage({ imageSize: MiB, magic: false }))).toBe('linux-image');
    expect(detectImageKind(linuxImage({ imageSize: MiB, magic2: false }))).toBe('linux-image');
    expect(detectImageKind(linuxImage({ imageSize: MiB, magic: false, magic2: false }))).toBe('raw');
    expect(detectImageKind(new Uint8Array([0x1f, 0x8b, 0x08, 0, 0]))).toBe('gzip');
    expect(detectImageKind(new Uint8Array([0x97, 0x02, 0, 0]))).toBe('raw');
    expect(detectImageKind(new Uint8Array(0))).toBe('raw');
  });

  it('reads the Image header fields', () => {
    expect(parseLinuxImageHeader(linuxImage({ imageSize: 0x55_3380, efi: true }))).toEqual({
      textOffset: 0x20_0000n,
      imageSize: 0x55_3380n,
      flags: 0n,
      versionMajor: 0,
      versionMinor: 2,
      efiStub: true,
    });
    expect(parseLinuxImageHeader(new Uint8Array(0x3f))).toBeUndefined();
  });
});

describe('planBoot', () => {
  const bios = filled(200_000, 1);
  const kernel = linuxImage({ imageSize: 20 * MiB, fileSize: 3 * MiB + 64 });
  const initrd = filled(5_000_000, 2);

  it('places fw_dynamic, Image, initrd and FDT as QEMU virt does in 256 MiB', () => {
    const plan = planBoot({ ramSize: 256 * MiB, bios, kernel, initrd, fdtSize: 4096 });
    expect(plan.ramBase).toBe(0x8000_0000);
    expect(plan.ramEnd).toBe(0x9000_0000);
    expect(plan.firmware).toMatchObject({
      kind: 'raw',
      entry: 0x8000_0000,
      start: 0x8000_0000,
      end: 0x8000_0000 + 200_000,
    });
    // The Image's footprint is its image_size (20 MiB), not its 3 MiB file.
    expect(plan.kernel).toMatchObject({
      kind: 'linux-image',
      entry: 0x8020_0000,
      start: 0x8020_0000,
      end: 0x8160_0000,
    });
    // kernel + min(256 MiB / 2, 512 MiB)
    expect(plan.initrd).toEqual({ start: 0x8820_0000, end: 0x8820_0000 + 5_000_000 });
    // (end of RAM - FDT size) rounded down to 2 MiB
    expect(plan.fdt).toEqual({ start: 0x8fe0_0000, end: 0x8fe0_1000 });
    expect(plan.nextAddress).toBe(0x8020_0000);
    expect(plan.loads.map((load) => [load.address, load.data.length, load.size])).toEqual([
      [0x8000_0000, 200_000, 200_000],
      [0x8020_0000, 3 * MiB + 64, 3 * MiB + 64],
    ]);
  });

  it('caps the initrd offset at 512 MiB and puts the FDT under the end of a large RAM', () => {
    const plan = planBoot({ ramSize: 2048 * MiB, bios, kernel, initrd, fdtSize: 4096 });
    expect(plan.initrd?.start).toBe(0xa020_0000);
    expect(plan.fdt.start).toBe(0xffe0_0000);
    const huge = planBoot({ ramSize: 6144 * MiB, bios, kernel, initrd, fdtSize: 3 * MiB });
    expect(huge.fdt.start).toBe(0x1_ffc0_0000); // 0x2_0000_0000 - 3 MiB, down to 2 MiB
  });

  it('boots firmware alone with next_addr 0', () => {
    const plan = planBoot({ ramSize: 16 * MiB, bios, fdtSize: 2000 });
    expect(plan.kernel).toBeUndefined();
    expect(plan.initrd).toBeUndefined();
    expect(plan.nextAddress).toBe(0);
    expect(plan.fdt.start).toBe(0x80e0_0000);
  });

  it('loads an ELF bios at its physical addresses and starts the kernel after it', () => {
    const elfBios = makeElf({
      entry: 0x8000_0100n,
      segments: [
        { vaddr: 0x8000_0000n, paddr: 0x8000_0000n, data: [1, 2, 3, 4], memsz: 0x1000, flags: 5 },
        { vaddr: 0x8010_0000n, paddr: 0x8010_0000n, data: [5], memsz: 0x20_0000 + 1, flags: 6 },
      ],
    });
    const plan = planBoot({ ramSize: 128 * MiB, bios: elfBios, kernel, fdtSize: 4096 });
    expect(plan.firmware).toMatchObject({
      kind: 'elf',
      entry: 0x8000_0100,
      start: 0x8000_0000,
      end: 0x8030_0001,
    });
    expect(plan.kernel?.start).toBe(0x8040_0000);
    expect(plan.loads.map((load) => [load.address, [...load.data.subarray(0, 4)], load.size])).toEqual([
      [0x8000_0000, [1, 2, 3, 4], 0x1000],
      [0x8010_0000, [5], 0x20_0001],
      [0x8040_0000, [...kernel.subarray(0, 4)], kernel.length],
    ]);
    expect(plan.loads[2]?.data).toBe(kernel);
  });

  it('loads an ELF kernel at its physical addresses, its entry translated from virtual', () => {
    const elfKernel = makeElf({
      entry: 0xffff_ffff_8000_0040n,
      segments: [
        { vaddr: 0xffff_ffff_8000_0000n, paddr: 0x8040_0000n, data: [9, 9], memsz: 0x1000, flags: 5 },
      ],
    });
    const plan = planBoot({ ramSize: 64 * MiB, bios, kernel: elfKernel, initrd, fdtSize: 4096 });
    expect(plan.kernel).toMatchObject({
      kind: 'elf',
      entry: 0x8040_0040,
      start: 0x8040_0000,
      end: 0x8040_1000,
    });
    expect(plan.nextAddress).toBe(0x8040_0040);
    expect(plan.initrd?.start).toBe(0x8040_0000 + 32 * MiB);
  });

  it('refuses RAM that is too small and names the smallest that works', () => {
    const big = linuxImage({ imageSize: 40 * MiB });
    const message = imageError(() =>
      planBoot({ ramSize: 64 * MiB, bios, kernel: big, initrd, fdtSize: 4096 }),
    );
    const match =
      /^RAM too small: bios, kernel, initrd and the device tree need (\d+) MiB, the VM has 64 MiB \(.+\)$/.exec(
        message,
      );
    expect(match, message).not.toBeNull();
    const needed = Number(match?.[1]) * MiB;
    expect(() => planBoot({ ramSize: needed, bios, kernel: big, initrd, fdtSize: 4096 })).not.toThrow();
    expect(() => planBoot({ ramSize: needed - MiB, bios, kernel: big, initrd, fdtSize: 4096 })).toThrow(
      ImageError,
    );
    // The initrd goes at kernel + RAM/2, so the kernel's 40 MiB asks for 80 MiB; at 80 MiB the
    // initrd (0x82a00000-0x82ec4b3f) and the FDT (0x84e00000) fit.
    expect(needed).toBe(80 * MiB);
  });

  it('refuses firmware larger than RAM', () => {
    expect(imageError(() => planBoot({ ramSize: MiB, bios: filled(2 * MiB, 3), fdtSize: 64 }))).toMatch(
      // At 3 MiB the FDT rounds down to 0x80200000, just past the 2 MiB firmware.
      /^RAM too small: bios and the device tree need 3 MiB, the VM has 1 MiB/,
    );
  });

  it('refuses what no amount of RAM fixes', () => {
    const lowBios = makeElf({
      segments: [{ vaddr: 0x1_0000n, paddr: 0x1_0000n, data: [1], memsz: 1, flags: 5 }],
    });
    expect(imageError(() => planBoot({ ramSize: 64 * MiB, bios: lowBios, fdtSize: 64 }))).toBe(
      'bios: 0x10000-0x10000 lies below RAM at 0x80000000',
    );
    const elfBios = makeElf({
      segments: [{ vaddr: 0x8000_0000n, paddr: 0x8000_0000n, data: [1], memsz: 0x1000, flags: 5 }],
    });
    const clashingKernel = makeElf({
      segments: [{ vaddr: 0x8000_0800n, paddr: 0x8000_0800n, data: [1], memsz: 0x1000, flags: 5 }],
    });
    expect(
      imageError(() => planBoot({ ramSize: 64 * MiB, bios: elfBios, kernel: clashingKernel, fdtSize: 64 })),
    ).toBe('kernel (0x80000800-0x800017ff) overlaps bios (0x80000000-0x80000fff)');
    const vmlinux = makeElf({
      segments: [
        { vaddr: 0xffff_ffff_8000_0000n, paddr: 0xffff_ffff_8000_0000n, data: [1], memsz: 1, flags: 5 },
      ],
    });
    expect(imageError(() => planBoot({ ramSize: 64 * MiB, bios, kernel: vmlinux, fdtSize: 64 }))).toMatch(
      /^kernel: ELF segment at physical 0xffffffff80000000 is not in RAM \(a vmlinux\?/,
    );
  });

  it('refuses images it cannot boot, naming them', () => {
    expect(imageError(() => planBoot({ ramSize: 64 * MiB, bios, initrd, fdtSize: 64 }))).toBe(
      'initrd: an initrd needs a kernel',
    );
    const gzip = new Uint8Array([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0]);
    expect(
      imageError(() =>
        planBoot({ ramSize: 64 * MiB, bios, kernel: gzip, fdtSize: 64, names: { kernel: 'vmlinuz-6.1' } }),
      ),
    ).toMatch(/^vmlinuz-6\.1: gzip-compressed/);
    expect(imageError(() => planBoot({ ramSize: 64 * MiB, bios: new Uint8Array(0), fdtSize: 64 }))).toBe(
      'bios: the file is empty',
    );
    const bigEndian = linuxImage({ imageSize: MiB, flags: 1 });
    expect(imageError(() => planBoot({ ramSize: 64 * MiB, bios, kernel: bigEndian, fdtSize: 64 }))).toMatch(
      /big-endian/,
    );
    const x86 = makeElf({ machine: 62, segments: [{ vaddr: 0n, paddr: 0n, data: [0], memsz: 1, flags: 5 }] });
    expect(imageError(() => planBoot({ ramSize: 64 * MiB, bios, kernel: x86, fdtSize: 64 }))).toBe(
      'kernel: ELF for x86-64 (e_machine 62), not RISC-V',
    );
    expect(imageError(() => planBoot({ ramSize: 0, bios, fdtSize: 64 }))).toMatch(/RAM size/);
  });
});

describe('prepareVirtBoot', () => {
  const input = {
    harts: 2,
    ramSize: 256 * MiB,
    bootargs: 'console=ttyS0',
    bios: filled(200_000, 1),
    kernel: linuxImage({ imageSize: 20 * MiB, fileSize: 3 * MiB }),
    initrd: filled(5_000_000, 2),
  };

  it('joins plan, device tree and boot ROM consistently', () => {
    const boot = prepareVirtBoot(input);
    const chosen = findNode(parseFdt(boot.dtb).root, '/chosen');
    const cells = (name: string): number[] => cellsOf(chosen?.properties.get(name) ?? new Uint8Array(0));
    expect(cells('linux,initrd-start')).toEqual([0, boot.plan.initrd?.start]);
    expect(cells('linux,initrd-end')).toEqual([0, boot.plan.initrd?.end]);
    expect(boot.plan.fdt.end - boot.plan.fdt.start).toBe(boot.dtb.length);
    const rom = new DataView(boot.bootRom.buffer);
    expect(rom.getBigUint64(24, true)).toBe(BigInt(boot.plan.firmware.entry));
    expect(rom.getBigUint64(32, true)).toBe(BigInt(boot.plan.fdt.start));
    expect(rom.getBigUint64(56, true)).toBe(0x8020_0000n); // next_addr
    const fdtLoad = boot.loads.find((load) => load.address === boot.plan.fdt.start);
    expect(fdtLoad?.data).toBe(boot.dtb);
    const initrdLoad = boot.loads.find((load) => load.address === boot.plan.initrd?.start);
    expect(initrdLoad?.data).toBe(input.initrd);
    expect(boot.loads).toHaveLength(4);
    checkLoads(boot.loads, boot.plan);
  });

  describe.skipIf(!HAS_QEMU)('compared with qemu-system-riscv64 -M virt', () => {
    const files = (): { bios: string; kernel: string; initrd: string } => {
      const paths = {
        bios: join(workDir, 'fw.bin'),
        kernel: join(workDir, 'Image'),
        initrd: join(workDir, 'initrd'),
      };
      writeFileSync(paths.bios, input.bios);
      writeFileSync(paths.kernel, input.kernel);
      writeFileSync(paths.initrd, input.initrd);
      return paths;
    };

    // QEMU 7.2 still used min(RAM/2, 128 MiB) for the initrd; at 256 MiB and below the rule of
    // current QEMU (512 MiB cap) gives the same address, so these sizes compare either version.
    for (const megabytes of [256, 200, 96]) {
      it(`puts the initrd where QEMU does with -m ${megabytes}M`, () => {
        const paths = files();
        const dtbFile = join(workDir, `qemu-${megabytes}.dtb`);
        execFileSync(
          'qemu-system-riscv64',
          [
            '-M',
            `virt,dumpdtb=${dtbFile}`,
            '-m',
            `${megabytes}M`,
            '-smp',
            '2',
            '-display',
            'none',
            '-bios',
            paths.bios,
            '-kernel',
            paths.kernel,
            '-initrd',
            paths.initrd,
          ],
          { stdio: 'pipe' },
        );
        const chosen = findNode(parseFdt(new Uint8Array(readFileSync(dtbFile))).root, '/chosen');
        // One or two cells: of_read_number() semantics.
        const number = (name: string): number =>
          cellsOf(chosen?.properties.get(name) ?? new Uint8Array(0)).reduce(
            (value, cell) => value * 2 ** 32 + cell,
            0,
          );
        const plan = prepareVirtBoot({ ...input, ramSize: megabytes * MiB }).plan;
        expect(plan.initrd?.start).toBe(number('linux,initrd-start'));
        expect(plan.initrd?.end).toBe(number('linux,initrd-end'));
      });
    }

    it('builds the same reset vector and fw_dynamic_info as QEMU’s ROM', () => {
      const paths = files();
      const words = 22; // 6 instructions, 2 dwords, 6 dwords of fw_dynamic_info
      const result = spawnSync(
        'qemu-system-riscv64',
        [
          '-M',
          'virt',
          '-m',
          '256M',
          '-smp',
          '2',
          '-display',
          'none',
          '-serial',
          'null',
          '-monitor',
          'stdio',
          '-S',
          '-bios',
          paths.bios,
          '-kernel',
          paths.kernel,
          '-initrd',
          paths.initrd,
        ],
        { input: `xp /${words}wx 0x1000\nquit\n`, encoding: 'utf8', timeout: 20_000 },
      );
      const qemuWords = [...result.stdout.matchAll(/^[0-9a-f]{16}:((?:\s+0x[0-9a-f]{8})+)/gm)].flatMap(
        (match) => (match[1] ?? '').trim().split(/\s+/).map(Number),
      );
      expect(qemuWords).toHaveLength(words);
      const rom = prepareVirtBoot(input).bootRom;
      const view = new DataView(rom.buffer);
      const ours = Array.from({ length: words }, (_, i) => view.getUint32(i * 4, true));
      // Same FDT address too: both trees are well under 2 MiB, so both round down to the same place.
      expect(ours).toEqual(qemuWords);
    });
  });
});
