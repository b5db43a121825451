/**
 * What `npm run fuzz` feeds: each target turns bytes into one attempt at the code that reads untrusted
 * input, and names the error classes that are its refusals. Adding a target (network frames, 9p
 * messages) is adding an entry to FUZZ_TARGETS: seeds, a mutation, a run.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync, deflateSync, inflateSync } from 'node:zlib';
import { ChunkedDisk } from '../../workers/host/block/chunked-disk.ts';
import { BlockIoError } from '../../workers/host/block/backend.ts';
import {
  DISK_IMAGE_FORMAT,
  diskChunkPath,
  ManifestError,
  maxCompressedChunkBytes,
} from '../../workers/protocol/disk-image.ts';
import { parseImageManifest } from '../../workers/protocol/image-manifest.ts';
import { decodeSnapshotFile, encodeContents, SnapshotError } from '../../workers/protocol/snapshot-container.ts';
import { SNAPSHOT_CHECKSUM_BYTES, SNAPSHOT_PREAMBLE_BYTES } from '../../workers/protocol/snapshot-format.ts';
import { testSnapshotDisk, testSnapshotFile } from '../../workers/test-support/test-snapshot-file.ts';
import { Machine } from '../../workers/machine/machine.ts';
import { makeElf } from '../../workers/machine/elf-fixture.ts';
import { addi, assemble, csrr, csrw, li, mret } from '../../workers/cpu/test-support/asm.ts';
import { coreModule } from '../lib/in-process.ts';
import { frameSnapshot, headerJsonOf } from '../../tests/fuzz/snapshot-frame.ts';
import { MemoryTree } from '../../workers/host/9p/memory-tree.ts';
import { NinePServer } from '../../workers/host/9p/server.ts';
import { HEADER_BYTES, NOFID, O_CREAT, O_RDWR, P9 } from '../../workers/host/9p/protocol.ts';
import { ScriptedClient, type Field } from '../../workers/host/9p/test-support/client.ts';
import { concat, mutateBytes, mutateJson } from './mutate.ts';
import { netFrameTarget } from './net-frame.ts';
import { guestAgentTarget } from './guest-agent-lines.ts';
import type { Random } from './random.ts';

type ErrorClass = abstract new (...args: never[]) => Error;

export interface FuzzTarget {
  readonly name: string;
  /** Known-good inputs the mutations start from. */
  seeds(): Promise<Uint8Array[]>;
  /** One new input from `seed` (any of `seeds` may lend it bytes). */
  mutate(random: Random, seed: Uint8Array, seeds: readonly Uint8Array[]): Promise<Uint8Array>;
  /** Feeds one input; resolves with a word for what happened, or throws (a refusal, or a bug). */
  run(input: Uint8Array): Promise<string>;
  /** The errors that are this input's refusals; anything else thrown is a bug. */
  readonly refusals: readonly ErrorClass[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MIB = 1024 * 1024;

/** JSON that fails to parse is refused by every reader before it reaches a schema. */
class NotJson extends Error {
  override readonly name = 'NotJson';
}

function parseJson(input: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(input));
  } catch {
    throw new NotJson('the file is not JSON');
  }
}

// ---- snapshot files ---------------------------------------------------------------------------------

function pageBytes(pages: number, fill: number): Uint8Array {
  return Uint8Array.from({ length: pages * 4096 }, (_, i) => (i * 31 + fill) & 0xff || 1);
}

async function snapshotSeeds(): Promise<Uint8Array[]> {
  const fixtures = ['format2-parent.tabvm', 'format2-child.tabvm'].map(
    (name) => new Uint8Array(readFileSync(new URL(`../../workers/protocol/fixtures/${name}`, import.meta.url))),
  );
  return [
    await testSnapshotFile({ id: 'a', pages: Uint32Array.of(0, 3, 7), pageData: pageBytes(3, 1) }),
    await testSnapshotFile({ id: 'b', parent: 'a', pages: Uint32Array.of(5), pageData: pageBytes(1, 9) }),
    await testSnapshotFile({
      id: 'c',
      disks: [testSnapshotDisk(1 << 20)],
      pages: Uint32Array.of(1),
      pageData: pageBytes(1, 4),
    }),
    ...fixtures,
  ];
}

/** The payload of a framed snapshot, or undefined when the frame does not hold one. */
function payloadOf(file: Uint8Array): Uint8Array | undefined {
  if (file.length < SNAPSHOT_PREAMBLE_BYTES + SNAPSHOT_CHECKSUM_BYTES) return undefined;
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const start = SNAPSHOT_PREAMBLE_BYTES + view.getUint32(12, true);
  return start <= file.length - SNAPSHOT_CHECKSUM_BYTES
    ? file.subarray(start, file.length - SNAPSHOT_CHECKSUM_BYTES)
    : undefined;
}

