/**
 * `tsx scripts/chunk-disk-image.ts <disk.img> <out-dir> [--chunk-size BYTES]`
 *
 * Used by scripts/build-debian-image.sh: writes the chunk files of a raw disk image into <out-dir>/disk/
 * (format: workers/protocol/disk-image.ts) and prints the DiskImageManifest as JSON on stdout.
 */
import { Command } from 'commander';
import { chunkDiskImage } from './lib/chunk-disk.ts';

const program = new Command()
  .name('chunk-disk-image')
  .argument('<image>', 'raw disk image; its size must be a multiple of the chunk size')
  .argument('<out-dir>', 'directory that receives disk/NNNNNN.gz')
  .option('--chunk-size <bytes>', 'bytes per chunk, a power of two', '65536')
  .showHelpAfterError();
program.parse();

const [image, outDir] = program.args as [string, string];
try {
  const manifest = chunkDiskImage(image, outDir, Number(program.opts<{ chunkSize: string }>().chunkSize));
  process.stdout.write(`${JSON.stringify(manifest)}\n`);
} catch (error) {
  process.stderr.write(`chunk-disk-image: ${(error as Error).message}\n`);
  process.exit(2);
}
