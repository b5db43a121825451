/**
 * The snapshot container codec (format: snapshot-format.ts). Both sides use it: the worker writes and
 * reads snapshots of its machine; the page checks imported files, flattens a chain for export and
 * re-bases a child when its parent is deleted. It knows nothing of the machine: a snapshot here is a
 * header, the hart blocks and RAM pages.
 *
 * Every refusal is a SnapshotError with a one-line message a person can act on. Files come from
 * anywhere (import), so the header is validated with zod after the checksum and bounded by the RAM it
 * describes, and decompression stops at the first byte past the size the header announces.
 */
import { z } from 'zod';
import { DISK_IMAGE_IDENTITY_PATTERN } from './disk-image.ts';
import { DEFLATE_MAX_RATIO, InflateError, inflateBounded } from './inflate.ts';
import { schemaIssueSentence } from './schema-message.ts';
import { MAX_RAM_MIB, MIB, snapshotRamProblem } from './machine-limits.ts';
import {
  SNAPSHOT_CHECKSUM_BYTES,
  SNAPSHOT_COMPRESSION,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_MAGIC,
  SNAPSHOT_OLDEST_READABLE_VERSION,
  SNAPSHOT_PAGE_SIZE,
  SNAPSHOT_PREAMBLE_BYTES,
  type SnapshotDiskHeader,
  type SnapshotHeader,
  type SnapshotImageLoad,
} from './snapshot-format.ts';

/**
 * A snapshot refused or impossible ("corrupted", "made by a newer tabvm", "taken with a different
 * kernel"): bad input, not an emulator bug.
 */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** A snapshot unpacked: the header and the raw payload's sections. */
export interface SnapshotContents {
  readonly header: SnapshotHeader;
  /** Each hart's state block. */
  readonly cpu: readonly Uint8Array[];
  /** Page numbers whose contents are stored, ascending. */
  readonly pages: Uint32Array;
  /** Page numbers that are all zeroes (child snapshots only), ascending. */
  readonly zeroed: Uint32Array;
  /** Page numbers that hold the boot images' bytes as `header.imageLoads` place them (full snapshots only), ascending. */
  readonly imagePages: Uint32Array;
  /** The stored pages' bytes, SNAPSHOT_PAGE_SIZE each, in the order of `pages`. */
  readonly pageData: Uint8Array;
  /** Each disk's overlay, in machine order. */
  readonly disks: readonly SnapshotDisk[];
}

/** A disk's overlay blocks as a snapshot holds them (snapshot-format.ts: whole, or a child's changes). */
export interface SnapshotDisk {
  /** Bytes of the disk. */
  readonly size: number;
  readonly blockSize: number;
  /** Indices of the blocks stored, ascending. */
  readonly indices: Uint32Array;
  /** Those blocks' bytes, blockSize each, in the order of `indices`. */
  readonly data: Uint8Array;
  /** Indices of blocks that left the overlay since the parent, ascending; empty when `whole`. */
  readonly removed: Uint32Array;
  /** Whether `indices` is the entire overlay (every other block reads as the image), not changes against the parent's. */
  readonly whole: boolean;
  /** The identity of the disk image under the overlay; undefined in files written before it was recorded. */
  readonly image?: string;
}

/** What the encoder fills in itself from the sections; a snapshot without image pages need not give their loads. */
export type SnapshotHeaderInput = Omit<SnapshotHeader, 'cpu' | 'ram' | 'disks' | 'rawPayloadBytes' | 'imageLoads'> & {
  readonly imageLoads?: SnapshotHeader['imageLoads'];
};
/** A snapshot's sections to encode: `imagePages` may be left out when there are none. */
export type SnapshotSections = Omit<SnapshotContents, 'header' | 'imagePages'> & { readonly imagePages?: Uint32Array };

const MAX_RAM_BYTES = 4 * 1024 ** 3;
const MAX_HARTS = 8;
const MAX_BLOCK_BYTES = 1 << 20;
const MAX_DISKS = 8;
const MAX_DISK_BYTES = 2 ** 50;

const ImageIdentity = z.object({ size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });

const BlockSize = z
  .number()
  .int()
  .positive()
  .max(MAX_BLOCK_BYTES)
  .refine((n) => (n & (n - 1)) === 0, 'a power of two');
const fitsDisk = (d: { size: number; blockSize: number; blocks: number }): boolean =>
  d.size % d.blockSize === 0 && d.blocks <= d.size / d.blockSize;
