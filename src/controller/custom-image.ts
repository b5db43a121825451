import { loadCustomImage } from '../storage/custom-images.ts';
import { rawDiskIdentity, rawDiskIdentityOf } from '../../workers/protocol/disk-image.ts';
import { CUSTOM_IMAGE_ID, type ImageFiles } from './images.ts';

/**
 * A VM from the user's own files: a raw disk image, and optionally a kernel and an initrd (otherwise the
 * default image's kernel and OpenSBI boot it). Checks the files before anything is stored, so a file that
 * cannot work is refused with a message that says why and what to do, never accepted and failing later.
 */

/**
 * A disk is whole 4 KiB blocks: the copy-on-write overlay that keeps the guest's writes works in blocks
 * of that size (workers/host/block/overlay-disk.ts); virtio-blk itself counts 512-byte sectors.
 */
export const DISK_BLOCK_BYTES = 4096;
/**
 * The largest disk taken: the whole file is read into memory and handed to the VM's worker, beside the
 * VM's RAM, and a tab that asks for much more is likely to be refused or killed by the browser.
 */
export const MAX_DISK_BYTES = 1024 * 1024 * 1024;

/** What the checks read of a file: its name, its size, and its first bytes. */
export interface FileLike {
  readonly name: string;
  readonly size: number;
  slice(start: number, end: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

export interface CustomImageFiles<F extends FileLike = FileLike> {
  readonly disk: F;
  readonly kernel?: F;
  readonly initrd?: F;
}

const MIB = 1024 * 1024;

async function head(file: FileLike, bytes: number): Promise<Uint8Array> {
  return new Uint8Array(await file.slice(0, Math.min(bytes, file.size)).arrayBuffer());
}

const ascii = (bytes: Uint8Array, at: number, text: string): boolean =>
  bytes.length >= at + text.length && [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));

/** Container and compression formats people pick by mistake, by their magic numbers. */
function foreignDiskFormat(bytes: Uint8Array): string | undefined {
  if (ascii(bytes, 0, 'QFI\xfb')) return 'a QCOW2 image';
  if (ascii(bytes, 0, 'KDMV')) return 'a VMDK image';
  if (ascii(bytes, 0, 'vhdxfile')) return 'a VHDX image';
  // VirtualBox: the signature 0xbeda107f (little-endian) at offset 0x40.
  if (
    bytes.length >= 0x44 &&
    bytes[0x40] === 0x7f &&
    bytes[0x41] === 0x10 &&
    bytes[0x42] === 0xda &&
    bytes[0x43] === 0xbe
  )
    return 'a VDI image';
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip-compressed';
  if (ascii(bytes, 0, '\xfd7zXZ\x00')) return 'xz-compressed';
  if (bytes[0] === 0x28 && bytes[1] === 0xb5 && bytes[2] === 0x2f && bytes[3] === 0xfd) return 'zstd-compressed';
  return undefined;
}

/** ELF e_machine for RISC-V. */
const EM_RISCV = 243;

async function kernelProblem(file: FileLike): Promise<string | undefined> {
  const bytes = await head(file, 64);
  // The RISC-V Linux Image header has the magic "RSC\x05" at offset 0x38 (Documentation/riscv/boot-image-header.rst).
  if (ascii(bytes, 0x38, 'RSC\x05')) return undefined;
  if (ascii(bytes, 0, '\x7fELF')) {
    const machine = bytes.length >= 20 ? bytes[18]! | (bytes[19]! << 8) : -1;
    return machine === EM_RISCV && bytes[4] === 2
      ? undefined
      : `${file.name} is an ELF file, but not for 64-bit RISC-V.`;
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b)
    return `${file.name} is gzip-compressed (Image.gz or vmlinuz): decompress it to an Image first.`;
  return `${file.name} is not a RISC-V Linux kernel Image (no "RSC\\x05" magic at offset 0x38) nor an ELF.`;
}

/**
 * Every reason the files cannot make a VM with `ramMiB` of RAM, as sentences for the dialog; empty if
 * they can. `storageFree` is what the browser's storage can still take (navigator.storage.estimate()),
 * when known: the disk is kept there.
 */
export async function customImageProblems(
  files: CustomImageFiles,
  ramMiB: number,
  storageFree?: number,
): Promise<string[]> {
  const problems: string[] = [];
  const { disk, kernel, initrd } = files;
  if (disk.size === 0) problems.push(`${disk.name} is empty.`);
  else {
    const format = foreignDiskFormat(await head(disk, 0x44));
    if (format)
      problems.push(
        `${disk.name} is ${format}, not a raw disk image. Convert it with \`qemu-img convert -O raw\` (or unpack it) first.`,
      );
    else if (disk.size % DISK_BLOCK_BYTES !== 0) {
      problems.push(
        `${disk.name} is ${disk.size} bytes, not a whole number of ${DISK_BLOCK_BYTES / 1024} KiB blocks; a raw disk image is (resize it with \`truncate -s %4K\`).`,
      );
    }
    if (disk.size > MAX_DISK_BYTES) {
      problems.push(
        `${disk.name} is ${(disk.size / MIB).toFixed(0)} MiB; a disk from your computer is held in memory, so at most ${MAX_DISK_BYTES / MIB} MiB.`,
      );
    }
    if (storageFree !== undefined && disk.size > storageFree) {
      problems.push(
        `${disk.name} needs ${(disk.size / MIB).toFixed(0)} MiB of browser storage; only ${(storageFree / MIB).toFixed(0)} MiB is free.`,
      );
    }
  }
  for (const [file, what] of [
    [kernel, 'kernel'],
    [initrd, 'initrd'],
  ] as const) {
    if (file?.size === 0) problems.push(`The ${what} ${file.name} is empty.`);
  }
  if (kernel && kernel.size > 0) {
    const problem = await kernelProblem(kernel);
    if (problem) problems.push(problem);
  }
  // The kernel and initrd are loaded whole into guest RAM, and the kernel needs room of its own beside them.
  const loaded = (kernel?.size ?? 0) + (initrd?.size ?? 0);
  if (loaded > 0 && loaded + 16 * MIB > ramMiB * MIB) {
    problems.push(
      `The kernel and initrd (${(loaded / MIB).toFixed(1)} MiB) do not fit in ${ramMiB} MiB of RAM with room to boot; give the VM more memory.`,
    );
  }
  return problems;
}

/** What a VM of the user's own files boots: the default image's firmware (and kernel, unless the user gave one). */
export interface CustomBoot {
  readonly images: ImageFiles;
  readonly disk: Uint8Array;
  /** Names the disk the VM's overlay is written over, so an overlay never lands on another file. */
  readonly identity: string;
  /** The disk's contents identity (its sha256), which snapshots record and restores check. */
  readonly image: string;
}

/**
 * Reads the files stored for VM `vmId` and puts them over the default image's: the kernel mounts the whole
 * disk, /dev/vda, as its root file system unless the user's initrd decides otherwise.
 */
export async function customBoot(vmId: string, defaults: ImageFiles): Promise<CustomBoot> {
  const stored = await loadCustomImage(vmId);
  const read = async (file: { blob: Blob }) => new Uint8Array(await file.blob.arrayBuffer());
  const kernel = stored.kernel ? await read(stored.kernel) : defaults.kernel;
  const initrd = stored.initrd ? await read(stored.initrd) : undefined;
  const disk = await read(stored.disk);
  if (disk.length !== stored.disk.blob.size)
    throw new Error(`${stored.disk.name} could not be read whole from the browser's storage`);
  const { disk: _none, ...manifest } = defaults.manifest;
  return {
    images: {
      manifest: {
        ...manifest,
        name: CUSTOM_IMAGE_ID,
        title: stored.disk.name,
        files: { bios: manifest.files.bios },
        bootargs: `${manifest.bootargs} root=/dev/vda rw`,
      },
      bios: defaults.bios,
      ...(kernel ? { kernel } : {}),
      ...(initrd ? { initrd } : {}),
    },
    disk,
    identity: `${CUSTOM_IMAGE_ID}:${stored.disk.name}:${disk.length}`,
    // A disk stored before its sha256 was recorded is hashed from the bytes just read.
    image: stored.disk.sha256 !== undefined ? rawDiskIdentity(stored.disk.sha256) : await rawDiskIdentityOf(disk),
  };
}
