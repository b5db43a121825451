/**
 * A VM's disk as a boot request describes it (workers/protocol/vm-api.ts): the base image — chunked
 * over HTTP, or raw bytes — under a copy-on-write overlay that starts from the saved blocks and hands
 * new ones to the host. Shared by the browser worker and the Node runner.
 */
import type { DiskStatus } from '../../protocol/disk-image.ts';
import type { VmDiskRequest } from '../../protocol/vm-api.ts';
import type { BlockBackend } from './backend.ts';
import { ChunkedDisk } from './chunked-disk.ts';
import { MemoryDisk } from './memory-disk.ts';
import { OverlayDisk } from './overlay-disk.ts';

export interface VmDiskPorts {
  /** Keeps written overlay blocks (the host, over the disks channel); without it the overlay lives in memory only. */
  readonly diskWrites?: (blocks: ReadonlyMap<number, Uint8Array>) => Promise<void>;
  /** Download progress and failures, at most every STATUS_INTERVAL_MS. */
  readonly diskStatus?: (status: DiskStatus) => void;
  /** How chunk files are fetched (default: the global fetch). */
  readonly fetch?: (url: string) => Promise<Response>;
}

/** Status changes come with every chunk; the host hears of them at most this often. */
export const STATUS_INTERVAL_MS = 250;

export function openVmDisk(request: VmDiskRequest, ports: VmDiskPorts): OverlayDisk {
  let base: BlockBackend;
  const source = request.source;
  if (source.kind === 'file') {
    throw new Error(`the disk file ${source.path} is opened by the runner, not under an overlay`);
  } else if (source.kind === 'raw') {
    base = new MemoryDisk(source.bytes, true, 'tabvm-upload');
  } else {
    let latest: DiskStatus | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const report = ports.diskStatus;
    base = new ChunkedDisk({
      manifest: source.manifest,
      baseUrl: source.baseUrl,
      ...(ports.fetch ? { fetch: ports.fetch } : {}),
      ...(report
        ? {
            onStatus: (status: DiskStatus) => {
              latest = status;
              timer ??= setTimeout(() => {
                timer = undefined;
                report(latest!);
              }, STATUS_INTERVAL_MS);
            },
          }
        : {}),
    });
  }
  const persist = ports.diskWrites;
  return new OverlayDisk(base, {
    saved: request.overlay,
    ...(request.image !== undefined ? { image: request.image } : {}),
    ...(persist ? { persistence: { persist } } : {}),
  });
}
