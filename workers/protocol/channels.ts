/**
 * Host ports as declared channels (DESIGN.md §7): every stream between a VM's worker and its host (the
 * page, or the Node runner's main thread) is a channel of one of three kinds, with one implementation
 * over SharedArrayBuffer rings and one over messages, chosen once per VM by its mode.
 *
 *   kind       carries                               used by
 *   bytes      a byte stream each way                the serial console
 *   frames     whole frames each way, in order       network (virtio-net), the test loopback
 *   requests   request → reply pairs, either way     9p, block, migration
 *
 * Underneath, each channel end is a pair of byte rings, `rx` (towards this end) and `tx` (away from it):
 *
 *   shared:   host end ──tx═══ toVm ring (SAB) ═══rx── VM end      the host rings the VM's doorbell;
 *             host end ──rx═══ fromVm ring (SAB) ═══tx── VM end    the VM's writes Atomics.notify the host
 *
 *   message:  host end [tx ring] ─port─▶ [rx ring] VM end          each side keeps rings of its own, and
 *             host end [rx ring] ◀─port─ [tx ring] VM end          flush() moves bytes through a MessagePort
 *
 * In the message mode a side sends at most what the other side's rx ring has room for (credit, returned
 * as the reader consumes), so both modes have the same capacity and back-pressure, and neither side holds
 * more than its rings. The VM end flushes at the end of each run-loop turn (one message per turn, never
 * one per byte); a host end flushes after each write.
 */
import { ByteRing, Doorbell, FRAME_HEADER_BYTES } from './ring.ts';

export type ChannelMode = 'shared' | 'message';
export type ChannelKind = 'bytes' | 'frames' | 'requests';

/** A channel's declaration: its kind and the capacity of each direction's ring (powers of two). */
export interface ChannelSpec {
  readonly kind: ChannelKind;
  readonly toVmBytes: number;
  readonly fromVmBytes: number;
}

/** The VM end of a channel as it travels to the worker (structured-cloneable; the port is transferred). */
export type ChannelWire =
  | {
      readonly mode: 'shared';
      readonly kind: ChannelKind;
      readonly toVm: SharedArrayBuffer;
      readonly fromVm: SharedArrayBuffer;
    }
  | {
      readonly mode: 'message';
      readonly kind: ChannelKind;
      readonly port: MessagePort;
      readonly toVmBytes: number;
      readonly fromVmBytes: number;
    };

/** What a message-mode port carries: bytes for the peer's rx ring, and credit for our own sends. */
interface LinkMessage {
  readonly bytes?: Uint8Array<ArrayBuffer>;
  readonly credit?: number;
}

interface Transport {
  /** Whether a writer's room is less than tx's free space (the message mode's credit). */
  readonly limited: boolean;
  /** Bytes a writer may add to tx now: what the far rx ring can still take, so both modes hold the same. */
  room(): number;
  flush(): void;
  /**
   * Calls `onIncoming` whenever bytes may have arrived in rx, and `onRoom` when room may have appeared
   * in the far ring for writes held back (the shared mode cannot tell the two apart and calls
   * `onIncoming` for both: it must be cheap when neither happened); returns the way to stop.
   */
  listen(onIncoming: () => void, onRoom?: () => void): () => void;
  close(): void;
}

/** How long a host end's listener sleeps in Atomics.waitAsync before it looks again (it also wakes on data). */
const LISTEN_POLL_MS = 250;

/** One end of a channel: its two rings and the transport that joins them to the other end. */
export class ChannelEnd {
  readonly kind: ChannelKind;
  readonly rx: ByteRing;
  readonly tx: ByteRing;
  /** Whether writes are flushed at once (host ends), or at the end of the run-loop turn (VM ends). */
  readonly eager: boolean;
  readonly #transport: Transport;

  constructor(kind: ChannelKind, rx: ByteRing, tx: ByteRing, transport: Transport, eager: boolean) {
    this.kind = kind;
    this.rx = rx;
    this.tx = tx;
    this.#transport = transport;
    this.eager = eager;
  }

