/**
 * `tsx scripts/fuzz/make-bombs.ts [--zeros]`: writes the snapshot bombs of e2e/untrusted-import.spec.ts
 * to tests/fuzz/bombs/*.tabvm.gz. Each is a 2 MiB snapshot file (2 GiB of zeros behind a header that
 * lies one way), gzipped for the repository (4 KiB); the spec, which may not import the app's code,
 * reads them as a person's files. With --zeros it first writes the streams they are made of (about 20 s):
 * zeros-2gib.zlib.gz, the zlib stream of 2 GiB of zeros, and zeros-1gib.gz.gz, the gzip member of 1 GiB
 * of zeros, each gzipped again. The same bytes every time.
 */
import { writeFileSync } from 'node:fs';
import { createDeflate, createGzip, gzipSync } from 'node:zlib';
import type { Transform } from 'node:stream';
import { frameSnapshot, snapshotHeader, zerosBomb } from '../../tests/fuzz/snapshot-frame.ts';

const MIB = 1024 * 1024;

/** `mib` MiB of zeros through `compressor`, fed a MiB at a time. */
async function zeros(compressor: Transform, mib: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  compressor.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => compressor.on('end', resolve));
  const block = Buffer.alloc(MIB);
  for (let i = 0; i < mib; i++) {
    if (!compressor.write(block)) await new Promise((resolve) => compressor.once('drain', resolve));
  }
  compressor.end();
  await ended;
  return Buffer.concat(chunks);
}

if (process.argv.includes('--zeros')) {
  const out = (name: string): URL => new URL(`../../tests/fuzz/bombs/${name}`, import.meta.url);
  writeFileSync(out('zeros-2gib.zlib.gz'), gzipSync(await zeros(createDeflate({ level: 9 }), 2048), { level: 9 }));
  writeFileSync(out('zeros-1gib.gz.gz'), gzipSync(await zeros(createGzip({ level: 9 }), 1024), { level: 9 }));
}
const bombs: Record<string, Record<string, unknown>> = {
  // 2 GiB of pages in 1 MiB of RAM: refused before inflating.
  'pages-beyond-ram': snapshotHeader({ ramSize: MIB, pages: 2 ** 19 }),
  // A consistent header (2 GiB of RAM, every page stored) over a page list of zeros.
  'list-of-zeros': snapshotHeader({ ramSize: 2048 * MIB, pages: 2 ** 19 - 1 }),
  // A header announcing 64 bytes of payload, over 2 GiB.
  'payload-past-its-size': snapshotHeader({ ramSize: MIB, pages: 0 }),
};
for (const [name, header] of Object.entries(bombs)) {
  const url = new URL(`../../tests/fuzz/bombs/${name}.tabvm.gz`, import.meta.url);
  writeFileSync(url, gzipSync(frameSnapshot(header, zerosBomb()), { level: 9 }));
}
