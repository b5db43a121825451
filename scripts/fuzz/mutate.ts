/**
 * Mutations of bytes and of JSON, the two shapes the fuzz targets take. Byte mutations are the usual
 * ones (flip, set, insert, delete, truncate, splice a run); JSON mutations replace one value anywhere in
 * the tree with a value chosen to break a validator (wrong types, fractions, huge and negative numbers).
 */
import type { Random } from './random.ts';

/** Values that each break some naive check: types, fractions, bounds, sizes past 2^53. */
export const HOSTILE_VALUES: readonly unknown[] = [
  0,
  -1,
  1,
  0.5,
  -0.5,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 53,
  2 ** 60,
  1e308,
  -1e308,
  '',
  'x',
  '12',
  '0x10',
  null,
  true,
  [],
  {},
  [0],
  { v: 1 },
  'a'.repeat(10_000),
];

export function mutateBytes(
  random: Random,
  input: Uint8Array,
  donors: readonly Uint8Array[] = [],
): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(input);
  const rounds = 1 + random.below(4);
  let out: Uint8Array<ArrayBuffer> = bytes;
  for (let r = 0; r < rounds; r++) {
    const at = random.below(out.length + 1);
    switch (random.below(7)) {
      case 0: // flip a bit
        if (out.length > 0) out[Math.min(at, out.length - 1)]! ^= 1 << random.below(8);
        break;
      case 1: // set a byte to an edge value
        if (out.length > 0) out[Math.min(at, out.length - 1)] = random.pick([0, 1, 0x7f, 0x80, 0xff]);
        break;
      case 2: {
        // insert random bytes
        const extra = Uint8Array.from({ length: 1 + random.below(16) }, () => random.below(256));
        out = concat(out.subarray(0, at), extra, out.subarray(at));
        break;
      }
      case 3: // delete a run
        out = concat(out.subarray(0, at), out.subarray(Math.min(out.length, at + 1 + random.below(64))));
        break;
      case 4: // truncate
        out = out.slice(0, at);
        break;
      case 5: {
        // overwrite with a run from a donor (another seed), which keeps plausible structure
        const donor = donors.length > 0 ? random.pick(donors) : out;
        const from = random.below(donor.length);
        const run = donor.subarray(from, from + 1 + random.below(256));
        out.set(run.subarray(0, Math.max(0, out.length - Math.min(at, out.length))), Math.min(at, out.length));
        break;
      }
      default: {
        // a 32-bit little-endian edge value
        if (out.length >= 4) {
          const where = Math.min(at, out.length - 4);
          new DataView(out.buffer).setUint32(where, random.pick([0, 1, 0xffff_ffff, 0x8000_0000, 0x7fff_ffff]), true);
        }
      }
    }
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Every path to a value in a JSON tree (objects and arrays included). */
function paths(
  value: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(value)) value.slice(0, 8).forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  }
  return out;
}

/** A copy of `json` with one to three values replaced, deleted or duplicated. */
export function mutateJson(random: Random, json: unknown): unknown {
  let tree: unknown = structuredClone(json);
  const rounds = 1 + random.below(3);
  for (let r = 0; r < rounds; r++) {
    const all = paths(tree);
    const path = random.pick(all);
    if (path.length === 0) {
      tree = random.chance(0.5) ? random.pick(HOSTILE_VALUES) : tree;
      continue;
    }
    const parent = path
      .slice(0, -1)
      .reduce<unknown>((node, key) => (node as Record<string | number, unknown>)[key], tree) as
      Record<string | number, unknown> | unknown[];
    const key = path[path.length - 1]!;
    const current = (parent as Record<string | number, unknown>)[key];
    switch (random.below(5)) {
      case 0:
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete (parent as Record<string, unknown>)[key];
        break;
      case 1:
        // a number nudged: off by one, doubled, fractional
        (parent as Record<string | number, unknown>)[key] =
          typeof current === 'number'
            ? random.pick([current + 1, current - 1, current * 2, current + 0.5, -current])
            : random.pick(HOSTILE_VALUES);
        break;
      case 2:
        // an array grown by copies of its own entries
        if (Array.isArray(current) && current.length > 0) {
          for (let i = 0, n = 1 + random.below(4); i < n; i++) current.push(structuredClone(random.pick(current)));
          break;
        }
        (parent as Record<string | number, unknown>)[key] = random.pick(HOSTILE_VALUES);
        break;
      default:
        (parent as Record<string | number, unknown>)[key] = structuredClone(random.pick(HOSTILE_VALUES));
    }
  }
  return tree;
}
