/**
 * The built app's images, made smaller to download: each boot file and pre-booted snapshot of each
 * image's manifest under `<outDir>/images/` that gzip shrinks by at least MIN_SAVING gets a `.gz` beside
 * it, named in the manifest as the entry's `gzip` variant (workers/protocol/image-manifest.ts), which the
 * page fetches and decompresses instead (src/controller/images.ts). The kernel `Image` halves (4.5 MiB to
 * 2.5); OpenSBI shrinks to a third; files already compressed (the initramfs) or nearly incompressible
 * (a snapshot, whose pages are stored compressed) are left alone. The Node runner and QEMU read
 * public/images/ and never see these. Runs after `vite build` (vite.config.ts), on the copy only.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, gzipSync } from 'node:zlib';
import { parseImageManifest } from '../../workers/protocol/image-manifest.ts';

/** gzip must save at least this share of a file for its variant to be worth a second file. */
export const MIN_SAVING = 0.1;

export interface CompressedFile {
  readonly image: string;
  readonly path: string;
  readonly size: number;
  readonly gzipSize: number;
}

/** Compresses the files of every image under `imagesDir`; returns what it wrote. */
export function compressImageFiles(imagesDir: string): CompressedFile[] {
  const written: CompressedFile[] = [];
  if (!existsSync(imagesDir)) return written;
  for (const image of readdirSync(imagesDir)) {
    const manifestPath = join(imagesDir, image, 'manifest.json');
    if (!existsSync(manifestPath)) continue;
    const json = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      files: Record<string, Entry | undefined>;
      snapshot?: Entry;
    };
    parseImageManifest(json);
    const entries = [...Object.values(json.files), json.snapshot].filter((entry): entry is Entry => !!entry);
    for (const entry of entries) {
      if (entry.gzip || entry.path.endsWith('.gz')) continue;
      const bytes = readFileSync(join(imagesDir, image, entry.path));
      const packed = gzipSync(bytes, { level: constants.Z_BEST_COMPRESSION });
      if (packed.length > bytes.length * (1 - MIN_SAVING)) continue;
      const path = `${entry.path}.gz`;
      writeFileSync(join(imagesDir, image, path), packed);
      entry.gzip = { path, size: packed.length };
      written.push({ image, path: entry.path, size: bytes.length, gzipSize: packed.length });
    }
    parseImageManifest(json);
    writeFileSync(manifestPath, `${JSON.stringify(json, null, 2)}\n`);
  }
  return written;
}

interface Entry {
  path: string;
  gzip?: { path: string; size: number };
}