  /** Makes what was written visible to the other end and tells it what was read. Cheap when idle. */
  flush(): void {
    this.#transport.flush();
  }

  /** Bytes that can be written now (the far end's free space, less what is on its way). */
  room(): number {
    return this.#transport.room();
  }

  /** Whether room() can be less than tx.free(): otherwise a writer may go by the ring alone. */
  get limited(): boolean {
    return this.#transport.limited;
  }

  /** After a write: flushed now on a host end; a VM end leaves it to its run loop's turn. */
  written(): void {
    if (this.eager) this.#transport.flush();
  }

  listen(onIncoming: () => void, onRoom?: () => void): () => void {
    return this.#transport.listen(onIncoming, onRoom);
  }

  close(): void {
    this.#transport.close();
  }
}

class SharedTransport implements Transport {
  readonly limited = false;
  readonly #rx: ByteRing;
  readonly #tx: ByteRing;
  readonly #wakePeer: (() => void) | undefined;
  #published: number;
  #read: number;
  #closed = false;

  constructor(rx: ByteRing, tx: ByteRing, wakePeer: (() => void) | undefined) {
    this.#rx = rx;
    this.#tx = tx;
    this.#wakePeer = wakePeer;
    this.#published = tx.writeCount();
    this.#read = rx.readCount();
  }

  room(): number {
    return this.#tx.free();
  }

