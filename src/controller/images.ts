/**
 * The image catalog, and getting an image's files into memory exactly as its manifest describes them.
 * Files are fetched once and kept in Cache Storage under a key that includes their sha256, so a second
 * start downloads nothing and a changed image is fetched anew. Every file is checked against the
 * manifest's size and sha256 (crypto.subtle) before a VM may use it: a failed or truncated download is an
 * ImageDownloadError, never a VM booted on a partial image.
 */
import { ManifestError } from '../../workers/protocol/disk-image.ts';
import { parseImageManifest, type ImageManifest } from '../../workers/protocol/image-manifest.ts';

// The schema is the one the worker and the command line use too.
export { ImageManifestSchema, type ImageManifest } from '../../workers/protocol/image-manifest.ts';
type FileRole = keyof ImageManifest['files'];

/** The most RAM the app offers a VM, in MiB (one definition for the dialog, the embed, the CLI and snapshots). */
export { MAX_RAM_MIB } from '../../workers/protocol/machine-limits.ts';

export interface CatalogEntry {
  readonly id: string;
  /** What the dialog calls the image before its manifest is read (and when it cannot be). */
  readonly title: string;
  readonly manifestUrl: string;
  /** For an image too big to ship with the app: the command that builds it into public/images/. */
  readonly buildCommand?: string;
  /** Whether the image boots from a disk (its manifest has `disk`), which the VM's overlay writes over. */
  readonly hasDisk?: boolean;
}

/** Images the New VM dialog offers. public/ is served at the app's base URL. */
export const IMAGE_CATALOG: readonly CatalogEntry[] = [
  {
    id: 'default',
    title: 'tabvm default (busybox)',
    manifestUrl: `${import.meta.env.BASE_URL}images/default/manifest.json`,
  },
  {
    id: 'debian',
    title: 'Debian 13 (trixie)',
    manifestUrl: `${import.meta.env.BASE_URL}images/debian/manifest.json`,
    buildCommand: 'sudo npm run image:debian',
    hasDisk: true,
  },
];

/** The image id of VMs made from the user's own files (src/controller/custom-image.ts). */
export const CUSTOM_IMAGE_ID = 'custom';

/** Whether VMs of this image have a disk of their own (the user's own disk image always does). */
export function imageHasDisk(id: string): boolean {
  return id === CUSTOM_IMAGE_ID || catalogEntry(id)?.hasDisk === true;
}

export class ImageDownloadError extends Error {
  override name = 'ImageDownloadError';
}

/** The server has no such image: its manifest answers 404 (or a dev server's HTML fallback page). */
export class ImageNotBuiltError extends ImageDownloadError {
  override name = 'ImageNotBuiltError';
}

export interface ImageFiles {
  readonly manifest: ImageManifest;
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
}

export interface DownloadProgress {
  readonly loaded: number;
  readonly total: number;
  /** True when every file came from the cache. */
  readonly cached: boolean;
}

const CACHE_NAME = 'tabvm-images-v1';

export async function loadManifest(entry: CatalogEntry): Promise<ImageManifest> {
  let response: Response;
  try {
    response = await fetch(entry.manifestUrl, { cache: 'no-cache' });
  } catch (error) {
    throw new ImageDownloadError(`image ${entry.id}: the manifest could not be fetched (${(error as Error).message})`);
  }
  // Vite's dev server and many static hosts answer a missing file with the app's index.html.
  if (response.status === 404 || (response.ok && response.headers.get('content-type')?.startsWith('text/html'))) {
    const how = entry.buildCommand ? ` Build it with \`${entry.buildCommand}\`, then reload the page.` : '';
    throw new ImageNotBuiltError(`${entry.title} is not on this server.${how}`);
  }
  if (!response.ok) throw new ImageDownloadError(`image ${entry.id}: the manifest answered HTTP ${response.status}`);
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    throw new ImageDownloadError(`image ${entry.id}: the manifest is not JSON`);
  }
  try {
    return parseImageManifest(json);
  } catch (error) {
    if (error instanceof ManifestError) throw new ImageDownloadError(`image ${entry.id}: ${error.message}`);
    throw error;
  }
}

export function catalogEntry(id: string): CatalogEntry | undefined {
  return IMAGE_CATALOG.find((entry) => entry.id === id);
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The absolute URL of the directory holding an image's manifest (a chunked disk's base URL). */
export function imageDirectoryUrl(entry: CatalogEntry): string {
  return new URL('.', new URL(entry.manifestUrl, location.href)).href;
}

/**
 * Names the disk an overlay was written over: the image and a digest of its chunk list, so a rebuilt
 * image with other contents is told apart from the one the overlay's blocks belong to.
 */
export async function diskIdentity(manifest: ImageManifest): Promise<string | undefined> {
  if (!manifest.disk) return undefined;
  const digest = await sha256Hex(new TextEncoder().encode(JSON.stringify(manifest.disk)));
  return `${manifest.name}:${digest}`;
}

function fileUrl(entry: CatalogEntry, path: string): string {
  return new URL(path, new URL(entry.manifestUrl, location.href)).href;
}

async function openCache(): Promise<Cache | undefined> {
  try {
    return typeof caches === 'undefined' ? undefined : await caches.open(CACHE_NAME);
  } catch {
    return undefined; // private windows may refuse storage; the image is then fetched each time
  }
}

