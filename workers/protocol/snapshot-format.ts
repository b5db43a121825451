/**
 * The snapshot file format (DESIGN.md §4, "Snapshot = a versioned container"): what the worker writes,
 * what storage keeps and export/import moves. Shared by both sides; the container codec (checks,
 * compression, merging a chain) is workers/protocol/snapshot-container.ts, capture and restore of a
 * machine are workers/machine/snapshot.ts.
 *
 * Layout, all integers little-endian:
 *
 *   offset      size  field
 *   0           8     magic, ASCII "TABVMSNP"
 *   8           4     u32 format version (SNAPSHOT_FORMAT_VERSION)
 *   12          4     u32 H: length of the header JSON
 *   16          8     u64 P: length of the payload
 *   24          H     header: UTF-8 JSON, a SnapshotHeader (ids, machine config, image identity, device states)
 *   24+H        P     payload: zlib "deflate" stream (RFC 1950) of the raw payload below
 *   24+H+P      32    SHA-256 of every byte before it
 *
 * Raw payload (before compression), in this order:
 *   cpu.harts × cpu.blockSize bytes   each hart's state block (workers/cpu/layout.ts), a byte copy
 *   ram.pages × u32                   guest page numbers (physical address = DRAM base + n × 4 KiB), ascending
 *   ram.zeroedPages × u32             page numbers that are all zeroes now (a child snapshot only), ascending
 *   ram.imagePages × u32              page numbers holding boot image bytes (a full snapshot only), ascending
 *   ram.pages × 4096 bytes            the listed pages' contents
 *   then for each disk d:
 *   disks[d].blocks × u32             indices of the overlay blocks stored, ascending
 *   disks[d].removedBlocks × u32      indices of blocks no longer in the overlay (a child only), ascending
 *   disks[d].blocks × blockSize bytes the stored blocks' contents
 *
 * A full snapshot (`parent` null) lists every non-zero page, either stored or, when the page still holds
 * exactly the bytes a boot image was loaded with (the kernel's code, mostly), as an image page: a
 * restore has the images anyway (it checks them by SHA-256), and copies those pages from the image as
 * the header's `imageLoads` say where each image was loaded; every page not listed is all zeroes. A
 * child snapshot (`parent` = the id of another snapshot) lists only the pages whose contents differ from
 * its parent's, and the pages that were non-zero in the parent and are zero now; every other page is as
 * in the parent. Restoring a child needs its chain back to a full snapshot.
 *
 * Disks work the same way. A disk marked `whole` stores its entire copy-on-write overlay: every block not
 * listed reads as the disk's image (always so in a full snapshot). Otherwise (a child) it stores only the
 * overlay blocks that are new or were rewritten since the parent, and lists the parent's blocks that
 * left the overlay (a disk discarded meanwhile); every other block is as in the parent. Removing a
 * block the parent does not hold changes nothing, so merged chains may list such blocks.
 *
 * A reader refuses a file whose magic, version, lengths or checksum do not match before it parses
 * anything; the version is checked before the checksum, because a newer format may place it differently.
 *
 * A disk's `image` (the identity of its base image) is an optional field of format 3, not a new version:
 * the layout is unchanged, a reader that predates it ignores it (and checks the size, as it always did),
 * and this reader takes a file without it as one of unknown identity, checked by size only.
 *
 * History: version 1 (no ids, no child snapshots, no disks) was never stored by a release; it is refused.
 * Version 2 stored every disk whole, also in a child (disk records `v: 1`, no removed list) and had no
 * image pages: it is still read, each of its disks as `whole`, because browsers and exported files hold
 * such snapshots.
 */