const DiskSchema = z
  .object({
    v: z.literal(2),
    size: z.number().int().positive().max(MAX_DISK_BYTES),
    blockSize: BlockSize,
    blocks: z.number().int().nonnegative(),
    removedBlocks: z.number().int().nonnegative(),
    whole: z.boolean(),
    image: z.string().regex(DISK_IMAGE_IDENTITY_PATTERN).optional(),
  })
  .refine(fitsDisk, 'blocks that fit the disk')
  .refine(
    (d) => d.removedBlocks <= d.size / d.blockSize && (!d.whole || d.removedBlocks === 0),
    'removed blocks of a child',
  );
/** Format 2's disk record: always the whole overlay; read as format 3's. */
const DiskSchemaV2 = z
  .object({
    v: z.literal(1),
    size: z.number().int().positive().max(MAX_DISK_BYTES),
    blockSize: BlockSize,
    blocks: z.number().int().nonnegative(),
  })
  .refine(fitsDisk, 'blocks that fit the disk')
  .transform((d): SnapshotDiskHeader => ({ ...d, v: 2, removedBlocks: 0, whole: true }));

const ImageLoadSchema = z.object({
  image: z.enum(['bios', 'kernel', 'initrd']),
  offset: z.number().int().nonnegative(),
  ramOffset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
});

/** Format 2 had no image pages: its headers read as having none. */
const headerSchema = <D extends z.ZodType<SnapshotDiskHeader>>(disk: D, withImagePages: boolean) =>
  z.object({
    id: z.string().min(1).max(200),
    parent: z.string().min(1).max(200).nullable(),
    machine: z.object({
      ramSize: z
        .number()
        .int()
        .positive()
        .max(MAX_RAM_BYTES)
        .refine((n) => n % SNAPSHOT_PAGE_SIZE === 0, 'a whole number of pages'),
      harts: z.number().int().min(1).max(MAX_HARTS),
      bootargs: z.string(),
    }),
    images: z.object({ bios: ImageIdentity, kernel: ImageIdentity.nullable(), initrd: ImageIdentity.nullable() }),
    imageLoads: withImagePages ? z.array(ImageLoadSchema).max(16) : z.tuple([]).default([]),
    createdAt: z.string(),
    devices: z.record(z.string(), z.unknown()),
    disks: z.array(disk).max(MAX_DISKS),
    cpu: z.object({
      harts: z.number().int().min(1).max(MAX_HARTS),
      blockSize: z.number().int().positive().max(MAX_BLOCK_BYTES),
    }),
    ram: z.object({
      pageSize: z.literal(SNAPSHOT_PAGE_SIZE),
      pages: z.number().int().nonnegative(),
      zeroedPages: z.number().int().nonnegative(),
      imagePages: withImagePages ? z.number().int().nonnegative() : z.literal(0).default(0),
    }),
    rawPayloadBytes: z.number().int().nonnegative(),
  });
