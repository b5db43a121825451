/**
 * The files one VM boots: its image from the catalog or an embed's manifest URL, downloaded once and
 * kept for every later start and restore, and for a VM of the user's own files, those files over the
 * default image's firmware and kernel (custom-image.ts).
 */
import {
  catalogEntry,
  CUSTOM_IMAGE_ID,
  fetchImage,
  fetchImageSnapshot,
  ImageDownloadError,
  type CatalogEntry,
  type DownloadProgress,
  type ImageFiles,
} from './images.ts';
import { customBoot } from './custom-image.ts';
import type { RawDisk } from './vm-disk.ts';

export interface VmImageOptions {
  /** The VM's id in the library; a VM of the user's own files has its files stored under it. */
  readonly id?: string;
  /** A catalog image's id, CUSTOM_IMAGE_ID, or with `manifestUrl` a name for an image outside the catalog. */
  readonly image: string;
  readonly manifestUrl?: string;
}

/** What a boot needs: the image's files, and the user's raw disk for a VM of their own files. */
export interface BootFiles {
  readonly images: ImageFiles;
  readonly raw?: RawDisk;
}

export class VmImages {
  readonly entry: CatalogEntry | undefined;
  readonly #options: VmImageOptions;
  #files: ImageFiles | undefined;

  constructor(options: VmImageOptions) {
    this.#options = options;
    const { image, manifestUrl } = options;
    // A VM of the user's own files boots with the default image's firmware and kernel (customBoot).
    this.entry =
      manifestUrl !== undefined
        ? { id: image, manifestUrl, title: image }
        : catalogEntry(image === CUSTOM_IMAGE_ID ? 'default' : image);
  }

  /** Whether the files are at hand (a later load() returns at once). */
  get loaded(): boolean {
    return this.#files !== undefined;
  }

  /**
   * The image's files, downloaded or from the cache; the first load reports its progress. Throws an
   * Error whose message says, for a person, which image could not be had and why.
   */
  async load(onProgress: (progress: DownloadProgress) => void = () => {}): Promise<ImageFiles> {
    if (this.#files) return this.#files;
    const entry = this.entry;
    if (!entry) throw new ImageDownloadError(`unknown image "${this.#options.image}"`);
    try {
      this.#files = await fetchImage(entry, onProgress);
    } catch (error) {
      if (error instanceof ImageDownloadError) throw error;
      throw new Error(`image ${entry.id}: ${(error as Error).message}`, { cause: error });
    }
    return this.#files;
  }

  /**
   * The image's pre-booted snapshot file, for a VM of `ramMiB` MiB that starts from the image (not one
   * of the user's own files): undefined when the image has none or it was taken with other RAM (a
   * restore keeps the snapshot's RAM size, and the VM's is what its owner chose). Throws an Error that
   * says why the file could not be had.
   */
  async snapshot(images: ImageFiles, ramMiB: number): Promise<Uint8Array | undefined> {
    const entry = this.entry;
    const snapshot = images.manifest.snapshot;
    if (!entry || this.#options.image === CUSTOM_IMAGE_ID || snapshot?.memory !== ramMiB) return undefined;
    return fetchImageSnapshot(entry, images.manifest);
  }

  /** The files a boot needs, once load() has them: the image's, or for a VM of the user's own files those with its raw disk. */
  async boot(images: ImageFiles): Promise<BootFiles> {
    if (this.#options.image !== CUSTOM_IMAGE_ID) return { images };
    if (this.#options.id === undefined) throw new Error("a VM of the user's own files needs an id");
    const boot = await customBoot(this.#options.id, images);
    return { images: boot.images, raw: { disk: boot.disk, identity: boot.identity, image: boot.image } };
  }
}