async function mutateSnapshot(random: Random, seed: Uint8Array, seeds: readonly Uint8Array[]): Promise<Uint8Array> {
  const header = headerJsonOf(seed);
  const payload = payloadOf(seed)!;
  const version = new DataView(seed.buffer, seed.byteOffset).getUint32(8, true);
  switch (random.below(5)) {
    case 0: // any bytes: mostly stops at the frame or the checksum
      return mutateBytes(random, seed, seeds);
    case 1:
    case 2: // the header's fields, resealed so the checks past the checksum run
      return frameSnapshot(mutateJson(random, header), payload, version);
    case 3: {
      // the raw payload's bytes, recompressed: the page and block lists, the sections' lengths
      const raw = new Uint8Array(inflateSync(payload));
      return frameSnapshot(header, deflateSync(mutateBytes(random, raw)), version);
    }
    default: {
      // a payload that inflates far beyond what the header says (the bombs, smaller)
      const zeros = deflateSync(new Uint8Array(random.pick([1, 8, 64]) * MIB));
      return frameSnapshot(random.chance(0.5) ? header : mutateJson(random, header), zeros, version);
    }
  }
}

const snapshotTarget: FuzzTarget = {
  name: 'snapshot',
  seeds: snapshotSeeds,
  mutate: mutateSnapshot,
  refusals: [SnapshotError],
  async run(input) {
    const contents = await decodeSnapshotFile(input);
    // What is accepted survives a round trip: the export and re-base paths re-encode contents.
    const again = await decodeSnapshotFile(await encodeContents(contents));
    if (again.pageData.length !== contents.pageData.length || again.pages.length !== contents.pages.length)
      throw new Error('an accepted snapshot does not survive re-encoding');
    return 'accepted';
  },
};

// ---- image manifests --------------------------------------------------------------------------------

function manifestSeeds(): Promise<Uint8Array[]> {
  const shipped = readFileSync(new URL('../../public/images/default/manifest.json', import.meta.url));
  const withDisk = {
    ...(JSON.parse(shipped.toString('utf8')) as object),
    disk: {
      format: DISK_IMAGE_FORMAT,
      size: 4 * MIB,
      chunkSize: 65536,
      chunks: [0, 1, 9, 63].map((index) => ({ index, sha256: 'ab'.repeat(32), compressedSize: 1000 + index })),
    },
  };
  return Promise.resolve([new Uint8Array(shipped), encoder.encode(JSON.stringify(withDisk))]);
}

const manifestTarget: FuzzTarget = {
  name: 'manifest',
  seeds: manifestSeeds,
  mutate(random, seed, seeds) {
    if (random.chance(0.15)) return Promise.resolve(mutateBytes(random, seed, seeds));
    return Promise.resolve(encoder.encode(JSON.stringify(mutateJson(random, parseJson(seed)))));
  },
  refusals: [ManifestError, BlockIoError, NotJson],
  run(input) {
    // As the page, the CLI and the worker read it: the schema, then the disk backend over it.
    const manifest = parseImageManifest(parseJson(input));
    if (manifest.disk) new ChunkedDisk({ manifest: manifest.disk, baseUrl: 'https://fuzz.invalid/image' });
    return Promise.resolve(manifest.disk ? 'accepted with a disk' : 'accepted');
  },
};

// ---- disk chunks ------------------------------------------------------------------------------------

const CHUNK = 65536;
const chunkData = Uint8Array.from({ length: CHUNK }, (_, i) => (i * 7) >> 3);
const chunkSha256 = createHash('sha256').update(chunkData).digest('hex');

const chunkTarget: FuzzTarget = {
  name: 'chunk',
  seeds: () =>
    Promise.resolve([new Uint8Array(gzipSync(chunkData)), new Uint8Array(gzipSync(chunkData, { level: 0 }))]),
  mutate(random, seed, seeds) {
    // Now and then a gzip bomb small enough to pass the manifest's size check.
    if (random.chance(0.1))
      return Promise.resolve(
        new Uint8Array(gzipSync(new Uint8Array(random.pick([2, 64]) * MIB))).slice(0, maxCompressedChunkBytes(CHUNK)),
      );
    return Promise.resolve(mutateBytes(random, seed, seeds));
  },
  refusals: [BlockIoError],
  async run(input) {
    const compressedSize = Math.max(1, Math.min(input.length, maxCompressedChunkBytes(CHUNK)));
    const url = `https://fuzz.invalid/image/${diskChunkPath(0)}`;
    const disk = new ChunkedDisk({
      manifest: {
        format: DISK_IMAGE_FORMAT,
        size: CHUNK * 4,
        chunkSize: CHUNK,
        chunks: [{ index: 0, sha256: chunkSha256, compressedSize }],
      },
      baseUrl: 'https://fuzz.invalid/image',
      fetch: (requested) =>
        Promise.resolve(requested === url ? new Response(input.slice()) : new Response('', { status: 404 })),
      retryDelaysMs: [],
    });
    const into = new Uint8Array(4096);
    await disk.read(CHUNK - 4096, into);
    return 'read';
  },
};