/** The header schema of each format version read. */
const HEADER_SCHEMAS: Readonly<Record<number, ReturnType<typeof headerSchema>>> = {
  2: headerSchema(DiskSchemaV2, false),
  3: headerSchema(DiskSchema, true),
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes a snapshot file (compressed, checksummed). */
export async function encodeSnapshotFile(
  header: SnapshotHeaderInput,
  sections: SnapshotSections,
): Promise<Uint8Array<ArrayBuffer>> {
  const { cpu, pages, zeroed, pageData, disks } = sections;
  const imagePages = sections.imagePages ?? new Uint32Array(0);
  const blockSize = cpu[0]?.length ?? 0;
  // The raw payload in pieces, fed to the compressor one after another: the page and block contents,
  // the bulk of it, are not copied into one array first.
  const raw: Uint8Array[] = [...cpu, u32List(pages, zeroed, imagePages), pageData];
  for (const disk of disks) raw.push(u32List(disk.indices, disk.removed), disk.data);
  const rawPayloadBytes = raw.reduce((n, part) => n + part.length, 0);

  const full: SnapshotHeader = {
    ...header,
    imageLoads: header.imageLoads ?? [],
    cpu: { harts: cpu.length, blockSize },
    ram: {
      pageSize: SNAPSHOT_PAGE_SIZE,
      pages: pages.length,
      zeroedPages: zeroed.length,
      imagePages: imagePages.length,
    },
    disks: disks.map((disk): SnapshotDiskHeader => ({
      v: 2,
      size: disk.size,
      blockSize: disk.blockSize,
      blocks: disk.indices.length,
      removedBlocks: disk.removed.length,
      whole: disk.whole,
      ...(disk.image !== undefined ? { image: disk.image } : {}),
    })),
    rawPayloadBytes,
  };
  const headerBytes = encoder.encode(JSON.stringify(full));
  const payload = await transform(raw, new CompressionStream(SNAPSHOT_COMPRESSION), Infinity);

  const bodyLength = SNAPSHOT_PREAMBLE_BYTES + headerBytes.length + payload.length;
  const file = new Uint8Array(bodyLength + SNAPSHOT_CHECKSUM_BYTES);
  file.set(encoder.encode(SNAPSHOT_MAGIC), 0);
  const view = new DataView(file.buffer);
  view.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  view.setUint32(12, headerBytes.length, true);
  view.setBigUint64(16, BigInt(payload.length), true);
  file.set(headerBytes, SNAPSHOT_PREAMBLE_BYTES);
  file.set(payload, SNAPSHOT_PREAMBLE_BYTES + headerBytes.length);
  file.set(await sha256(file.subarray(0, bodyLength)), bodyLength);
  return file;
}

/** Lists of u32 as the payload stores them: little-endian, one after another. */
function u32List(...lists: Uint32Array[]): Uint8Array {
  const bytes = new Uint8Array(lists.reduce((n, list) => n + list.byteLength, 0));
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const list of lists) {
    for (const value of list) {
      view.setUint32(at, value, true);
      at += 4;
    }
  }
  return bytes;
}

/**
 * Checks the frame of a snapshot file (magic, version, lengths, checksum) and returns its header,
 * validated, without decompressing the payload.
 */
export async function readSnapshotHeader(file: Uint8Array): Promise<SnapshotHeader> {
  const magic = encoder.encode(SNAPSHOT_MAGIC);
  if (file.length < magic.length || magic.some((b, i) => file[i] !== b)) {
    throw new SnapshotError('not a tabvm snapshot');
  }
  if (file.length < SNAPSHOT_PREAMBLE_BYTES) throw new SnapshotError(`snapshot is truncated (${file.length} bytes)`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint32(8, true);
  if (version > SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotError(
      `snapshot format version ${version} is newer than this tabvm supports (${SNAPSHOT_FORMAT_VERSION}); update tabvm`,
    );
  }
  if (version < SNAPSHOT_OLDEST_READABLE_VERSION) {
    throw new SnapshotError(`snapshot format version ${version} is from an older tabvm and cannot be read`);
  }
  const headerLength = view.getUint32(12, true);
  const payloadLength = view.getBigUint64(16, true);
  const expected = BigInt(SNAPSHOT_PREAMBLE_BYTES + headerLength + SNAPSHOT_CHECKSUM_BYTES) + payloadLength;
  if (BigInt(file.length) < expected) {
    throw new SnapshotError(`snapshot is truncated (${file.length} of ${expected.toString()} bytes)`);
  }
  if (BigInt(file.length) > expected) {
    throw new SnapshotError(`snapshot has ${(BigInt(file.length) - expected).toString()} unexpected trailing bytes`);
  }
  const bodyLength = file.length - SNAPSHOT_CHECKSUM_BYTES;
  const digest = await sha256(file.subarray(0, bodyLength));
  if (digest.some((b, i) => file[bodyLength + i] !== b)) {
    throw new SnapshotError('snapshot is corrupted (checksum mismatch)');
  }
  // Past the checksum the file is as some program wrote it; still refuse inconsistent fields with a
  // SnapshotError rather than crash on them.
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(file.subarray(SNAPSHOT_PREAMBLE_BYTES, SNAPSHOT_PREAMBLE_BYTES + headerLength)));
  } catch {
    throw new SnapshotError('snapshot header is not valid JSON');
  }
  const parsed = HEADER_SCHEMAS[version]!.safeParse(json);
  if (!parsed.success) throw new SnapshotError(schemaIssueSentence(parsed.error, 'snapshot header'));
  const header = parsed.data;
  // The RAM size bounds how far the payload may inflate: a machine larger than any VM may have is refused
  // before anything inflates (its other limits are checked with the device records, snapshot-records.ts).
  if (header.machine.ramSize > MAX_RAM_MIB * MIB) throw new SnapshotError(snapshotRamProblem(header.machine.ramSize)!);
  if (header.parent === null && header.ram.zeroedPages !== 0) {
    throw new SnapshotError('snapshot header lists zeroed pages in a full snapshot');
  }
  if (header.parent === null && header.disks.some((disk) => !disk.whole)) {
    throw new SnapshotError('snapshot header has a disk of changes in a full snapshot');
  }
  if (header.parent !== null && header.ram.imagePages !== 0) {
    throw new SnapshotError('snapshot header lists image pages in a child snapshot');
  }
  for (const load of header.imageLoads) {
    const image = header.images[load.image];
    if (!image || load.offset + load.length > image.size || load.ramOffset + load.length > header.machine.ramSize) {
      throw new SnapshotError(`snapshot header places ${load.image} bytes outside the image or RAM`);
    }
  }
  const ramPages = header.machine.ramSize / SNAPSHOT_PAGE_SIZE;
  if (header.ram.pages + header.ram.zeroedPages + header.ram.imagePages > ramPages)
    throw new SnapshotError(
      `snapshot header lists more pages than its ${header.machine.ramSize >> 20} MiB of RAM hold`,
    );
  if (header.cpu.harts !== header.machine.harts)
    throw new SnapshotError('snapshot header disagrees on the number of harts');
  const expectedRaw =
    header.cpu.harts * header.cpu.blockSize +
    (header.ram.pages + header.ram.zeroedPages + header.ram.imagePages) * 4 +
    header.ram.pages * SNAPSHOT_PAGE_SIZE +
    header.disks.reduce((n, disk) => n + disk.blocks * (4 + disk.blockSize) + disk.removedBlocks * 4, 0);
  if (header.rawPayloadBytes !== expectedRaw)
    throw new SnapshotError('snapshot payload size does not match its header');
  // No deflate stream expands more than this: a header that announces more is lying about its payload.
  if (header.rawPayloadBytes > Number(payloadLength) * DEFLATE_MAX_RATIO + 1024)
    throw new SnapshotError('snapshot header announces more data than its payload can hold');
  return header;
}

