// One VM's image files alone, against a stubbed fetch: which image a VM names, one download kept for
// every later start, and a refusal for an image that is not there.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { VmImages } from './vm-images.ts';
import { CUSTOM_IMAGE_ID, ImageDownloadError } from './images.ts';

const bios = new Uint8Array(1000).fill(7);
const manifest = {
  name: 'outside',
  title: 'An image outside the catalog',
  files: { bios: { path: 'fw.bin', size: bios.length, sha256: createHash('sha256').update(bios).digest('hex') } },
  bootargs: 'console=ttyS0',
  memory: { default: 64, minimum: 16 },
};

afterEach(() => vi.unstubAllGlobals());

describe('VmImages', () => {
  it("downloads an embed's image once, reporting progress, and keeps it for every later boot", async () => {
    const fetch = vi.fn(async (input: string | URL | Request) =>
      String(input).endsWith('manifest.json') ? new Response(JSON.stringify(manifest)) : new Response(bios),
    );
    vi.stubGlobal('fetch', fetch);
    vi.stubGlobal('location', { href: 'http://host.test/' });
    const images = new VmImages({ image: 'outside', manifestUrl: 'http://host.test/outside/manifest.json' });
    expect(images.entry).toEqual({
      id: 'outside',
      title: 'outside',
      manifestUrl: 'http://host.test/outside/manifest.json',
    });
    expect(images.loaded).toBe(false);
    const progress = vi.fn();
    const files = await images.load(progress);
    expect(files.bios).toEqual(bios);
    expect(progress).toHaveBeenCalled();
    const calls = fetch.mock.calls.length;
    expect(await images.load()).toBe(files);
    expect(fetch.mock.calls.length).toBe(calls);
    expect(await images.boot(files)).toEqual({ images: files });
  });

  it('refuses an image it does not know, and a VM of its own files without an id', async () => {
    const unknown = new VmImages({ image: 'no-such-image' });
    expect(unknown.entry).toBeUndefined();
    await expect(unknown.load()).rejects.toThrow(new ImageDownloadError('unknown image "no-such-image"'));
    const own = new VmImages({ image: CUSTOM_IMAGE_ID });
    expect(own.entry?.id).toBe('default');
    await expect(own.boot({ manifest: manifest as never, bios })).rejects.toThrow(/needs an id/);
  });
});

describe('VmImages.snapshot', () => {
  const file = new Uint8Array(3000).fill(9);
  const withSnapshot = {
    ...manifest,
    snapshot: {
      path: 'snap.tabvm',
      size: file.length,
      sha256: createHash('sha256').update(file).digest('hex'),
      memory: 64,
    },
  };

  function serve(snapshotBytes: Uint8Array<ArrayBuffer>) {
    const fetch = vi.fn(async (input: string | URL | Request) => {
      const url = String(input);
      if (url.endsWith('manifest.json')) return new Response(JSON.stringify(withSnapshot));
      return new Response(url.endsWith('snap.tabvm') ? snapshotBytes : bios);
    });
    vi.stubGlobal('fetch', fetch);
    vi.stubGlobal('location', { href: 'http://host.test/' });
    return fetch;
  }

  it("fetches the image's pre-booted snapshot for a VM of the RAM it was taken with, and only then", async () => {
    const fetch = serve(file);
    const images = new VmImages({ image: 'outside', manifestUrl: 'http://host.test/outside/manifest.json' });
    const files = await images.load();
    expect(await images.snapshot(files, 64)).toEqual(file);
    expect(fetch.mock.calls.map(([url]) => String(url))).toContain('http://host.test/outside/snap.tabvm');
    expect(await images.snapshot(files, 128)).toBeUndefined();
    expect(
      await images.snapshot({ ...files, manifest: { ...files.manifest, snapshot: undefined } }, 64),
    ).toBeUndefined();
  });

  it('refuses a snapshot file that does not match the manifest', async () => {
    serve(new Uint8Array(file.length).fill(1));
    const images = new VmImages({ image: 'outside', manifestUrl: 'http://host.test/outside/manifest.json' });
    await expect(images.snapshot(await images.load(), 64)).rejects.toThrow(/snap\.tabvm: the download does not match/);
  });
});
