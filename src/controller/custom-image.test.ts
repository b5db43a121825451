/** The checks on a user's own disk, kernel and initrd files, with File objects as the dialog gets them. */
import { describe, expect, it } from 'vitest';
import { customImageProblems } from './custom-image.ts';

const MIB = 1024 * 1024;
const file = (name: string, bytes: Uint8Array | number): File =>
  new File([typeof bytes === 'number' ? new Uint8Array(bytes) : (bytes as Uint8Array<ArrayBuffer>)], name);
const withHead = (size: number, headBytes: number[], at = 0): Uint8Array => {
  const bytes = new Uint8Array(size);
  bytes.set(headBytes, at);
  return bytes;
};
const text = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const linuxImage = (size: number): File => file('Image', withHead(size, text('RSC\x05'), 0x38));

describe('customImageProblems', () => {
  it('accepts a raw disk alone, and with a Linux Image and an initrd that fit', async () => {
    expect(await customImageProblems({ disk: file('disk.img', 4096) }, 256)).toEqual([]);
    expect(
      await customImageProblems(
        { disk: file('disk.img', 4096), kernel: linuxImage(4 * MIB), initrd: file('initrd', 1000) },
        256,
      ),
    ).toEqual([]);
  });

  it('refuses an empty disk', async () => {
    expect(await customImageProblems({ disk: file('disk.img', 0) }, 256)).toEqual(['disk.img is empty.']);
  });

  it('refuses a disk that is not a whole number of 4 KiB blocks', async () => {
    expect(await customImageProblems({ disk: file('notes.txt', 1000) }, 256)).toEqual([
      'notes.txt is 1000 bytes, not a whole number of 4 KiB blocks; a raw disk image is (resize it with `truncate -s %4K`).',
    ]);
    expect(await customImageProblems({ disk: file('sectors.img', 4096 + 512) }, 256)).toHaveLength(1);
  });

  it('refuses a disk too big to hold in memory', async () => {
    const huge = { name: 'huge.img', size: 2 * 1024 * MIB, slice: () => new Blob([new Uint8Array(0x44)]) };
    expect(await customImageProblems({ disk: huge }, 256)).toEqual([
      'huge.img is 2048 MiB; a disk from your computer is held in memory, so at most 1024 MiB.',
    ]);
  });

  it('names container and compressed formats and says how to convert them', async () => {
    const qcow2 = await customImageProblems({ disk: file('vm.qcow2', withHead(4096, text('QFI\xfb'))) }, 256);
    expect(qcow2).toEqual([
      'vm.qcow2 is a QCOW2 image, not a raw disk image. Convert it with `qemu-img convert -O raw` (or unpack it) first.',
    ]);
    const gz = await customImageProblems({ disk: file('disk.img.gz', withHead(4096, [0x1f, 0x8b, 8])) }, 256);
    expect(gz).toHaveLength(1);
    expect(gz[0]).toMatch(/^disk\.img\.gz is gzip-compressed, not a raw disk image/);
    const vdi = await customImageProblems(
      { disk: file('vm.vdi', withHead(4096, [0x7f, 0x10, 0xda, 0xbe], 0x40)) },
      256,
    );
    expect(vdi[0]).toMatch(/is a VDI image/);
  });

  it('refuses a disk bigger than the free browser storage', async () => {
    expect(await customImageProblems({ disk: file('disk.img', 4 * MIB) }, 256, 3 * MIB)).toEqual([
      'disk.img needs 4 MiB of browser storage; only 3 MiB is free.',
    ]);
  });

  it('refuses a kernel that is not a RISC-V Image or ELF', async () => {
    const elfX86 = withHead(64, [0x7f, ...text('ELF'), 2, 1, 1]);
    elfX86[18] = 62; // EM_X86_64
    expect(await customImageProblems({ disk: file('d', 4096), kernel: file('bzImage', elfX86) }, 256)).toEqual([
      'bzImage is an ELF file, but not for 64-bit RISC-V.',
    ]);
    expect(
      await customImageProblems({ disk: file('d', 4096), kernel: file('vmlinuz', withHead(64, [0x1f, 0x8b, 8])) }, 256),
    ).toEqual(['vmlinuz is gzip-compressed (Image.gz or vmlinuz): decompress it to an Image first.']);
    const riscvElf = withHead(64, [0x7f, ...text('ELF'), 2, 1, 1]);
    riscvElf[18] = 243;
    expect(await customImageProblems({ disk: file('d', 4096), kernel: file('vmlinux', riscvElf) }, 256)).toEqual([]);
    expect(await customImageProblems({ disk: file('d', 4096), kernel: file('random.bin', 64) }, 256)).toEqual([
      'random.bin is not a RISC-V Linux kernel Image (no "RSC\\x05" magic at offset 0x38) nor an ELF.',
    ]);
  });

  it('refuses empty kernel and initrd files, and a kernel and initrd too big for the RAM', async () => {
    expect(
      await customImageProblems({ disk: file('d', 4096), kernel: file('Image', 0), initrd: file('initrd', 0) }, 256),
    ).toEqual(['The kernel Image is empty.', 'The initrd initrd is empty.']);
    expect(
      await customImageProblems(
        { disk: file('d', 4096), kernel: linuxImage(20 * MIB), initrd: file('initrd', 20 * MIB) },
        48,
      ),
    ).toEqual([
      'The kernel and initrd (40.0 MiB) do not fit in 48 MiB of RAM with room to boot; give the VM more memory.',
    ]);
  });
});
