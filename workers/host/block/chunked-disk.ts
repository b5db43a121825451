/**
 * A read-only disk served by a static web host as a chunked image (workers/protocol/disk-image.ts):
 * the VM fetches only the chunks its guest reads, when it first reads them. Each chunk file is gzip;
 * its uncompressed bytes must match the manifest's sha256, so a corrupt or truncated file never reaches
 * the guest. A failed fetch is retried with backoff; a chunk that keeps failing, or fails its checksum,
 * fails the guest's request (VIRTIO_BLK_S_IOERR, through BlockIoError) and is reported through
 * `onStatus`, so the page can say what happened. Chunks that are all zeros are not in the manifest
 * and are never fetched. Recently used chunks stay in a bounded cache.
 */
import {
  diskChunkPath,
  ManifestError,
  parseDiskImageManifest,
  type DiskChunkEntry,
  type DiskImageManifest,
  type DiskStatus,
} from '../../protocol/disk-image.ts';
import { InflateError, inflateToArray } from '../../protocol/inflate.ts';
import { BlockIoError, checkBlockRange, forEachBlock, type BlockBackend } from './backend.ts';

export interface ChunkedDiskOptions {
  readonly manifest: DiskImageManifest;
  /** Absolute URL of the directory holding the manifest; chunks are at `${baseUrl}/disk/NNNNNN.gz`. */
  readonly baseUrl: string;
  readonly fetch?: (url: string) => Promise<Response>;
  /** Waits between attempts of one chunk; one attempt more than entries. Default 250 ms, 1 s, 4 s. */
  readonly retryDelaysMs?: readonly number[];
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uncompressed bytes of chunks kept in memory; default 64 MiB. */
  readonly cacheBytes?: number;
  readonly onStatus?: (status: DiskStatus) => void;
  readonly id?: string;
}

const DEFAULT_RETRY_DELAYS_MS = [250, 1000, 4000];
const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/** A failure not worth retrying: the bytes arrived and are wrong. */
class ChunkCorrupt extends Error {}

export class ChunkedDisk implements BlockBackend {
  readonly size: number;
  readonly readOnly = true;
  readonly id: string;
  readonly #chunkSize: number;
  readonly #entries = new Map<number, DiskChunkEntry>();
  readonly #options: ChunkedDiskOptions;
  readonly #fetch: (url: string) => Promise<Response>;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #cacheLimit: number;
  /** Chunk index → its bytes (or the fetch in progress); Map order is least recently used first. */
  readonly #cache = new Map<number, Promise<Uint8Array>>();
  #status: DiskStatus;

  constructor(options: ChunkedDiskOptions) {
    // The manifest crossed a thread or came from a file: checked here again, by the page's own schema.
    let manifest: DiskImageManifest;
    try {
      manifest = parseDiskImageManifest(options.manifest);
    } catch (error) {
      if (error instanceof ManifestError) throw new BlockIoError(`disk image refused: ${error.message}`);
      throw error;
    }
    const { size, chunkSize } = manifest;
    for (const entry of manifest.chunks) this.#entries.set(entry.index, entry);
    this.size = size;
    this.#chunkSize = chunkSize;
    this.id = options.id ?? 'tabvm-disk';
    this.#options = options;
    this.#fetch = options.fetch ?? ((url) => fetch(url));
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#cacheLimit = Math.max(1, Math.floor((options.cacheBytes ?? DEFAULT_CACHE_BYTES) / chunkSize));
    this.#status = {
      downloadedBytes: 0,
      fetchedChunks: 0,
      totalBytes: manifest.chunks.reduce((n, c) => n + c.compressedSize, 0),
    };
  }

  get status(): DiskStatus {
    return this.#status;
  }

  async read(offset: number, into: Uint8Array): Promise<void> {
    checkBlockRange(this, offset, into.length);
    const parts: Promise<void>[] = [];
    forEachBlock(offset, into.length, this.#chunkSize, (index, within, at, n) => {
      const target = into.subarray(at, at + n);
      if (this.#entries.has(index))
        parts.push(this.#chunk(index).then((bytes) => target.set(bytes.subarray(within, within + n))));
      else target.fill(0);
    });
    await Promise.all(parts);
  }

  async write(): Promise<void> {
    throw new BlockIoError('the disk image is read-only');
  }

  async flush(): Promise<void> {}

  #chunk(index: number): Promise<Uint8Array> {
    const cached = this.#cache.get(index);
    if (cached) {
      this.#cache.delete(index);
      this.#cache.set(index, cached);
      return cached;
    }
    const loading = this.#load(this.#entries.get(index)!);
    this.#cache.set(index, loading);
    // A failure is not kept: the next read of the chunk tries again.
    loading.catch(() => {
      if (this.#cache.get(index) === loading) this.#cache.delete(index);
    });
    while (this.#cache.size > this.#cacheLimit) this.#cache.delete(this.#cache.keys().next().value!);
    return loading;
  }

  async #load(entry: DiskChunkEntry): Promise<Uint8Array> {
    const url = `${this.#options.baseUrl.replace(/\/$/, '')}/${diskChunkPath(entry.index)}`;
    const delays = this.#options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    let lastError = '';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await this.#sleep(delays[attempt - 1]!);
      try {
        const bytes = await this.#fetchVerified(url, entry);
        this.#update({ fetchedChunks: this.#status.fetchedChunks + 1 });
        return bytes;
      } catch (error) {
        lastError = error instanceof Error ? error.message : String(error);
        if (error instanceof ChunkCorrupt) break;
      }
    }
    const message = `disk chunk ${entry.index} could not be read: ${lastError}`;
    this.#update({ error: message });
    throw new BlockIoError(message);
  }

  async #fetchVerified(url: string, entry: DiskChunkEntry): Promise<Uint8Array> {
    const response = await this.#fetch(url);
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
    const compressed = await readAtMost(response, entry.compressedSize);
    this.#update({ downloadedBytes: this.#status.downloadedBytes + compressed.length });
    // Fewer bytes may be a broken transfer (tried again); more is the wrong file.
    if (compressed.length < entry.compressedSize)
      throw new Error(`${url} broke off after ${compressed.length} of ${entry.compressedSize} bytes`);
    if (compressed.length > entry.compressedSize)
      throw new ChunkCorrupt(`${url} is larger than the manifest's ${entry.compressedSize} bytes`);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      // A chunk inflates to its size and not a byte more: a gzip bomb stops there.
      bytes = await inflateToArray(compressed, 'gzip', this.#chunkSize);
    } catch (error) {
      if (!(error instanceof InflateError)) throw error;
      throw new ChunkCorrupt(
        error.reason === 'limit' ? `${url} inflates to more than ${this.#chunkSize} bytes` : `${url} is not valid gzip`,
      );
    }
    if (bytes.length !== this.#chunkSize)
      throw new ChunkCorrupt(`${url} holds ${bytes.length} bytes, not ${this.#chunkSize}`);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    if (hex !== entry.sha256) throw new ChunkCorrupt(`${url} fails its sha256 check`);
    return bytes;
  }

  #update(change: Partial<DiskStatus>): void {
    this.#status = { ...this.#status, ...change };
    this.#options.onStatus?.(this.#status);
  }
}

/** The body of `response`, read until `limit` + 1 bytes at most (one byte more tells that there was more). */
async function readAtMost(response: Response, limit: number): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(0);
  const out = new Uint8Array(limit + 1);
  let length = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const take = Math.min(value.length, out.length - length);
    out.set(value.subarray(0, take), length);
    length += take;
    if (length === out.length) {
      await reader.cancel();
      break;
    }
  }
  return out.subarray(0, length);
}