/** Fetches (or reads from the cache) every file of an image, verified; progress counts bytes of all files. */
export async function fetchImage(
  entry: CatalogEntry,
  onProgress: (progress: DownloadProgress) => void,
  signal?: AbortSignal,
): Promise<ImageFiles> {
  const manifest = await loadManifest(entry);
  const roles = (['bios', 'kernel', 'initrd'] as const).filter((role) => manifest.files[role] !== undefined);
  const total = roles.reduce((sum, role) => sum + manifest.files[role]!.size, 0);
  const cache = await openCache();
  let loaded = 0;
  let allCached = true;
  const out: Partial<Record<FileRole, Uint8Array>> = {};
  for (const role of roles) {
    const before = loaded;
    const got = await fetchVerified(
      entry,
      manifest.files[role]!,
      cache,
      (n) => {
        onProgress({ loaded: before + n, total, cached: false });
      },
      signal,
    );
    loaded += got.bytes.length;
    if (got.cached) onProgress({ loaded, total, cached: allCached });
    else allCached = false;
    out[role] = got.bytes;
  }
  return {
    manifest,
    bios: out.bios!,
    ...(out.kernel ? { kernel: out.kernel } : {}),
    ...(out.initrd ? { initrd: out.initrd } : {}),
  };
}

type ManifestFile = ImageManifest['files']['bios'];

/**
 * One file of an image, from the cache (if it still matches the manifest) or downloaded, checked against
 * the manifest's size and sha256 and then cached. `onBytes` counts a download's bytes.
 */
async function fetchVerified(
  entry: CatalogEntry,
  file: ManifestFile,
  cache: Cache | undefined,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; cached: boolean }> {
  const url = fileUrl(entry, file.path);
  const cacheKey = `${url}?sha256=${file.sha256}`;
  const hit = await cache?.match(cacheKey);
  if (hit) {
    const cachedBytes = new Uint8Array(await hit.arrayBuffer());
    if (cachedBytes.length === file.size && (await sha256Hex(cachedBytes)) === file.sha256)
      return { bytes: cachedBytes, cached: true };
    await cache?.delete(cacheKey);
  }
  const bytes = await download(url, file, onBytes, signal);
  const hash = await sha256Hex(bytes);
  if (hash !== file.sha256) {
    throw new ImageDownloadError(
      `${file.path}: the download does not match the manifest's sha256 (got ${hash.slice(0, 12)}…)`,
    );
  }
  await cache?.put(
    cacheKey,
    new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } }),
  );
  return { bytes, cached: false };
}

/**
 * The image's pre-booted snapshot file (manifest `snapshot`), from the cache or downloaded, checked like
 * the boot files; undefined if the manifest names none.
 */
export async function fetchImageSnapshot(
  entry: CatalogEntry,
  manifest: ImageManifest,
): Promise<Uint8Array | undefined> {
  if (!manifest.snapshot) return undefined;
  return (await fetchVerified(entry, manifest.snapshot, await openCache(), () => {})).bytes;
}

/**
 * The file's bytes, exactly `file.size` of them or an ImageDownloadError. A file with a `gzip` variant
 * (and a browser with DecompressionStream) is fetched compressed and decompressed as it arrives; the
 * compressed stream may neither be longer than its own size nor unpack to more than the file's, so a
 * bad or hostile server costs at most the manifest's sizes.
 */
async function download(
  url: string,
  file: ManifestFile,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const gzip = file.gzip && typeof DecompressionStream === 'function' ? file.gzip : undefined;
  const name = gzip ? gzip.path : file.path;
  let response: Response;
  try {
    response = await fetch(gzip ? new URL(gzip.path, url).href : url, {
      cache: 'no-store',
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    throw new ImageDownloadError(`${name}: the download failed (${(error as Error).message})`);
  }
  if (!response.ok || !response.body)
    throw new ImageDownloadError(`${name}: the server answered HTTP ${response.status}`);
  let body: ReadableStream<Uint8Array> = response.body;
  let compressed = 0;
  if (gzip) {
    body = body
      .pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            compressed += chunk.length;
            if (compressed > gzip.size)
              throw new ImageDownloadError(`${name}: the server sent more than the manifest's ${gzip.size} bytes`);
            controller.enqueue(chunk);
          },
        }),
      )
      .pipeThrough(new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>);
  }
  const bytes = new Uint8Array(file.size);
  let received = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (received + value.length > file.size) {
        throw new ImageDownloadError(
          gzip
            ? `${name}: it unpacks to more than the manifest's ${file.size} bytes of ${file.path}`
            : `${name}: the server sent more than the manifest's ${file.size} bytes`,
        );
      }
      bytes.set(value, received);
      received += value.length;
      onBytes(received);
    }
  } catch (error) {
    void reader.cancel().catch(() => {});
    if (error instanceof ImageDownloadError) throw error;
    // A compressed stream that stopped short fails in the decompressor: say what happened, not how.
    if (gzip && compressed < gzip.size)
      throw new ImageDownloadError(`${name}: the download is truncated: ${compressed} of ${gzip.size} bytes`);
    throw new ImageDownloadError(
      gzip
        ? `${name}: the download broke off or is not valid gzip, after ${received} of ${file.size} bytes of ${file.path} (${(error as Error).message})`
        : `${name}: the download broke off after ${received} of ${file.size} bytes (${(error as Error).message})`,
    );
  }
  if (received !== file.size) {
    throw new ImageDownloadError(
      `${name}: the download is truncated: ${received} of ${file.size} bytes${gzip ? ` of ${file.path}` : ''}`,
    );
  }
  return bytes;
}
