/**
 * A Flattened Devicetree reader (Devicetree Specification v0.4, chapter 5). It exists to check the
 * blobs fdt.ts writes without trusting fdt.ts (the tests also read QEMU's own tree with it), and to
 * look at a tree the firmware handed on. It reads versions 16 and 17 and refuses anything it cannot
 * walk with an Error that says where.
 */

import { FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_NOP, FDT_PROP } from './fdt.ts';

export interface FdtHeader {
  readonly magic: number;
  readonly totalSize: number;
  readonly structOffset: number;
  readonly stringsOffset: number;
  readonly reservationsOffset: number;
  readonly version: number;
  readonly lastCompVersion: number;
  readonly bootCpuidPhys: number;
  readonly stringsSize: number;
  readonly structSize: number;
}

export interface ParsedFdtNode {
  readonly name: string;
  /** Absolute path, "/" for the root. */
  readonly path: string;
  readonly properties: Map<string, Uint8Array>;
  readonly children: ParsedFdtNode[];
}

export interface ParsedFdt {
  readonly header: FdtHeader;
  readonly reservations: readonly { readonly address: bigint; readonly size: bigint }[];
  readonly root: ParsedFdtNode;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** The NUL-terminated string at `at`, and the offset just past its NUL. */
function readCString(bytes: Uint8Array, at: number, limit: number, what: string): [string, number] {
  let end = at;
  while (end < limit && bytes[end] !== 0) end++;
  if (end >= limit) throw new Error(`FDT: ${what} at ${at} has no NUL before ${limit}`);
  return [textDecoder.decode(bytes.subarray(at, end)), end + 1];
}

export function parseFdt(blob: Uint8Array): ParsedFdt {
  if (blob.length < 40) throw new Error(`FDT: ${blob.length} bytes is shorter than the header`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const field = (i: number): number => view.getUint32(i * 4);
  const header: FdtHeader = {
    magic: field(0),
    totalSize: field(1),
    structOffset: field(2),
    stringsOffset: field(3),
    reservationsOffset: field(4),
    version: field(5),
    lastCompVersion: field(6),
    bootCpuidPhys: field(7),
    stringsSize: field(8),
    structSize: field(9),
  };
  if (header.magic !== FDT_MAGIC) throw new Error(`FDT: magic 0x${header.magic.toString(16)}`);
  if (header.version < 16 || header.lastCompVersion > 17) {
    throw new Error(`FDT: version ${header.version} (last compatible ${header.lastCompVersion})`);
  }
  if (header.totalSize > blob.length) {
    throw new Error(`FDT: totalsize ${header.totalSize} exceeds the ${blob.length} bytes given`);
  }
  const structEnd = header.structOffset + header.structSize;
  const stringsEnd = header.stringsOffset + header.stringsSize;
  if (structEnd > header.totalSize || stringsEnd > header.totalSize) {
    throw new Error('FDT: a block extends past totalsize');
  }

  const reservations: { address: bigint; size: bigint }[] = [];
  for (let at = header.reservationsOffset; ; at += 16) {
    if (at + 16 > header.totalSize) throw new Error('FDT: reservation list has no terminator');
    const address = view.getBigUint64(at);
    const size = view.getBigUint64(at + 8);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }

  let at = header.structOffset;
  const token = (): number => {
    if (at + 4 > structEnd) throw new Error(`FDT: structure block ends inside a token at ${at}`);
    const value = view.getUint32(at);
    at += 4;
    return value;
  };
  const align = (): void => {
    at = (at + 3) & ~3;
  };

  const readNode = (parentPath: string | undefined): ParsedFdtNode => {
    const [name, nameEnd] = readCString(blob, at, structEnd, 'node name');
    at = nameEnd;
    align();
    const path = parentPath === undefined ? '/' : `${parentPath === '/' ? '' : parentPath}/${name}`;
    const node: ParsedFdtNode = { name, path, properties: new Map(), children: [] };
    for (;;) {
      const kind = token();
      if (kind === FDT_NOP) continue;
      if (kind === FDT_END_NODE) return node;
      if (kind === FDT_BEGIN_NODE) {
        node.children.push(readNode(path));
      } else if (kind === FDT_PROP) {
        const length = token();
        const nameOffset = token();
        if (nameOffset >= header.stringsSize) throw new Error(`FDT: ${path}: nameoff ${nameOffset}`);
        const [propertyName] = readCString(
          blob,
          header.stringsOffset + nameOffset,
          stringsEnd,
          'property name',
        );
        if (at + length > structEnd) throw new Error(`FDT: ${path}/${propertyName} runs past the block`);
        if (node.properties.has(propertyName)) throw new Error(`FDT: ${path}/${propertyName} twice`);
        node.properties.set(propertyName, blob.slice(at, at + length));
        at += length;
        align();
      } else {
        throw new Error(`FDT: unexpected token 0x${kind.toString(16)} at ${at - 4} in ${path}`);
      }
    }
  };

  let first = token();
  while (first === FDT_NOP) first = token();
  if (first !== FDT_BEGIN_NODE) throw new Error(`FDT: structure block starts with 0x${first.toString(16)}`);
  const root = readNode(undefined);
  let last = token();
  while (last === FDT_NOP) last = token();
  if (last !== FDT_END) throw new Error(`FDT: 0x${last.toString(16)} after the root node, not FDT_END`);
  return { header, reservations, root };
}

/** The node at an absolute path such as "/soc/plic@c000000". */
export function findNode(root: ParsedFdtNode, path: string): ParsedFdtNode | undefined {
  let node: ParsedFdtNode | undefined = root;
  for (const part of path.split('/').filter((piece) => piece !== '')) {
    node = node?.children.find((child) => child.name === part);
  }
  return node;
}

/** Every node of the tree, depth first, parents before children. */
export function allNodes(root: ParsedFdtNode): ParsedFdtNode[] {
  return [root, ...root.children.flatMap(allNodes)];
}

export function cellsOf(value: Uint8Array): number[] {
  if (value.length % 4 !== 0) throw new Error(`FDT: ${value.length} bytes is not a whole number of cells`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return Array.from({ length: value.length / 4 }, (_, i) => view.getUint32(i * 4));
}

/** The property's cells read pairwise as u64s. */
export function u64sOf(value: Uint8Array): bigint[] {
  const cells = cellsOf(value);
  if (cells.length % 2 !== 0) throw new Error('FDT: odd number of cells for u64 values');
  const values: bigint[] = [];
  for (let i = 0; i < cells.length; i += 2) {
    values.push((BigInt(cells[i] ?? 0) << 32n) | BigInt(cells[i + 1] ?? 0));
  }
  return values;
}

export function stringsOf(value: Uint8Array): string[] {
  if (value.length === 0 || value[value.length - 1] !== 0) throw new Error('FDT: string not NUL-terminated');
  return textDecoder.decode(value.subarray(0, value.length - 1)).split('\0');
}

export function stringOf(value: Uint8Array): string {
  const strings = stringsOf(value);
  if (strings.length !== 1) throw new Error(`FDT: ${strings.length} strings where one was expected`);
  return strings[0] ?? '';
}

/** phandle number → node, from the `phandle` properties. */
export function phandleMap(root: ParsedFdtNode): Map<number, ParsedFdtNode> {
  const map = new Map<number, ParsedFdtNode>();
  for (const node of allNodes(root)) {
    const value = node.properties.get('phandle');
    if (!value) continue;
    const [phandle] = cellsOf(value);
    if (phandle === undefined) throw new Error(`FDT: ${node.path}: empty phandle`);
    if (map.has(phandle))
      throw new Error(`FDT: phandle ${phandle} on ${node.path} and ${map.get(phandle)?.path}`);
    map.set(phandle, node);
  }
  return map;
}
