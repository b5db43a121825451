/**
 * Image download checks, against a stubbed fetch: a VM may only get files whose size and sha256 match
 * the manifest. Expected hashes are computed here with node:crypto, independently of crypto.subtle.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { fetchImage, ImageDownloadError, ImageNotBuiltError, loadManifest, type CatalogEntry } from './images.ts';

const entry: CatalogEntry = {
  id: 'test',
  title: 'Test image',
  manifestUrl: 'http://host.test/images/test/manifest.json',
};
const bios = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff);
const kernel = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function manifest(overrides: Record<string, unknown> = {}) {
  return {
    name: 'test',
    title: 'Test image',
    files: {
      bios: { path: 'fw.bin', size: bios.length, sha256: sha(bios) },
      kernel: { path: 'Image', size: kernel.length, sha256: sha(kernel) },
    },
    bootargs: 'console=ttyS0',
    memory: { default: 64, minimum: 32 },
    ...overrides,
  };
}

/** A fetch that serves the manifest and the files, each body in chunks, with optional damage. */
function serve(files: Record<string, Uint8Array>, manifestJson: unknown) {
  return vi.fn(async (input: string | URL | Request) => {
    const url = String(input);
    if (url.endsWith('/manifest.json')) return new Response(JSON.stringify(manifestJson));
    const name = url.slice(url.lastIndexOf('/') + 1);
    const bytes = files[name];
    if (!bytes) return new Response('missing', { status: 404 });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 1024) controller.enqueue(bytes.slice(i, i + 1024));
        controller.close();
      },
    });
    return new Response(stream);
  });
}

beforeEach(() => {
  vi.stubGlobal('location', { href: 'http://host.test/' });
});
afterEach(() => {
  vi.unstubAllGlobals();
});

describe('fetchImage', () => {
  it('returns verified files and reports progress up to the total of all files', async () => {
    vi.stubGlobal('fetch', serve({ 'fw.bin': bios, Image: kernel }, manifest()));
    const progress: Array<{ loaded: number; total: number }> = [];
    const image = await fetchImage(entry, (p) => progress.push(p));
    expect(image.bios).toEqual(bios);
    expect(image.kernel).toEqual(kernel);
    expect(image.initrd).toBeUndefined();
    expect(progress.at(-1)).toMatchObject({ loaded: 8000, total: 8000 });
    expect(progress.length).toBeGreaterThan(4);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]!.loaded).toBeGreaterThanOrEqual(progress[i - 1]!.loaded);
  });

  it('refuses a truncated file', async () => {
    vi.stubGlobal('fetch', serve({ 'fw.bin': bios, Image: kernel.subarray(0, 4000) }, manifest()));
    const failure = fetchImage(entry, () => {});
    await expect(failure).rejects.toBeInstanceOf(ImageDownloadError);
    await expect(failure).rejects.toThrow('Image: the download is truncated: 4000 of 5000 bytes');
  });

  it('refuses a file whose content does not match the sha256', async () => {
    const damaged = kernel.slice();
    damaged[100] = damaged[100]! ^ 1;
    vi.stubGlobal('fetch', serve({ 'fw.bin': bios, Image: damaged }, manifest()));
    await expect(fetchImage(entry, () => {})).rejects.toThrow(
      /Image: the download does not match the manifest's sha256/,
    );
  });

  it('refuses a file longer than the manifest says', async () => {
    const longer = new Uint8Array(6000);
    vi.stubGlobal('fetch', serve({ 'fw.bin': bios, Image: longer }, manifest()));
    await expect(fetchImage(entry, () => {})).rejects.toThrow(/more than the manifest's 5000 bytes/);
  });

  it('reports an HTTP error for a missing file', async () => {
    vi.stubGlobal('fetch', serve({ 'fw.bin': bios }, manifest()));
    await expect(fetchImage(entry, () => {})).rejects.toThrow('Image: the server answered HTTP 404');
  });
});

