/**
 * An image's manifest.json (scripts/build-default-image.sh, scripts/build-debian-image.sh): the boot
 * files with their sizes and sha256, the kernel command line, the memory it wants and, for an image on a
 * disk, the chunked disk (disk-image.ts). One schema for every reader: the page's catalog
 * (src/controller/images.ts), the worker (through the disk manifest it is handed) and the command line
 * (scripts/lib/vm-options.ts). A manifest comes from any server or directory: every number is checked to
 * be an integer in range, and the sizes agree with each other, before anything is fetched or allocated.
 */
import { z } from 'zod';
import { DiskImageManifestSchema, ManifestError, describeManifestIssue } from './disk-image.ts';
import { MAX_RAM_MIB, MIB, MIN_RAM_MIB } from './machine-limits.ts';

/** The largest boot file: it is loaded into RAM whole. */
export const MAX_BOOT_FILE_BYTES = MAX_RAM_MIB * MIB;

const FileName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^/\\]+$/, 'a file name without directories')
  .refine((name) => name !== '.' && name !== '..', 'a file name without directories');

const FileEntry = z.object({
  path: FileName,
  size: z.number().int().positive().max(MAX_BOOT_FILE_BYTES),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
  /**
   * The same file gzip-compressed beside it, which a browser fetches instead and decompresses
   * (`scripts/lib/compress-image-files.ts` adds it to the built app's copy): `size` and `sha256` stay the
   * file's own, checked after decompression; this `size` is the compressed file's.
   */
  gzip: z.object({ path: FileName, size: z.number().int().positive().max(MAX_BOOT_FILE_BYTES) }).optional(),
});

/** RAM an image asks for, in MiB: a size a VM may have (machine-limits.ts). */
const MemoryMib = z.number().int().min(MIN_RAM_MIB).max(MAX_RAM_MIB);

/** The largest pre-booted snapshot file: a full snapshot holds at most the RAM and a disk overlay. */
export const MAX_IMAGE_SNAPSHOT_BYTES = 2 * MAX_RAM_MIB * MIB;

const SnapshotEntry = FileEntry.extend({
  size: z.number().int().positive().max(MAX_IMAGE_SNAPSHOT_BYTES),
  memory: MemoryMib,
});

export const ImageManifestSchema = z
  .object({
    name: z.string().min(1).max(200),
    title: z.string().min(1).max(200),
    files: z.object({ bios: FileEntry, kernel: FileEntry.optional(), initrd: FileEntry.optional() }),
    bootargs: z.string().max(4096),
    memory: z.object({ default: MemoryMib, minimum: MemoryMib }),
    kernelRelease: z.string().max(200).optional(),
    /** A chunked virtio-blk disk whose files sit beside the manifest (disk/NNNNNN.gz); the guest's /dev/vda. */
    disk: DiskImageManifestSchema.optional(),
    /**
     * A full snapshot of the image booted to its prompt, beside the manifest, taken with `memory` MiB of
     * RAM (scripts/make-debian-snapshot.ts): a new VM of that size starts from it instead of booting.
     */
    snapshot: SnapshotEntry.optional(),
  })
  .superRefine((manifest, context) => {
    if (manifest.memory.minimum > manifest.memory.default) {
      context.addIssue({ code: 'custom', path: ['memory', 'minimum'], message: 'at most memory.default' });
    }
    const { bios, kernel, initrd } = manifest.files;
    const boot = bios.size + (kernel?.size ?? 0) + (initrd?.size ?? 0);
    if (boot > manifest.memory.default * MIB) {
      context.addIssue({
        code: 'custom',
        path: ['files'],
        message: `boot files of ${boot} bytes do not fit in memory.default (${manifest.memory.default} MiB)`,
      });
    }
  });
export type ImageManifest = z.infer<typeof ImageManifestSchema>;

/** Checks a manifest from anywhere; throws ManifestError with a plain sentence when it is unsound. */
export function parseImageManifest(json: unknown): ImageManifest {
  const parsed = ImageManifestSchema.safeParse(json);
  if (!parsed.success) throw new ManifestError(describeManifestIssue(parsed.error));
  return parsed.data;
}
