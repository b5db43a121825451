/**
 * What the headless runner boots: an image from public/images (its manifest gives the files and the
 * kernel command line) with any file replaced from the command line. Every failure is an ImageError
 * whose message is one line for the user.
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ImageError } from '../../workers/machine/image-error.ts';
import { isElf } from '../../workers/machine/elf.ts';
import { detectImageKind } from '../../workers/machine/loader.ts';
import { FileDisk } from './file-disk.ts';
import { pathToFileURL } from 'node:url';
import { ChunkedDisk } from '../../workers/host/block/chunked-disk.ts';
import { ManifestError, parseDiskImageManifest, type DiskImageManifest } from '../../workers/protocol/disk-image.ts';
import { parseImageManifest, type ImageManifest } from '../../workers/protocol/image-manifest.ts';
import { MAX_RAM_MIB, MIB, MIN_RAM_MIB } from '../../workers/protocol/machine-limits.ts';
import { MAX_HARTS } from '../../workers/cpu/layout.ts';
import { formatMacAddress, parseMacAddress, randomMacAddress } from '../../workers/protocol/mac-address.ts';

/** What a machine boots from: the firmware, kernel and initrd, the kernel command line and the RAM size. */
export interface VmBootFiles {
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly bootargs: string;
  readonly ramSize: number;
}

export interface VmFiles extends VmBootFiles {
  /** virtio-blk disks in order (/dev/vda first). */
  readonly disks?: readonly DiskSpec[];
  /** Shared folders (virtio-9p), from --share. */
  readonly shares?: readonly ShareSpec[];
  /** A virtio-net card with this address (--net user), none with --net none. */
  readonly net?: { readonly mac: string };
}

/** A shared folder from `--share DIR[,ro][,tag=NAME]`: a host directory the guest mounts by its tag. */
export interface ShareSpec {
  readonly path: string;
  readonly readOnly: boolean;
  readonly tag: string;
}

/** The tag a share has without `tag=`: the one the default image mounts at /mnt/shared. */
export const DEFAULT_SHARE_TAG = 'shared';

/**
 * A disk from `--disk path[,ro]`: a raw image file, used in place; or a chunked image's directory (its
 * manifest.json has a `disk` field), read lazily under an overlay that lives in memory for the run.
 */
export interface DiskSpec {
  readonly path: string;
  readonly readOnly: boolean;
  readonly chunked?: DiskImageManifest;
}

export interface VmCommandLine {
  readonly image?: string;
  readonly kernel?: string;
  readonly initrd?: string;
  readonly bios?: string;
  readonly append?: string;
  readonly mem?: string;
  readonly disk?: readonly string[];
  readonly share?: readonly string[];
  readonly smp?: string;
  readonly net?: string;
  readonly mac?: string;
}

/**
 * The network card from `--net user|none` and `--mac` (QEMU's `-nic user` and `-nic none`): undefined
 * for none, else its address (a random 52:54:00:xx:xx:xx each run without --mac). `user` needs the
 * user-mode network (`userNetwork`: this runner has one); without --net the card is there exactly when
 * it does. A VM restored from a snapshot (`snapshotMac`: the address of the
 * snapshot's card, null when it had none) has the snapshot's card, or none, whatever the options say.
 */
export function resolveNetCard(
  options: Pick<VmCommandLine, 'net' | 'mac'>,
  context: { readonly userNetwork: boolean; readonly snapshotMac?: string | null },
): { readonly mac: string } | undefined {
  const mode = options.net;
  if (mode !== undefined && mode !== 'user' && mode !== 'none') throw new ImageError(`--net ${mode}: user or none`);
  if (context.snapshotMac !== undefined) {
    if (context.snapshotMac === null) {
      if (mode === 'user') throw new ImageError("--net user: the snapshot's VM had no network card; start it without --net");
      return undefined;
    }
    if (mode === 'none') throw new ImageError("--net none: the snapshot's VM has a network card; start it without --net none");
    if (options.mac !== undefined)
      throw new ImageError(`--mac: a restored VM keeps the address its guest booted with, ${context.snapshotMac}`);
    return { mac: context.snapshotMac };
  }
  const wanted = mode ?? (context.userNetwork ? 'user' : 'none');
  if (wanted === 'none') {
    if (options.mac !== undefined) throw new ImageError('--mac: the VM has no network card (--net none)');
    return undefined;
  }
  if (!context.userNetwork) throw new ImageError('--net user: this tabvm has no user-mode network yet (use --net none)');
  try {
    return { mac: options.mac === undefined ? randomMacAddress() : formatMacAddress(parseMacAddress(options.mac)) };
  } catch (error) {
    throw new ImageError(`--mac ${options.mac}: ${(error as Error).message}`);
  }
}

/** The most harts a VM has (layout.ts MAX_HARTS: a state block, JIT cache, wake word and mailbox each). */
export const MAX_SMP = MAX_HARTS;