describe('fetchImage with a gzip variant', () => {
  const packed = gzipSync(kernel);
  const withGzip = (size = packed.length) =>
    manifest({
      files: {
        bios: { path: 'fw.bin', size: bios.length, sha256: sha(bios) },
        kernel: { path: 'Image', size: kernel.length, sha256: sha(kernel), gzip: { path: 'Image.gz', size } },
      },
    });

  it('fetches the compressed file instead, unpacks it and checks the file’s own sha256', async () => {
    const fetch = serve({ 'fw.bin': bios, 'Image.gz': packed }, withGzip());
    vi.stubGlobal('fetch', fetch);
    const progress: Array<{ loaded: number; total: number }> = [];
    const image = await fetchImage(entry, (p) => progress.push(p));
    expect(image.kernel).toEqual(kernel);
    expect(fetch.mock.calls.map(([url]) => String(url))).toEqual([
      'http://host.test/images/test/manifest.json',
      'http://host.test/images/test/fw.bin',
      'http://host.test/images/test/Image.gz',
    ]);
    expect(progress.at(-1)).toMatchObject({ loaded: 8000, total: 8000 });
  });

  it('refuses a compressed file that is not gzip, is cut short, unpacks to more or less, or is longer than said', async () => {
    const cases: Array<[Uint8Array, RegExp, number?]> = [
      [kernel, /Image\.gz: the download broke off or is not valid gzip/],
      [
        packed.subarray(0, packed.length - 20),
        /Image\.gz: the download is truncated: \d+ of \d+ bytes$/,
        packed.length,
      ],
      [
        gzipSync(new Uint8Array(kernel.length + 1)),
        /Image\.gz: it unpacks to more than the manifest's 5000 bytes of Image/,
      ],
      [packed, /Image\.gz: the server sent more than the manifest's 100 bytes/, 100],
      [gzipSync(kernel.subarray(0, 4000)), /Image\.gz: the download is truncated: 4000 of 5000 bytes of Image/],
    ];
    for (const [served, message, size] of cases) {
      vi.stubGlobal('fetch', serve({ 'fw.bin': bios, 'Image.gz': served }, withGzip(size ?? served.length)));
      const failure = fetchImage(entry, () => {});
      await expect(failure, String(message)).rejects.toBeInstanceOf(ImageDownloadError);
      await expect(failure, String(message)).rejects.toThrow(message);
    }
  });
});

describe('loadManifest', () => {
  it('names the field that does not validate', async () => {
    const bad = manifest();
    (bad.files.bios as { sha256: string }).sha256 = 'XYZ';
    vi.stubGlobal('fetch', serve({}, bad));
    await expect(loadManifest(entry)).rejects.toThrow(/manifest field files\.bios\.sha256/);
  });

  it('refuses file paths that leave the image directory', async () => {
    const bad = manifest();
    (bad.files.bios as { path: string }).path = '../secret';
    vi.stubGlobal('fetch', serve({}, bad));
    await expect(loadManifest(entry)).rejects.toThrow(/files\.bios\.path/);
  });

  it('accepts the committed default image manifest', async () => {
    const { readFileSync } = await import('node:fs');
    const json: unknown = JSON.parse(readFileSync('public/images/default/manifest.json', 'utf8'));
    vi.stubGlobal('fetch', serve({}, json));
    const m = await loadManifest(entry);
    expect(m.memory.minimum).toBeGreaterThan(0);
    expect(m.files.kernel?.path).toBe('Image');
  });

  describe('with a chunked disk', () => {
    const disk = (overrides: Record<string, unknown> = {}) => ({
      format: 'tabvm-chunked-disk-v1',
      size: 4 * 65536,
      chunkSize: 65536,
      chunks: [
        { index: 0, sha256: sha(bios), compressedSize: 100 },
        { index: 3, sha256: sha(kernel), compressedSize: 200 },
      ],
      ...overrides,
    });

    it('accepts a valid disk field', async () => {
      vi.stubGlobal('fetch', serve({}, manifest({ disk: disk({ readOnly: true }) })));
      const m = await loadManifest(entry);
      expect(m.disk?.chunks.map((c) => c.index)).toEqual([0, 3]);
      expect(m.disk?.readOnly).toBe(true);
    });

    it.each([
      ['an unknown format', { format: 'other' }, /disk\.format/],
      ['a chunk size that is not a power of two', { chunkSize: 3 * 512 }, /disk\.chunkSize/],
      ['a size that is not whole chunks', { size: 65536 * 4 + 512 }, /disk\.size/],
      [
        'chunks out of order',
        {
          chunks: [
            { index: 3, sha256: sha(bios), compressedSize: 1 },
            { index: 1, sha256: sha(bios), compressedSize: 1 },
          ],
        },
        /disk\.chunks\.1\.index/,
      ],
      [
        'a chunk past the end',
        { chunks: [{ index: 4, sha256: sha(bios), compressedSize: 1 }] },
        /disk\.chunks\.0\.index/,
      ],
      ['a bad checksum', { chunks: [{ index: 0, sha256: 'abc', compressedSize: 1 }] }, /disk\.chunks\.0\.sha256/],
    ])('refuses %s', async (_what, override, field) => {
      vi.stubGlobal('fetch', serve({}, manifest({ disk: disk(override) })));
      await expect(loadManifest(entry)).rejects.toThrow(field);
    });
  });
});

describe('images that are not built', () => {
  const debian: CatalogEntry = {
    id: 'big',
    title: 'Big image',
    manifestUrl: 'http://host.test/images/big/manifest.json',
    buildCommand: 'sudo npm run image:big',
  };

  it('says how to build an image whose manifest is missing (404)', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('not found', { status: 404 })),
    );
    const failure = loadManifest(debian);
    await expect(failure).rejects.toBeInstanceOf(ImageNotBuiltError);
    await expect(failure).rejects.toThrow(
      'Big image is not on this server. Build it with `sudo npm run image:big`, then reload the page.',
    );
  });

  it("takes a dev server's HTML fallback page for a missing manifest", async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('<!doctype html>', { headers: { 'content-type': 'text/html; charset=utf-8' } })),
    );
    await expect(loadManifest(debian)).rejects.toBeInstanceOf(ImageNotBuiltError);
  });

  it('keeps other HTTP errors apart from "not built"', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => new Response('oops', { status: 500 })),
    );
    const failure = loadManifest(debian);
    await expect(failure).rejects.not.toBeInstanceOf(ImageNotBuiltError);
    await expect(failure).rejects.toThrow('image big: the manifest answered HTTP 500');
  });
});