export const SNAPSHOT_MAGIC = 'TABVMSNP';
/** Raise on any change to the layout or to a field's meaning; readers refuse versions above theirs. */
export const SNAPSHOT_FORMAT_VERSION = 3;
/** The oldest version still read (its disks are whole overlays). */
export const SNAPSHOT_OLDEST_READABLE_VERSION = 2;
/** Bytes before the header JSON: magic, version, header length, payload length. */
export const SNAPSHOT_PREAMBLE_BYTES = 24;
export const SNAPSHOT_CHECKSUM_BYTES = 32;
/** RAM is stored in pages of this size; all-zero pages are left out. */
export const SNAPSHOT_PAGE_SIZE = 4096;
/** The payload's compression, a `CompressionStream` format every browser and Node ≥ 18 supports. */
export const SNAPSHOT_COMPRESSION = 'deflate';
/** File name extension for exported snapshots. */
export const SNAPSHOT_FILE_EXTENSION = '.tabvm';

/** Which boot image a snapshot was taken with: a restore refuses images that differ. */
export interface SnapshotImageIdentity {
  readonly size: number;
  /** Lowercase hex. */
  readonly sha256: string;
}

/**
 * A virtio-blk disk's copy-on-write overlay at the capture (the blocks the guest has written over the
 * disk's image): all of it (`whole`), or a child's changes against its parent's.
 */
export interface SnapshotDiskHeader {
  readonly v: 2;
  /** Bytes of the disk, checked against the disk given on restore. */
  readonly size: number;
  /** Bytes per overlay block. */
  readonly blockSize: number;
  /** How many blocks the payload holds for this disk. */
  readonly blocks: number;
  /** How many indices of blocks that left the overlay since the parent follow (0 when `whole`). */
  readonly removedBlocks: number;
  /** Whether the blocks are the entire overlay rather than changes against the parent's (true in a full snapshot). */
  readonly whole: boolean;
  /**
   * The disk image under the overlay (disk-image.ts, DiskImageIdentity): a restore refuses a disk with
   * another. Absent in snapshots written before tabvm recorded it (format 2, and early format 3 files):
   * those are checked by size only.
   */
  readonly image?: string;
}

/** Bytes of a boot image the machine loaded into RAM at power-on: [offset, offset + length) of it at `ramOffset`. */
export interface SnapshotImageLoad {
  readonly image: 'bios' | 'kernel' | 'initrd';
  readonly offset: number;
  /** Where the first byte went: its physical address minus DRAM's base. */
  readonly ramOffset: number;
  readonly length: number;
}

export interface SnapshotHeader {
  /** This snapshot's id (a UUID), unique across browsers. */
  readonly id: string;
  /** The id of the snapshot this one stores only the changes against, or null for a full snapshot. */
  readonly parent: string | null;
  readonly machine: {
    readonly ramSize: number;
    readonly harts: number;
    readonly bootargs: string;
  };
  /** The images the machine was built from; needed again on restore for the boot ROM and guest reboots. */
  readonly images: {
    readonly bios: SnapshotImageIdentity;
    readonly kernel: SnapshotImageIdentity | null;
    readonly initrd: SnapshotImageIdentity | null;
  };
  /**
   * Where the machine loaded the images (recorded rather than recomputed, so that a later tabvm that
   * places images elsewhere still restores the image pages right). Empty when no page is an image page.
   */
  readonly imageLoads: readonly SnapshotImageLoad[];
  /** ISO 8601 host time of the capture, for people; restore does not use it. */
  readonly createdAt: string;
  /**
   * Named device state records, each the device's own `saveState()` (JSON-safe, versioned by `v`). The
   * container leaves them unparsed; snapshot-records.ts checks each against its schema when a snapshot
   * is read for Import, Restore or `npm run vm --snapshot`.
   */
  readonly devices: Readonly<Record<string, unknown>>;
  /** The machine's disks in order (the first is /dev/vda). */
  readonly disks: readonly SnapshotDiskHeader[];
  readonly cpu: { readonly harts: number; readonly blockSize: number };
  readonly ram: {
    readonly pageSize: number;
    readonly pages: number;
    readonly zeroedPages: number;
    readonly imagePages: number;
  };
  /** Length of the raw payload, checked after decompression. */
  readonly rawPayloadBytes: number;
}
