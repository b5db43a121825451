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