/** `--smp N` or `--smp cpus=N` (QEMU's spellings): how many harts, 1 to MAX_SMP (docs/harts.md). */
export function parseSmp(text: string | undefined): number {
  if (text === undefined) return 1;
  const match = /^(?:cpus=)?(\d+)$/.exec(text.trim());
  const harts = match ? Number(match[1]) : NaN;
  if (!Number.isInteger(harts) || harts < 1 || harts > MAX_SMP) throw new ImageError(`--smp ${text}: 1 to ${MAX_SMP} CPUs`);
  return harts;
}

type ManifestFile = ImageManifest['files']['bios'];

/** "256M", "1G", "512K", or plain bytes. */
export function parseMemorySize(text: string): number {
  const match = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!match) throw new ImageError(`--mem ${text}: not a size (examples: 256M, 1G)`);
  const scale: Record<string, number> = { '': 1, K: 1024, M: MIB, G: 1024 * MIB };
  const bytes = Number(match[1]) * scale[match[2]!.toUpperCase()]!;
  if (bytes < MIN_RAM_MIB * MIB) throw new ImageError(`--mem ${text}: the VM needs at least ${MIN_RAM_MIB}M of RAM`);
  if (bytes > MAX_RAM_MIB * MIB)
    throw new ImageError(`--mem ${text}: at most ${MAX_RAM_MIB / 1024}G of RAM is supported`);
  if (bytes % (1024 * 1024) !== 0) throw new ImageError(`--mem ${text}: RAM must be a whole number of MiB`);
  return bytes;
}