  flush(): void {
    // The ring's own Atomics.notify wakes a reader waiting for data; room made by reading wakes the far
    // end's listener too, so an end holding back a write (a full ring) tries again.
    const read = this.#rx.readCount();
    if (read !== this.#read) {
      this.#read = read;
      this.#tx.wakeReader();
    }
    // A VM end serviced by its run loop needs its doorbell rung for what the host wrote.
    if (!this.#wakePeer) return;
    const head = this.#tx.writeCount();
    if (head === this.#published) return;
    this.#published = head;
    this.#wakePeer();
  }

  listen(onIncoming: () => void): () => void {
    let listening = true;
    const loop = async (): Promise<void> => {
      while (listening && !this.#closed) {
        const seen = this.#rx.writeCount();
        onIncoming();
        if (this.#rx.writeCount() === seen) await this.#rx.waitForData(seen, LISTEN_POLL_MS);
      }
    };
    void loop();
    return () => {
      listening = false;
    };
  }

  close(): void {
    this.#closed = true;
  }
}

class MessageTransport implements Transport {
  readonly limited = true;
  readonly #port: MessagePort;
  readonly #rx: ByteRing;
  readonly #tx: ByteRing;
  /** Bytes the peer's rx ring can still take. */
  #credit: number;
  /** rx.readCount() when we last returned credit. */
  #granted: number;
  #onIncoming: (() => void) | undefined;
  #onRoom: (() => void) | undefined;

  constructor(port: MessagePort, rx: ByteRing, tx: ByteRing, peerCapacity: number) {
    this.#port = port;
    this.#rx = rx;
    this.#tx = tx;
    this.#credit = peerCapacity;
    this.#granted = rx.readCount();
    port.onmessage = (event: MessageEvent<LinkMessage>) => this.#receive(event.data);
  }

  room(): number {
    return Math.max(0, this.#credit - this.#tx.available());
  }

  #receive(message: LinkMessage): void {
    if (message.bytes) {
      // The sender never exceeds its credit, so the bytes always fit.
      if (this.#rx.write(message.bytes) !== message.bytes.length)
        throw new Error('channel: the peer overran its credit');
      this.#onIncoming?.();
    }
    if (message.credit) {
      this.#credit += message.credit;
      this.flush();
      this.#onRoom?.();
    }
  }

  flush(): void {
    const sending = Math.min(this.#tx.available(), this.#credit);
    const freed = (this.#rx.readCount() - this.#granted) >>> 0;
    if (sending === 0 && freed === 0) return;
    this.#granted = this.#rx.readCount();
    if (sending === 0) {
      this.#port.postMessage({ credit: freed } satisfies LinkMessage);
      return;
    }
    this.#credit -= sending;
    const bytes = this.#tx.read(sending);
    this.#port.postMessage({ bytes, ...(freed > 0 ? { credit: freed } : {}) } satisfies LinkMessage, [bytes.buffer]);
  }

  listen(onIncoming: () => void, onRoom?: () => void): () => void {
    this.#onIncoming = onIncoming;
    this.#onRoom = onRoom;
    if (this.#rx.available() > 0) onIncoming();
    return () => {
      this.#onIncoming = undefined;
      this.#onRoom = undefined;
    };
  }

  close(): void {
    this.#port.onmessage = null;
    this.#port.close();
  }
}

/**
 * The host side of a new channel, and the wire for its VM end. `doorbell` is the VM's (shared mode:
 * the host rings it after each write; the message mode needs none).
 */
export function createChannel(
  mode: ChannelMode,
  spec: ChannelSpec,
  doorbell?: Doorbell,
): { readonly host: ChannelEnd; readonly wire: ChannelWire; readonly transfer: Transferable[] } {
  if (mode === 'shared') {
    if (!doorbell) throw new Error('channel: the shared mode needs the VM doorbell');
    const toVm = ByteRing.create(spec.toVmBytes, true);
    const fromVm = ByteRing.create(spec.fromVmBytes, true);
    const host = new ChannelEnd(
      spec.kind,
      fromVm,
      toVm,
      new SharedTransport(fromVm, toVm, () => doorbell.ring()),
      true,
    );
    const wire: ChannelWire = {
      mode,
      kind: spec.kind,
      toVm: toVm.buffer as SharedArrayBuffer,
      fromVm: fromVm.buffer as SharedArrayBuffer,
    };
    return { host, wire, transfer: [] };
  }
  const { port1, port2 } = new MessageChannel();
  const rx = ByteRing.create(spec.fromVmBytes, false);
  const tx = ByteRing.create(spec.toVmBytes, false);
  const host = new ChannelEnd(spec.kind, rx, tx, new MessageTransport(port1, rx, tx, spec.toVmBytes), true);
  const wire: ChannelWire = {
    mode,
    kind: spec.kind,
    port: port2,
    toVmBytes: spec.toVmBytes,
    fromVmBytes: spec.fromVmBytes,
  };
  return { host, wire, transfer: [port2] };
}

/**
 * The VM end of a channel from its wire. With a `doorbell`, the end is serviced by the run loop: input
 * for the VM rings the doorbell (in the shared mode the host does, in the message mode the arriving
 * message does, on the worker's own event loop), and writes are flushed at the end of the loop's turn.
 * Without one, the end is its own: it flushes after each write and its owner listens, as a host end
 * does (the disks, whose requests come from the worker's event loop, not from the run loop's slices).
 */
export function openChannel(wire: ChannelWire, doorbell?: Doorbell): ChannelEnd {
  const eager = doorbell === undefined;
  if (wire.mode === 'shared') {
    const rx = new ByteRing(wire.toVm);
    const tx = new ByteRing(wire.fromVm);
    return new ChannelEnd(wire.kind, rx, tx, new SharedTransport(rx, tx, undefined), eager);
  }
  const rx = ByteRing.create(wire.toVmBytes, false);
  const tx = ByteRing.create(wire.fromVmBytes, false);
  const end = new ChannelEnd(wire.kind, rx, tx, new MessageTransport(wire.port, rx, tx, wire.fromVmBytes), eager);
  if (doorbell) end.listen(() => doorbell.ring());
  return end;
}

/** The doorbell a VM sleeps on: shared with its host, or (message mode) its own. */
export function vmDoorbell(doorbell: SharedArrayBuffer | undefined): Doorbell {
  return new Doorbell(doorbell ?? new ArrayBuffer(4));
}

function expectKind(end: ChannelEnd, kind: ChannelKind): void {
  if (end.kind !== kind) throw new Error(`channel: a ${end.kind} channel used as ${kind}`);
}

/** A byte stream (the console): what is written arrives in order; a full ring takes less than offered. */
export class ByteStream {
  readonly end: ChannelEnd;
  /** Cached for writeByte(), which the UART calls for every byte the guest prints. */
  readonly #limited: boolean;
  readonly #eager: boolean;

  constructor(end: ChannelEnd) {
    expectKind(end, 'bytes');
    this.end = end;
    this.#limited = end.limited;
    this.#eager = end.eager;
  }

  /** Writes as many bytes as fit now; returns how many. */
  write(bytes: Uint8Array): number {
    const room = this.end.room();
    const n = this.end.tx.write(room < bytes.length ? bytes.subarray(0, room) : bytes);
    if (n > 0) this.end.written();
    return n;
  }

  /** One byte, if it fits now (the UART's transmitter, one byte at a time). */
  writeByte(byte: number): boolean {
    if (this.#limited && this.end.room() === 0) return false;
    if (!this.end.tx.writeByte(byte)) return false;
    if (this.#eager) this.end.flush();
    return true;
  }

  /** Everything that has arrived (it returns credit to the sender on a host end). */
  read(): Uint8Array {
    const bytes = this.end.rx.read();
    if (bytes.length > 0) this.end.written();
    return bytes;
  }

  /** Calls `onBytes` with each batch that arrives (a host end). */
  listen(onBytes: (bytes: Uint8Array) => void): () => void {
    return this.end.listen(() => {
      const bytes = this.read();
      if (bytes.length > 0) onBytes(bytes);
    });
  }
}

/** A frame stream (network): whole frames, in order, each at most the ring's capacity less 4 bytes. */
export class FrameStream {
  readonly end: ChannelEnd;

  constructor(end: ChannelEnd) {
    expectKind(end, 'frames');
    this.end = end;
  }

  /** Sends one frame; false when the ring has no room for it now. */
  send(frame: Uint8Array): boolean {
    if (
      this.end.room() < FRAME_HEADER_BYTES + frame.length &&
      frame.length + FRAME_HEADER_BYTES <= this.end.tx.capacity
    )
      return false;
    if (!this.end.tx.writeFrame(frame)) return false;
    this.end.written();
    return true;
  }

  /** The next frame that has arrived whole, or undefined. */
  receive(): Uint8Array | undefined {
    const frame = this.end.rx.readFrame();
    if (frame) this.end.written();
    return frame;
  }

  /** Calls `onFrame` with each frame that arrives (a host end). */
  listen(onFrame: (frame: Uint8Array) => void): () => void {
    return this.end.listen(() => {
      for (let frame = this.receive(); frame; frame = this.receive()) onFrame(frame);
    });
  }
}

/** A test-only far end for a frame channel: sends every frame back as it came (virtio-net's tests). */
export function echoFrames(host: FrameStream): () => void {
  const backlog: Uint8Array[] = [];
  // On every wake (frames arrived, or room appeared for the frames held back), not only on a frame.
  const echo = (): void => {
    for (let frame = host.receive(); frame; frame = host.receive()) backlog.push(frame);
    while (backlog.length > 0 && host.send(backlog[0]!)) backlog.shift();
  };
  return host.end.listen(echo, echo);
}

const REQUEST = 0;
const REPLY = 1;
const FAILURE = 2;
/** A request frame's header: u32 id, u8 type. */
export const REQUEST_HEADER_BYTES = 5;

export type RequestHandler = (payload: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** Why a request failed on the far end (its handler threw); the message is the far end's. */
export class RemoteRequestError extends Error {}

/**
 * Requests and replies over a frame channel, either way: `request()` resolves with the far end's reply;
 * `serve()` answers the far end's requests. Replies may come in any order (a 9p server answers a slow
 * read after a quick stat). Frames that find the ring full wait in an outbox, sent as room appears;
 * `service()` (a VM end's port, each slice; a host end, or a VM end of its own, on arrival: `listen()`)
 * handles what has arrived.
 */
export class RequestChannel {
  readonly end: ChannelEnd;
  readonly #pending = new Map<number, { resolve: (reply: Uint8Array) => void; reject: (error: Error) => void }>();
  readonly #outbox: Uint8Array[] = [];
  #nextId = 1;
  #handler: RequestHandler | undefined;

  constructor(end: ChannelEnd) {
    expectKind(end, 'requests');
    this.end = end;
  }

  /** Requests in flight (sent or waiting in the outbox) without their reply yet. */
  get pending(): number {
    return this.#pending.size;
  }

  request(payload: Uint8Array): Promise<Uint8Array> {
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0 || 1;
    const message = frame(id, REQUEST, payload);
    if (FRAME_HEADER_BYTES + message.length > this.end.tx.capacity)
      return Promise.reject(new RangeError(`a ${payload.length}-byte request cannot fit this channel's ring`));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#send(message);
    });
  }

  serve(handler: RequestHandler): void {
    this.#handler = handler;
  }

  /** Handles every frame that has arrived and sends what waits in the outbox. */
  service(): void {
    this.#drainOutbox();
    for (let message = this.end.rx.readFrame(); message; message = this.end.rx.readFrame()) this.#handle(message);
    this.end.written();
  }

  /** A host end, or a VM end of its own (openChannel without a doorbell): services whenever frames arrive. */
  listen(): () => void {
    const service = (): void => this.service();
    return this.end.listen(service, service);
  }

  #handle(message: Uint8Array): void {
    if (message.length < REQUEST_HEADER_BYTES) throw new Error('channel: a request frame without its header');
    const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
    const id = view.getUint32(0, true);
    const type = message[4]!;
    const payload = message.subarray(REQUEST_HEADER_BYTES);
    if (type === REQUEST) {
      void this.#answer(id, payload);
      return;
    }
    const waiter = this.#pending.get(id);
    if (!waiter) return; // a reply nobody waits for (a duplicate) is dropped
    this.#pending.delete(id);
    if (type === REPLY) waiter.resolve(payload);
    else waiter.reject(new RemoteRequestError(new TextDecoder().decode(payload)));
  }

  async #answer(id: number, payload: Uint8Array): Promise<void> {
    let reply: Uint8Array;
    try {
      if (!this.#handler) throw new Error('nothing serves requests on this channel');
      reply = frame(id, REPLY, await this.#handler(payload));
      if (FRAME_HEADER_BYTES + reply.length > this.end.tx.capacity)
        throw new RangeError(`a ${reply.length - REQUEST_HEADER_BYTES}-byte reply cannot fit this channel's ring`);
    } catch (error) {
      reply = frame(id, FAILURE, new TextEncoder().encode(error instanceof Error ? error.message : String(error)));
    }
    this.#send(reply);
    // An answer that took time is sent outside service(): flush it now rather than at the next turn.
    this.end.flush();
  }

  #send(message: Uint8Array): void {
    this.#outbox.push(message);
    this.#drainOutbox();
    this.end.written();
  }

  #drainOutbox(): void {
    while (this.#outbox.length > 0) {
      const message = this.#outbox[0]!;
      if (this.end.room() < FRAME_HEADER_BYTES + message.length || !this.end.tx.writeFrame(message)) return;
      this.#outbox.shift();
    }
  }
}

function frame(id: number, type: number, payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(REQUEST_HEADER_BYTES + payload.length);
  new DataView(bytes.buffer).setUint32(0, id, true);
  bytes[4] = type;
  bytes.set(payload, REQUEST_HEADER_BYTES);
  return bytes;
}