/**
 * Checks and unpacks a snapshot file; throws SnapshotError for anything that is not a sound snapshot of
 * ours. The payload is inflated as a stream into an array of the size the validated header gives, and
 * each section is checked as soon as its bytes are in: the page lists before any page arrives, each
 * stored page (never all zeroes: zero pages are not stored) as it completes. Inflation stops at the first
 * byte past the header's size, so a bomb costs at most that size, which the header bounds by the RAM.
 */
export async function decodeSnapshotFile(file: Uint8Array): Promise<SnapshotContents> {
  const header = await readSnapshotHeader(file);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const payloadStart = SNAPSHOT_PREAMBLE_BYTES + view.getUint32(12, true);
  const { cpu, ram } = header;
  const pagesAt = cpu.harts * cpu.blockSize;
  const pageDataAt = pagesAt + (ram.pages + ram.zeroedPages + ram.imagePages) * 4;
  // The harts and the page lists first; room for the rest once the lists have passed their checks.
  let raw = new Uint8Array(pageDataAt);
  let rawView = new DataView(raw.buffer);
  const growToWhole = (): void => {
    let whole: Uint8Array<ArrayBuffer>;
    try {
      whole = new Uint8Array(header.rawPayloadBytes);
    } catch {
      throw new SnapshotError(`snapshot is too large to unpack here (${header.rawPayloadBytes} bytes)`);
    }
    whole.set(raw);
    raw = whole;
    rawView = new DataView(raw.buffer);
  };
  const ramPages = header.machine.ramSize / SNAPSHOT_PAGE_SIZE;
  const readList = (at: number, n: number): Uint32Array => {
    const list = new Uint32Array(n);
    for (let i = 0; i < n; i++) list[i] = rawView.getUint32(at + 4 * i, true);
    return list;
  };
  const checkAscending = (list: Uint32Array, bound: number, what: string): void => {
    for (let i = 0; i < list.length; i++) {
      if (list[i]! >= bound || (i > 0 && list[i]! <= list[i - 1]!)) throw new SnapshotError(what);
    }
  };

  // The sections in payload order; a check runs once the bytes up to its section's end have arrived.
  const pageDataEnd = pageDataAt + ram.pages * SNAPSHOT_PAGE_SIZE;
  const lists: { pages?: Uint32Array; zeroed?: Uint32Array; imagePages?: Uint32Array } = {};
  const checks: { end: number; run: () => void }[] = [
    {
      end: pageDataAt,
      run: () => {
        lists.pages = readList(pagesAt, ram.pages);
        lists.zeroed = readList(pagesAt + ram.pages * 4, ram.zeroedPages);
        lists.imagePages = readList(pagesAt + (ram.pages + ram.zeroedPages) * 4, ram.imagePages);
        const what = 'snapshot RAM page list is out of order or outside RAM';
        for (const list of [lists.pages, lists.zeroed, lists.imagePages]) checkAscending(list, ramPages, what);
        for (const page of lists.imagePages) {
          if (!imageLoadOf(header.imageLoads, page))
            throw new SnapshotError(`snapshot image page ${page} is in no image`);
        }
        growToWhole();
      },
    },
  ];
  let nextPage = 0;
  const diskLayout: { indicesAt: number; dataAt: number; end: number }[] = [];
  let at = pageDataEnd;
  for (const disk of header.disks) {
    const indicesAt = at;
    const dataAt = indicesAt + (disk.blocks + disk.removedBlocks) * 4;
    at = dataAt + disk.blocks * disk.blockSize;
    diskLayout.push({ indicesAt, dataAt, end: at });
    checks.push({
      end: dataAt,
      run: () => {
        const what = 'snapshot disk block list is out of order or outside the disk';
        checkAscending(readList(indicesAt, disk.blocks), disk.size / disk.blockSize, what);
        checkAscending(readList(indicesAt + disk.blocks * 4, disk.removedBlocks), disk.size / disk.blockSize, what);
      },
    });
  }
  let received = 0;
  // Each page number is checked as soon as its 4 bytes are in (in RAM, above the one before it in its
  // list), so a list of junk is refused at its first bad entry rather than at its end.
  const listEnds = [ram.pages, ram.pages + ram.zeroedPages, ram.pages + ram.zeroedPages + ram.imagePages];
  let nextEntry = 0;
  const checkListEntries = (): void => {
    for (; nextEntry < listEnds[2]! && pagesAt + (nextEntry + 1) * 4 <= received; nextEntry++) {
      const page = rawView.getUint32(pagesAt + nextEntry * 4, true);
      const first = nextEntry === 0 || listEnds.includes(nextEntry);
      if (page >= ramPages || (!first && page <= rawView.getUint32(pagesAt + (nextEntry - 1) * 4, true)))
        throw new SnapshotError('snapshot RAM page list is out of order or outside RAM');
    }
  };
  const sink = (piece: Uint8Array, offset: number): void => {
    // A piece may run past the lists: the part that fits first, the rest once they passed.
    const head = Math.max(0, Math.min(piece.length, raw.length - offset));
    raw.set(piece.subarray(0, head), offset);
    received = offset + head;
    checkListEntries();
    while (checks.length > 0 && checks[0]!.end <= received) checks.shift()!.run();
    raw.set(piece.subarray(head), offset + head);
    received = offset + piece.length;
    while (checks.length > 0 && checks[0]!.end <= received) checks.shift()!.run();
    // Stored pages are never all zeroes (capture leaves them out): a run of zeroes there is a bomb.
    for (; nextPage < ram.pages && pageDataAt + (nextPage + 1) * SNAPSHOT_PAGE_SIZE <= received; nextPage++) {
      if (isZero(raw, pageDataAt + nextPage * SNAPSHOT_PAGE_SIZE, SNAPSHOT_PAGE_SIZE)) {
        throw new SnapshotError(
          `snapshot stores RAM page ${lists.pages![nextPage]} as all zeroes, which tabvm never writes`,
        );
      }
    }
  };
  try {
    const length = await inflateBounded(
      file.subarray(payloadStart, file.length - SNAPSHOT_CHECKSUM_BYTES),
      SNAPSHOT_COMPRESSION,
      header.rawPayloadBytes,
      sink,
    );
    if (length !== header.rawPayloadBytes) throw new InflateError('limit');
  } catch (error) {
    if (error instanceof SnapshotError) throw error;
    if (error instanceof InflateError && error.reason === 'corrupt')
      throw new SnapshotError('snapshot payload is not a valid compressed stream');
    throw new SnapshotError('snapshot payload does not decompress to the size its header gives');
  }
  // An empty section has no bytes to wait for: its checks run now.
  for (const check of checks) check.run();

  const blocks: Uint8Array[] = [];
  for (let h = 0; h < cpu.harts; h++) blocks.push(raw.slice(h * cpu.blockSize, (h + 1) * cpu.blockSize));
  const disks = header.disks.map((disk, d): SnapshotDisk => {
    const { indicesAt, dataAt, end } = diskLayout[d]!;
    return {
      size: disk.size,
      blockSize: disk.blockSize,
      indices: readList(indicesAt, disk.blocks),
      data: raw.subarray(dataAt, end),
      removed: readList(indicesAt + disk.blocks * 4, disk.removedBlocks),
      whole: disk.whole,
      ...(disk.image !== undefined ? { image: disk.image } : {}),
    };
  });
  return {
    header,
    cpu: blocks,
    pages: lists.pages!,
    zeroed: lists.zeroed!,
    imagePages: lists.imagePages!,
    pageData: raw.subarray(pageDataAt, pageDataEnd),
    disks,
  };
}