function readFile(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw new ImageError(`${what} ${path}: no such file`);
  if (!statSync(path).isFile()) throw new ImageError(`${what} ${path}: not a file`);
  const bytes = readFileSync(path);
  if (bytes.length === 0) throw new ImageError(`${what} ${path}: the file is empty`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** A kernel must say what it is: a Linux Image (with its header magic), an ELF, or gzip (refused later). */
function readKernel(path: string): Uint8Array {
  const bytes = readFile(path, '--kernel');
  if (detectImageKind(bytes) === 'raw') {
    throw new ImageError(`--kernel ${path}: neither a RISC-V Linux kernel Image (no "RSC\x05" magic at offset 0x38) nor an ELF`);
  }
  return bytes;
}

function readManifest(imagesDir: string, name: string): { dir: string; manifest: ImageManifest } {
  const dir = resolve(imagesDir, name);
  const path = resolve(dir, 'manifest.json');
  if (!existsSync(path)) throw new ImageError(`image ${name}: no ${path} (build it, or pass --kernel/--bios)`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ImageError(`image ${name}: ${path} is not valid JSON (${(error as Error).message})`);
  }
  try {
    return { dir, manifest: parseImageManifest(json) };
  } catch (error) {
    if (error instanceof ManifestError) throw new ImageError(`image ${name}: ${path}: ${error.message}`);
    throw error;
  }
}

export function resolveVmFiles(options: VmCommandLine, imagesDir: string): VmFiles {
  const bios = options.bios === undefined ? undefined : readFile(options.bios, '--bios');
  // A bare-metal ELF given as --bios runs alone: the image's kernel and initrd are not loaded.
  const bareMetal = bios !== undefined && isElf(bios) && options.kernel === undefined;
  // Files from the command line replace the image's; the default image fills in the rest when it exists.
  let image: { dir: string; manifest: ImageManifest } | undefined;
  if (options.image !== undefined) image = readManifest(imagesDir, options.image);
  else if (!bareMetal && existsSync(resolve(imagesDir, 'default', 'manifest.json'))) image = readManifest(imagesDir, 'default');
  const fromImage = (file: ManifestFile | undefined, what: string): Uint8Array | undefined => {
    if (!image || !file) return undefined;
    const bytes = readFile(resolve(image.dir, file.path), `${what} of image`);
    if (bytes.length !== file.size) {
      throw new ImageError(`${what} of image: ${file.path} has ${bytes.length} bytes, the manifest says ${file.size}`);
    }
    return bytes;
  };
  const kernel = options.kernel !== undefined ? readKernel(options.kernel) : fromImage(image?.manifest.files.kernel, 'kernel');
  const initrd = options.initrd !== undefined ? readFile(options.initrd, '--initrd') : fromImage(image?.manifest.files.initrd, 'initrd');
  const firmware = bios ?? fromImage(image?.manifest.files.bios, 'bios');
  if (!firmware) throw new ImageError('no firmware: pass --bios or an --image whose manifest has one');
  const defaultMemory = image?.manifest.memory?.default;
  // --disk replaces the image's disk; without it an image that has one boots with it, as the app does.
  const disks =
    options.disk && options.disk.length > 0
      ? options.disk.map(parseDiskOption)
      : image?.manifest.disk !== undefined
        ? [imageDisk(image.dir, options.image ?? 'default')]
        : [];
  const shares = (options.share ?? []).map(parseShareOption);
  const tags = new Set<string>();
  for (const share of shares) {
    if (tags.has(share.tag)) throw new ImageError(`--share: two shares have the tag ${share.tag} (give one tag=NAME)`);
    tags.add(share.tag);
  }
  return {
    bios: firmware,
    ...(kernel ? { kernel } : {}),
    ...(initrd ? { initrd } : {}),
    bootargs: options.append ?? image?.manifest.bootargs ?? '',
    ramSize: parseMemorySize(options.mem ?? (defaultMemory ? `${defaultMemory}M` : '256M')),
    ...(disks.length > 0 ? { disks } : {}),
    ...(shares.length > 0 ? { shares } : {}),
  };
}

/**
 * `DIR`, `DIR,ro`, `DIR,tag=NAME` or both (QEMU's `-virtfs local,path=…,mount_tag=…,readonly=on` in
 * one word); DIR must be a directory. A tag is what `mount -t 9p` names: letters, digits, '_', '.', '-'.
 */
export function parseShareOption(text: string): ShareSpec {
  const [dir = '', ...options] = text.split(',');
  if (dir === '') throw new ImageError(`--share ${text}: no directory named`);
  let readOnly = false;
  let tag = DEFAULT_SHARE_TAG;
  for (const option of options) {
    if (option === 'ro') readOnly = true;
    else if (option.startsWith('tag=')) tag = option.slice(4);
    else throw new ImageError(`--share ${text}: unknown option "${option}" (ro and tag=NAME are known)`);
  }
  if (!/^[\w.-]{1,64}$/.test(tag))
    throw new ImageError(`--share ${text}: a tag has 1 to 64 letters, digits, '_', '.' or '-'`);
  const path = resolve(dir);
  if (!existsSync(path)) throw new ImageError(`--share ${text}: no such directory`);
  if (!statSync(path).isDirectory()) throw new ImageError(`--share ${text}: not a directory`);
  return { path, readOnly, tag };
}

/** The disk of image `name`, in directory `dir`: read lazily from its chunks, its writes kept in memory for the run. */
function imageDisk(dir: string, name: string): DiskSpec {
  return { path: dir, readOnly: false, chunked: readChunkedManifest(dir, `disk of image ${name}`) };
}

/**
 * The largest snapshot file the runner reads: Node reads a file into one buffer of at most 2 GiB, and
 * a snapshot (compressed RAM of at most 2 GiB plus disk blocks) is far smaller in practice.
 */
export const MAX_SNAPSHOT_FILE_BYTES = 2 ** 31 - 1;

/**
 * The bytes of `--snapshot path`: a regular file no larger than MAX_SNAPSHOT_FILE_BYTES. Asked before
 * reading, so a directory, a device (endless /dev/zero) or a FIFO (whose open waits for a writer) is
 * refused in one line instead of failing, filling memory or hanging.
 */
export function readSnapshotFile(path: string): Uint8Array {
  const what = `--snapshot ${path}`;
  let stats;
  try {
    stats = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ImageError(`${what}: no such file`);
    throw new ImageError(`${what}: ${(error as Error).message}`);
  }
  if (stats.isDirectory()) throw new ImageError(`${what}: a directory, not a snapshot file`);
  if (!stats.isFile()) {
    const kind = stats.isFIFO()
      ? 'a FIFO'
      : stats.isCharacterDevice()
        ? 'a character device'
        : stats.isBlockDevice()
          ? 'a block device'
          : 'a socket';
    throw new ImageError(`${what}: ${kind}, not a snapshot file`);
  }
  if (stats.size > MAX_SNAPSHOT_FILE_BYTES) {
    throw new ImageError(`${what}: ${(stats.size / 2 ** 30).toFixed(1)} GiB, larger than the 2 GiB the runner can read`);
  }
  try {
    const bytes = readFileSync(path);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  } catch (error) {
    throw new ImageError(`${what}: ${(error as Error).message}`);
  }
}

/** `path` or `path,ro`; the file must be a usable disk image (checked by opening it). */
export function parseDiskOption(text: string): DiskSpec {
  const match = /^(.*?)(,ro)?$/.exec(text)!;
  if (match[1] === '') throw new ImageError(`--disk ${text}: no file named`);
  const path = resolve(match[1]!);
  const readOnly = match[2] !== undefined;
  if (existsSync(path) && statSync(path).isDirectory()) return { path, readOnly, chunked: readChunkedManifest(path, `--disk ${text}`) };
  new FileDisk(path, readOnly).close();
  return { path, readOnly };
}

/** `what` names the disk in messages: `--disk <option>`, or `disk of image <name>`. */
function readChunkedManifest(dir: string, what: string): DiskImageManifest {
  const path = resolve(dir, 'manifest.json');
  if (!existsSync(path)) throw new ImageError(`${what}: a directory, but it has no manifest.json`);
  let manifest: { disk?: unknown };
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as { disk?: unknown };
  } catch (error) {
    throw new ImageError(`${what}: ${path} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof manifest.disk !== 'object' || manifest.disk === null) throw new ImageError(`${what}: ${path} has no "disk" field`);
  let disk: DiskImageManifest;
  try {
    disk = parseDiskImageManifest(manifest.disk);
    new ChunkedDisk({ manifest: disk, baseUrl: pathToFileURL(dir).href });
  } catch (error) {
    throw new ImageError(`${what}: ${(error as Error).message}`);
  }
  return disk;
}