// ---- random instruction streams ---------------------------------------------------------------------

/** Addresses worth having in registers: each device, the boot ROM, RAM, nowhere, and the edges of each. */
const INTERESTING_ADDRESSES = [
  0x1000, 0x10_0000, 0x10_1000, 0x200_0000, 0x200_4000, 0x200_bff8, 0xc00_0000, 0xc20_0000, 0x1000_0000, 0x1000_1000,
  0x1000_8000, 0x8000_0000, 0x8000_1000, 0x8010_0000, 0x3000_0000, -1, 0,
].map(BigInt);
const CODE_WORDS = 1024;
const CODE_BASE = 0x8000_0000n;
const RAM_BYTES = 8 * MIB;

/** Major opcodes of RV64GC (bits 6:2 with 0b11 below), to make random words mostly decodable. */
const OPCODES = [
  0x03, 0x07, 0x0f, 0x13, 0x17, 0x1b, 0x23, 0x27, 0x2f, 0x33, 0x37, 0x3b, 0x43, 0x53, 0x63, 0x67, 0x6f, 0x73,
];

const instructionTarget: FuzzTarget = {
  name: 'instructions',
  seeds: () => Promise.resolve([new Uint8Array(CODE_WORDS * 4)]),
  mutate(random) {
    const words = new Uint32Array(CODE_WORDS);
    for (let i = 0; i < words.length; i++) {
      const word = random.u32();
      // Mostly a real major opcode, sometimes a compressed pair, sometimes anything at all.
      words[i] = random.chance(0.7) ? (word & ~0x7f) | random.pick(OPCODES) : word;
    }
    return Promise.resolve(new Uint8Array(words.buffer));
  },
  refusals: [],
  run(input) {
    // A trap handler that steps over the instruction that trapped, so the stream runs on after faults;
    // then registers that point at interesting places, so loads, stores and jumps reach devices and edges.
    const handler = [csrr('t6', 'mepc'), addi('t6', 't6', 4), csrw('mepc', 't6'), mret()];
    const prologue: number[] = [...li('t6', CODE_BASE), csrw('mtvec', 't6')];
    for (let r = 1; r < 32; r++) {
      prologue.push(
        ...li(r, INTERESTING_ADDRESSES[(r * 7 + input[r % input.length]!) % INTERESTING_ADDRESSES.length]!),
      );
    }
    const code = [...assemble([...handler, ...prologue]), ...input];
    const elf = makeElf({
      entry: CODE_BASE + BigInt(handler.length * 4),
      segments: [{ vaddr: CODE_BASE, paddr: CODE_BASE, data: code, memsz: code.length, flags: 7 }],
    });
    const machine = new Machine(
      { ramSize: RAM_BYTES, bios: elf, bootargs: '', sharedMemory: true, coreModule: coreModule() },
      // Guest errors are the point here, not news.
      { console: { write: () => {} }, log: () => {} },
    );
    for (let slice = 0; slice < 20; slice++) {
      const status = machine.runSlice(20_000);
      if (status.kind === 'halted') return Promise.resolve('halted');
      if (status.kind === 'idle') return Promise.resolve('idle');
    }
    return Promise.resolve('ran');
  },
};

// ---- 9p messages ------------------------------------------------------------------------------------

/** Messages in one input at most, and the reply room each gets (a guest's descriptor chain). */
const NINEP_MESSAGES = 64;
const NINEP_REPLY_LIMIT = 8192;