/** Whether bytes [start, start + length) of `bytes` are all zero (a stored page nearly always ends this early). */
function isZero(bytes: Uint8Array, start: number, length: number): boolean {
  for (let i = start; i < start + length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** The image load that covers RAM page `page` entirely, if any. */
export function imageLoadOf(loads: readonly SnapshotImageLoad[], page: number): SnapshotImageLoad | undefined {
  const start = page * SNAPSHOT_PAGE_SIZE;
  return loads.find((load) => load.ramOffset <= start && start + SNAPSHOT_PAGE_SIZE <= load.ramOffset + load.length);
}

/**
 * A child applied to its parent: the result has the child's state and the parent's parent, so it
 * stands in for both (re-basing a child when its parent is deleted; flattening a chain for export).
 */
export function mergeSnapshots(parent: SnapshotContents, child: SnapshotContents): SnapshotContents {
  if (child.header.parent !== parent.header.id) {
    throw new SnapshotError(`snapshot ${child.header.id} is not a child of ${parent.header.id}`);
  }
  if (child.header.machine.ramSize !== parent.header.machine.ramSize) {
    throw new SnapshotError('a child snapshot has a different RAM size than its parent');
  }
  if (JSON.stringify(child.header.images) !== JSON.stringify(parent.header.images)) {
    throw new SnapshotError('a child snapshot was taken with other boot images than its parent');
  }
  // Per page, the newest word wins: the child's contents or zeroing, else the parent's (contents,
  // zeroing or image bytes; a child has no image pages).
  const source = new Map<number, { from: SnapshotContents; index: number } | null | 'image'>();
  for (const page of parent.imagePages) source.set(page, 'image');
  parent.pages.forEach((page, index) => source.set(page, { from: parent, index }));
  for (const page of parent.zeroed) source.set(page, null);
  child.pages.forEach((page, index) => source.set(page, { from: child, index }));
  for (const page of child.zeroed) source.set(page, null);
  const order = [...source.keys()].sort((a, b) => a - b);
  const stored = order.filter((page) => source.get(page) !== null && source.get(page) !== 'image');
  const imagePages = order.filter((page) => source.get(page) === 'image');
  // A full result needs no zeroed list: every page it does not list is zero.
  const zeroed = parent.header.parent === null ? [] : order.filter((page) => source.get(page) === null);
  const pageData = new Uint8Array(stored.length * SNAPSHOT_PAGE_SIZE);
  stored.forEach((page, i) => {
    const { from, index } = source.get(page) as { from: SnapshotContents; index: number };
    pageData.set(
      from.pageData.subarray(index * SNAPSHOT_PAGE_SIZE, (index + 1) * SNAPSHOT_PAGE_SIZE),
      i * SNAPSHOT_PAGE_SIZE,
    );
  });
  return {
    header: {
      ...child.header,
      parent: parent.header.parent,
      // The image pages are the parent's, placed as it recorded.
      imageLoads: imagePages.length > 0 ? parent.header.imageLoads : child.header.imageLoads,
      ram: {
        pageSize: SNAPSHOT_PAGE_SIZE,
        pages: stored.length,
        zeroedPages: zeroed.length,
        imagePages: imagePages.length,
      },
    },
    cpu: child.cpu,
    pages: Uint32Array.from(stored),
    zeroed: Uint32Array.from(zeroed),
    imagePages: Uint32Array.from(imagePages),
    pageData,
    disks: mergeDisks(parent.disks, child.disks),
  };
}

/** Each disk of a child applied to the parent's: per block, the newest word wins, as for RAM pages. */
function mergeDisks(parent: readonly SnapshotDisk[], child: readonly SnapshotDisk[]): SnapshotDisk[] {
  if (parent.length !== child.length) throw new SnapshotError('a child snapshot has other disks than its parent');
  return child.map((next, d): SnapshotDisk => {
    const before = parent[d]!;
    if (next.size !== before.size || next.blockSize !== before.blockSize) {
      throw new SnapshotError(`a child snapshot's disk ${d} has another size than its parent's`);
    }
    if (next.image !== undefined && before.image !== undefined && next.image !== before.image)
      throw new SnapshotError(`a child snapshot's disk ${d} is over another disk image than its parent's`);
    // A chain of files from before identities were recorded and after keeps the one it knows.
    const image = next.image ?? before.image;
    if (next.whole) return { ...next, ...(image !== undefined ? { image } : {}) };
    const { blockSize } = next;
    // Index → where its bytes are, or null: the block left the overlay.
    const source = new Map<number, { from: SnapshotDisk; at: number } | null>();
    if (!before.whole) for (const index of before.removed) source.set(index, null);
    before.indices.forEach((index, at) => source.set(index, { from: before, at }));
    for (const index of next.removed) source.set(index, null);
    next.indices.forEach((index, at) => source.set(index, { from: next, at }));
    const order = [...source.keys()].sort((a, b) => a - b);
    const stored = order.filter((index) => source.get(index) !== null);
    const data = new Uint8Array(stored.length * blockSize);
    stored.forEach((index, i) => {
      const { from, at } = source.get(index)!;
      data.set(from.data.subarray(at * blockSize, (at + 1) * blockSize), i * blockSize);
    });
    return {
      size: next.size,
      blockSize,
      indices: Uint32Array.from(stored),
      data,
      // Over a whole overlay, a block not stored is simply not in it.
      removed: before.whole
        ? new Uint32Array(0)
        : Uint32Array.from(order.filter((index) => source.get(index) === null)),
      whole: before.whole,
      ...(image !== undefined ? { image } : {}),
    };
  });
}

/** A chain, full snapshot first, each next one the child of the one before, merged into one full snapshot. */
export function flattenChain(chain: readonly SnapshotContents[]): SnapshotContents {
  if (chain.length === 0) throw new SnapshotError('no snapshot given');
  if (chain[0]!.header.parent !== null) {
    throw new SnapshotError(
      `snapshot ${chain[0]!.header.id} needs its parent ${chain[0]!.header.parent}, which is missing`,
    );
  }
  return chain.slice(1).reduce(mergeSnapshots, chain[0]!);
}

/**
 * Checks and unpacks a chain of snapshot files (full snapshot first, each next one a child of the one
 * before) into one full snapshot: each file is decompressed once, here, and the chain flattened here
 * only, for a restore, an export or a clone alike.
 */
export async function decodeChain(files: readonly Uint8Array[]): Promise<SnapshotContents> {
  const chain: SnapshotContents[] = [];
  for (const file of files) chain.push(await decodeSnapshotFile(file));
  return flattenChain(chain);
}

/** Re-encodes unpacked contents (after a merge) as a file. */
export function encodeContents(contents: SnapshotContents): Promise<Uint8Array<ArrayBuffer>> {
  const { cpu: _cpu, ram: _ram, disks: _disks, rawPayloadBytes: _raw, ...header } = contents.header;
  return encodeSnapshotFile(header, contents);
}

export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', ownBuffer(bytes)));
}

/** Web APIs refuse views of a SharedArrayBuffer (guest RAM may be one): copy those. */
export function ownBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

/** Runs bytes through a (de)compression stream; gives up past `limit` output bytes (a decompression bomb). */
async function transform(
  parts: readonly Uint8Array[],
  stream: CompressionStream | DecompressionStream,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const writer = stream.writable.getWriter();
  // Written without awaiting: the stream applies back-pressure until the reader below drains it.
  const written = (async () => {
    for (const part of parts) if (part.length > 0) await writer.write(ownBuffer(part));
    await writer.close();
  })();
  written.catch(() => {});
  const reader = stream.readable.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw new Error('output exceeds its limit');
    }
    chunks.push(value);
  }
  await written;
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
