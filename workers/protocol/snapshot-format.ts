/**
 * The snapshot file format (DESIGN.md §3, "Snapshot = a versioned container"): what the worker writes,
 * what storage keeps and export/import moves. Shared by both sides, so it holds types and constants only;
 * the encoder and decoder live in workers/machine/snapshot.ts.
 *
 * Layout, all integers little-endian:
 *
 *   offset      size  field
 *   0           8     magic, ASCII "TABVMSNP"
 *   8           4     u32 format version (SNAPSHOT_FORMAT_VERSION)
 *   12          4     u32 H: length of the header JSON
 *   16          8     u64 P: length of the payload
 *   24          H     header: UTF-8 JSON, a SnapshotHeader (machine config, image identity, device states)
 *   24+H        P     payload: zlib "deflate" stream (RFC 1950) of the raw payload below
 *   24+H+P      32    SHA-256 of every byte before it
 *
 * Raw payload (before compression), in this order:
 *   cpu.harts × cpu.blockSize bytes   each hart's state block (workers/cpu/layout.ts), a byte copy
 *   ram.pages × u32                   guest page numbers (physical address = DRAM base + n × 4 KiB), ascending
 *   ram.pages × 4096 bytes            those pages' contents; every page not listed is all zeroes
 *   then for each disk d (version 2):
 *   disks[d].blocks × u32             indices of the overlay blocks the guest wrote, ascending
 *   disks[d].blocks × blockSize bytes those blocks; every other block reads as the disk's image
 *
 * A reader refuses a file whose magic, version, lengths or checksum do not match before it parses
 * anything; the version is checked before the checksum, because a newer format may place it differently.
 */

export const SNAPSHOT_MAGIC = 'TABVMSNP';
/**
 * Raise on any change to the layout or to a field's meaning; readers refuse versions above theirs.
 * Version 2 added the disks' overlay blocks; a version 1 file is a machine without disks.
 */
export const SNAPSHOT_FORMAT_VERSION = 2;
/** Bytes before the header JSON: magic, version, header length, payload length. */
export const SNAPSHOT_PREAMBLE_BYTES = 24;
export const SNAPSHOT_CHECKSUM_BYTES = 32;
/** RAM is stored in pages of this size; all-zero pages are left out. */
export const SNAPSHOT_PAGE_SIZE = 4096;
/** The payload's compression, a `CompressionStream` format every browser and Node ≥ 18 supports. */
export const SNAPSHOT_COMPRESSION = 'deflate';

/** Which boot image a snapshot was taken with: a restore refuses images that differ. */
export interface SnapshotImageIdentity {
  readonly size: number;
  /** Lowercase hex. */
  readonly sha256: string;
}

export interface SnapshotDiskHeader {
  /** Bytes of the disk, checked on restore. */
  readonly size: number;
  readonly blockSize: number;
  readonly blocks: number;
}

export interface SnapshotHeader {
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
  /** ISO 8601 host time of the capture, for people; restore does not use it. */
  readonly createdAt: string;
  /** Named device state records, each the device's own `saveState()` (JSON-safe, versioned by `v`). */
  readonly devices: Readonly<Record<string, unknown>>;
  readonly cpu: { readonly harts: number; readonly blockSize: number };
  readonly ram: { readonly pageSize: number; readonly pages: number };
  /** One entry per virtio-blk disk, in machine order: its copy-on-write overlay (absent in version 1). */
  readonly disks?: readonly SnapshotDiskHeader[];
  /** Length of the raw payload, checked after decompression. */
  readonly rawPayloadBytes: number;
}