/** A session as Linux's client opens it: version, attach, then files made, written, read and listed. */
function ninepSession(): Uint8Array {
  const messages: [number, readonly Field[]][] = [
    [
      P9.Tversion,
      [
        ['u32', 8192],
        ['s', '9P2000.L'],
      ],
    ],
    [
      P9.Tattach,
      [
        ['u32', 0],
        ['u32', NOFID],
        ['s', 'root'],
        ['s', ''],
        ['u32', 0],
      ],
    ],
    [
      P9.Twalk,
      [
        ['u32', 0],
        ['u32', 1],
        ['u16', 0],
      ],
    ],
    [
      P9.Tlcreate,
      [
        ['u32', 1],
        ['s', 'f'],
        ['u32', O_RDWR | O_CREAT],
        ['u32', 0o644],
        ['u32', 0],
      ],
    ],
    [
      P9.Twrite,
      [
        ['u32', 1],
        ['u64', 0n],
        ['data', encoder.encode('hello, share')],
      ],
    ],
    [
      P9.Tread,
      [
        ['u32', 1],
        ['u64', 0n],
        ['u32', 100],
      ],
    ],
    [
      P9.Tmkdir,
      [
        ['u32', 0],
        ['s', 'd'],
        ['u32', 0o755],
        ['u32', 0],
      ],
    ],
    [
      P9.Twalk,
      [
        ['u32', 0],
        ['u32', 2],
        ['u16', 1],
        ['s', 'd'],
      ],
    ],
    [
      P9.Tsymlink,
      [
        ['u32', 2],
        ['s', 'link'],
        ['s', '../f'],
        ['u32', 0],
      ],
    ],
    [
      P9.Tgetattr,
      [
        ['u32', 1],
        ['u64', 0x3fffn],
      ],
    ],
    [
      P9.Tlopen,
      [
        ['u32', 2],
        ['u32', 0],
      ],
    ],
    [
      P9.Treaddir,
      [
        ['u32', 2],
        ['u64', 0n],
        ['u32', 4096],
      ],
    ],
    [
      P9.Trenameat,
      [
        ['u32', 0],
        ['s', 'f'],
        ['u32', 2],
        ['s', 'g'],
      ],
    ],
    [
      P9.Tunlinkat,
      [
        ['u32', 2],
        ['s', 'link'],
        ['u32', 0],
      ],
    ],
    [P9.Tclunk, [['u32', 1]]],
  ];
  return concat(...messages.map(([type, fields], i) => ScriptedClient.encode(type, i + 1, fields)));
}

/** The input's messages by their size fields; a size that does not fit ends the list with the rest. */
function splitMessages(input: Uint8Array): Uint8Array[] {
  const messages: Uint8Array[] = [];
  let at = 0;
  while (at < input.length && messages.length < NINEP_MESSAGES) {
    const size = at + 4 <= input.length ? new DataView(input.buffer, input.byteOffset + at).getUint32(0, true) : 0;
    const end = size >= HEADER_BYTES && at + size <= input.length ? at + size : input.length;
    messages.push(input.subarray(at, end));
    at = end;
  }
  return messages;
}

/** A message's body mutated with its size field kept true, so the mutation reaches the handlers. */
function mutateOneMessage(random: Random, input: Uint8Array): Uint8Array {
  const messages = splitMessages(input);
  const i = random.below(messages.length);
  const body = mutateBytes(random, messages[i]!.subarray(4));
  const message = new Uint8Array(4 + body.length);
  new DataView(message.buffer).setUint32(0, message.length, true);
  message.set(body, 4);
  messages[i] = message;
  return concat(...messages);
}

/** A server's reply broke the protocol: a bug, never a refusal. */
class NinePReplyBroken extends Error {
  override readonly name = 'NinePReplyBroken';
}

const ninepTarget: FuzzTarget = {
  name: '9p',
  seeds: () => Promise.resolve([ninepSession()]),
  mutate(random, seed, seeds) {
    return Promise.resolve(random.chance(0.6) ? mutateOneMessage(random, seed) : mutateBytes(random, seed, seeds));
  },
  // The server never refuses: every failure is an Rlerror. Anything thrown is a bug.
  refusals: [],
  async run(input) {
    const server = new NinePServer(new MemoryTree({ maxBytes: 1 << 20 }));
    let errors = 0;
    for (const request of splitMessages(input)) {
      const reply = await server.handle(request, NINEP_REPLY_LIMIT);
      const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
      if (reply.length < HEADER_BYTES || reply.length > NINEP_REPLY_LIMIT || view.getUint32(0, true) !== reply.length)
        throw new NinePReplyBroken(`a reply of ${reply.length} bytes is not framed within its room`);
      const type = reply[4]!;
      if (type === P9.Rlerror) errors++;
      else if (request.length >= HEADER_BYTES && type !== request[4]! + 1)
        throw new NinePReplyBroken(`T-message ${request[4]} was answered with type ${type}`);
      if (request.length >= HEADER_BYTES && view.getUint16(5, true) !== request[5]! + (request[6]! << 8))
        throw new NinePReplyBroken("a reply does not carry its request's tag");
    }
    return errors > 0 ? 'answered with errors' : 'answered';
  },
};

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  snapshotTarget,
  manifestTarget,
  chunkTarget,
  instructionTarget,
  ninepTarget,
  netFrameTarget,
  guestAgentTarget,
];
