import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressImageFiles } from './compress-image-files.ts';
import { parseImageManifest } from '../../workers/protocol/image-manifest.ts';

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('compressImageFiles', () => {
  it('adds a gzip variant for the files gzip shrinks, and leaves compressed and incompressible ones alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabvm-images-'));
    dirs.push(dir);
    mkdirSync(join(dir, 'test'));
    const kernel = new Uint8Array(64 * 1024).map((_, i) => (i % 97) & 0xff);
    const bios = Uint8Array.from(createHash('sha512').update('x').digest()).slice(0, 64);
    const initrd = gzipSync(kernel);
    const files = { Image: kernel, 'fw.bin': bios, 'initrd.gz': initrd };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, 'test', name), bytes);
    const entry = (path: keyof typeof files) => ({ path, size: files[path].length, sha256: sha(files[path]) });
    const manifest = {
      name: 'test',
      title: 'Test',
      files: { bios: entry('fw.bin'), kernel: entry('Image'), initrd: entry('initrd.gz') },
      bootargs: '',
      memory: { default: 64, minimum: 16 },
    };
    writeFileSync(join(dir, 'test', 'manifest.json'), JSON.stringify(manifest));

    const written = compressImageFiles(dir);
    expect(written.map((file) => file.path)).toEqual(['Image']);
    const result = parseImageManifest(JSON.parse(readFileSync(join(dir, 'test', 'manifest.json'), 'utf8')));
    expect(result.files.kernel).toEqual({ ...entry('Image'), gzip: { path: 'Image.gz', size: written[0]!.gzipSize } });
    expect(result.files.bios.gzip).toBeUndefined();
    expect(result.files.initrd!.gzip).toBeUndefined();
    const packed = readFileSync(join(dir, 'test', 'Image.gz'));
    expect(packed.length).toBe(written[0]!.gzipSize);
    expect(new Uint8Array(gunzipSync(packed))).toEqual(kernel);
    // A second run (the same dist) adds nothing.
    expect(compressImageFiles(dir)).toEqual([]);
  });
});
