/**
 * A scripted 9P2000.L client for tests (not imported by production code): it encodes T-messages as
 * Linux's client does and decodes the replies, so a test reads as the conversation it checks.
 */
import { MessageReader, MessageWriter, P9, type Qid } from '../protocol.ts';
import type { NinePPort } from '../server.ts';

/** A field of a T-message, in order. */
export type Field = ['u8' | 'u16' | 'u32', number] | ['u64', bigint] | ['s', string] | ['data', Uint8Array];

export class NinePError extends Error {
  constructor(readonly errno: number) {
    super(`Rlerror ${errno}`);
  }
}

export class ScriptedClient {
  #tag = 1;

  constructor(
    readonly port: NinePPort,
    public replyLimit = 1 << 20,
  ) {}

  /** Encodes a T-message of `type` with `fields`. */
  static encode(type: number, tag: number, fields: readonly Field[]): Uint8Array {
    const w = new MessageWriter(type, tag);
    for (const [kind, value] of fields) {
      if (kind === 's') w.string(value);
      else if (kind === 'data') w.data(value);
      else if (kind === 'u64') w.u64(value);
      else w[kind](value);
    }
    return w.finish();
  }

  /** Sends raw bytes; returns the reply's type, tag and a reader past its header. */
  async raw(
    bytes: Uint8Array,
    limit = this.replyLimit,
  ): Promise<{ type: number; tag: number; r: MessageReader; size: number }> {
    const reply = await this.port.handle(bytes, limit);
    const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
    const size = view.getUint32(0, true);
    if (size !== reply.length) throw new Error(`reply size ${size} but ${reply.length} bytes`);
    return { type: view.getUint8(4), tag: view.getUint16(5, true), r: new MessageReader(reply, 7), size };
  }

  /** Sends a T-message; resolves with a reader of its R-message, or rejects with NinePError on Rlerror. */
  async call(type: number, fields: readonly Field[]): Promise<MessageReader> {
    const tag = this.#tag++ & 0x7fff;
    const { type: replyType, tag: replyTag, r } = await this.raw(ScriptedClient.encode(type, tag, fields));
    if (replyTag !== tag) throw new Error(`reply tag ${replyTag} for request tag ${tag}`);
    if (replyType === P9.Rlerror) throw new NinePError(r.u32());
    if (replyType !== type + 1) throw new Error(`reply type ${replyType} to ${type}`);
    return r;
  }

  /** The errno of a request that must fail. */
  async errno(type: number, fields: readonly Field[]): Promise<number> {
    try {
      await this.call(type, fields);
    } catch (error) {
      if (error instanceof NinePError) return error.errno;
      throw error;
    }
    throw new Error(`message ${type} succeeded`);
  }

  // ---- the messages tests use most ----

  async version(msize = 65536, version = '9P2000.L'): Promise<{ msize: number; version: string }> {
    const r = await this.call(P9.Tversion, [
      ['u32', msize],
      ['s', version],
    ]);
    return { msize: r.u32(), version: r.string() };
  }

  async attach(fid = 0): Promise<Qid> {
    const r = await this.call(P9.Tattach, [
      ['u32', fid],
      ['u32', 0xffff_ffff],
      ['s', 'root'],
      ['s', ''],
      ['u32', 0],
    ]);
    return qid(r);
  }

  async walk(fid: number, newFid: number, names: readonly string[]): Promise<Qid[]> {
    const r = await this.call(P9.Twalk, [
      ['u32', fid],
      ['u32', newFid],
      ['u16', names.length],
      ...names.map((n): Field => ['s', n]),
    ]);
    const count = r.u16();
    return Array.from({ length: count }, () => qid(r));
  }

  async lopen(fid: number, flags: number): Promise<Qid> {
    return qid(
      await this.call(P9.Tlopen, [
        ['u32', fid],
        ['u32', flags],
      ]),
    );
  }

  async lcreate(fid: number, name: string, flags: number, mode = 0o644): Promise<Qid> {
    return qid(
      await this.call(P9.Tlcreate, [
        ['u32', fid],
        ['s', name],
        ['u32', flags],
        ['u32', mode],
        ['u32', 0],
      ]),
    );
  }

  async read(fid: number, offset: number, count: number): Promise<Uint8Array> {
    const r = await this.call(P9.Tread, [
      ['u32', fid],
      ['u64', BigInt(offset)],
      ['u32', count],
    ]);
    return r.data(r.u32()).slice();
  }

  async write(fid: number, offset: number, data: Uint8Array): Promise<number> {
    const r = await this.call(P9.Twrite, [
      ['u32', fid],
      ['u64', BigInt(offset)],
      ['u32', data.length],
      ['data', data],
    ]);
    return r.u32();
  }

  async getattr(fid: number): Promise<{
    qid: Qid;
    mode: number;
    size: bigint;
    nlink: bigint;
    mtimeSec: bigint;
    mtimeNsec: bigint;
    atimeSec: bigint;
  }> {
    const r = await this.call(P9.Tgetattr, [
      ['u32', fid],
      ['u64', 0x3fffn],
    ]);
    r.u64();
    const q = qid(r);
    const mode = r.u32();
    r.u32();
    r.u32();
    const nlink = r.u64();
    r.u64();
    const size = r.u64();
    r.u64();
    r.u64();
    const atimeSec = r.u64();
    r.u64();
    const mtimeSec = r.u64();
    const mtimeNsec = r.u64();
    return { qid: q, mode, size, nlink, mtimeSec, mtimeNsec, atimeSec };
  }

  async readdir(
    fid: number,
    offset = 0n,
    count = 8192,
  ): Promise<{ name: string; offset: bigint; type: number; qid: Qid }[]> {
    const r = await this.call(P9.Treaddir, [
      ['u32', fid],
      ['u64', offset],
      ['u32', count],
    ]);
    const entries = new MessageReader(r.data(r.u32()));
    const out: { name: string; offset: bigint; type: number; qid: Qid }[] = [];
    while (entries.remaining > 0) {
      const q = qid(entries);
      const next = entries.u64();
      const type = entries.u8();
      out.push({ qid: q, offset: next, type, name: entries.string() });
    }
    return out;
  }

  /** Every entry of a directory, read in `count`-byte pieces as getdents does. */
  async readdirAll(fid: number, count = 8192): Promise<string[]> {
    const names: string[] = [];
    let offset = 0n;
    for (;;) {
      const entries = await this.readdir(fid, offset, count);
      if (entries.length === 0) return names;
      names.push(...entries.map((e) => e.name));
      offset = entries[entries.length - 1]!.offset;
    }
  }

  async clunk(fid: number): Promise<void> {
    await this.call(P9.Tclunk, [['u32', fid]]);
  }
}

function qid(r: MessageReader): Qid {
  return { type: r.u8(), version: r.u32(), path: r.u64() };
}
