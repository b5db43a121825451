/**
 * Small snapshot files for tests of the code that stores, restores, imports and clones them: a blank
 * hart, the RAM pages and disks a test gives, and nothing else.
 */
import { encodeSnapshotFile, type SnapshotDisk } from '../../workers/protocol/snapshot-container.ts';
import type { SnapshotImageIdentity } from '../../workers/protocol/snapshot-format.ts';

export interface TestSnapshotOptions {
  readonly id: string;
  readonly parent?: string | null;
  readonly ramSize?: number;
  readonly bios?: SnapshotImageIdentity;
  readonly kernel?: SnapshotImageIdentity;
  /** Guest page numbers stored, with their bytes (SNAPSHOT_PAGE_SIZE each); none by default. */
  readonly pages?: Uint32Array;
  readonly pageData?: Uint8Array;
  readonly disks?: readonly SnapshotDisk[];
}

export function testSnapshotFile(options: TestSnapshotOptions): Promise<Uint8Array<ArrayBuffer>> {
  return encodeSnapshotFile(
    {
      id: options.id,
      parent: options.parent ?? null,
      machine: { ramSize: options.ramSize ?? 1 << 20, harts: 1, bootargs: '' },
      images: {
        bios: options.bios ?? { size: 1, sha256: '0'.repeat(64) },
        kernel: options.kernel ?? null,
        initrd: null,
      },
      createdAt: new Date(0).toISOString(),
      devices: {},
    },
    {
      cpu: [new Uint8Array(64)],
      pages: options.pages ?? new Uint32Array(0),
      zeroed: new Uint32Array(0),
      pageData: options.pageData ?? new Uint8Array(0),
      disks: options.disks ?? [],
    },
  );
}

/** A whole overlay of one 4 KiB block (index `block`, every byte `fill`) over a disk of `size` bytes. */
export function testSnapshotDisk(size: number, image?: string, block = 5, fill = 1): SnapshotDisk {
  return {
    size,
    blockSize: 4096,
    indices: Uint32Array.of(block),
    data: new Uint8Array(4096).fill(fill),
    removed: new Uint32Array(0),
    whole: true,
    ...(image !== undefined ? { image } : {}),
  };
}
