/**
 * The browser's optional relay (docs/networking.md, "The relay"): a `SocketProvider` that opens the
 * guest's TCP connections and UDP flows as streams of a wisp relay (relay-protocol.ts) over one
 * WebSocket, and leaves the rest to another provider (the fetch gateway): TCP port 80 unless
 * `everything`, so the page's mirror and its own origin keep working. DNS stays the network's
 * synthetic resolver: a CONNECT names the host, and the relay resolves it.
 *
 * Flow control: guest→relay, each TCP stream may send as many DATA packets as the relay's last
 * CONTINUE allows; the rest waits here and counts in `pendingBytes`, which shrinks the guest's TCP
 * window. Relay→guest, wisp version 1 has no credit: a paused stream (the guest's window is full)
 * keeps what the relay sends, up to `maxBufferedBytes`, past which the stream is closed and the guest's
 * connection reset.
 *
 * Wisp has no half-close: the guest's FIN is not passed on (the far end sees its bytes, never an EOF),
 * and the stream lasts until the far end closes or the guest resets.
 */
import {
  CLOSE_CLIENT_ERROR,
  CLOSE_VOLUNTARY,
  closeReasonText,
  decodePacket,
  encodeClose,
  encodeConnect,
  encodeData,
  MAX_PACKET_BYTES,
  PACKET_CLOSE,
  PACKET_CONNECT,
  PACKET_CONTINUE,
  PACKET_DATA,
  PACKET_HEADER_BYTES,
  PACKET_INFO,
  STREAM_TCP,
  STREAM_UDP,
  type RelayPacket,
} from './relay-protocol.ts';
import { HTTP_PORT } from './fetch-gateway.ts';
import { ipv4ToString } from './frames.ts';
import type { HostStream, HostUdpSocket, SocketProvider, StreamEvents, UdpEvents } from './sockets.ts';

/** The part of a WebSocket the client uses (the page's `WebSocket`; a test's own). */
export interface RelaySocket {
  binaryType: BinaryType;
  readonly readyState: number;
  send(data: Uint8Array<ArrayBuffer>): void;
  close(): void;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
}

export interface RelayOptions {
  /** The relay's WebSocket URL, `ws://` or `wss://`. */
  readonly url: string;
  /** TCP port 80 through the relay too, instead of fetch() (the page's mirror then does not apply). */
  readonly everything?: boolean;
  /** Opens the WebSocket (default the page's `WebSocket`). */
  readonly openSocket?: (url: string) => RelaySocket;
  /** How long the relay has to open and send its first CONTINUE (default 10 s). */
  readonly connectTimeoutMs?: number;
  /**
   * How long a new TCP stream waits for the relay's first word (a CONTINUE or DATA for it) before the
   * guest's connection counts as open anyway (default 2 s): wisp 1 has no "connected" packet, and a
   * relay other than ours may confirm nothing until it has data.
   */
  readonly confirmMs?: number;
  /** Relay bytes one TCP stream holds while the guest cannot take them (default 16 MiB). */
  readonly maxBufferedBytes?: number;
}

export interface RelayContext {
  /** 10.0.2.2, which the relay reaches as its own host's loopback (as QEMU's user network does). */
  readonly gatewayAddress: number;
  /** The name a synthetic address stands for (synthetic-resolver.ts). */
  readonly nameOf: (address: number) => string | undefined;
  readonly onNotice: (line: string) => void;
}

/** Destinations one UDP socket (one guest port) may send to at once: each is a stream of its own. */
const MAX_UDP_DESTINATIONS = 64;
/** Datagrams a UDP stream keeps while the relay is not open yet. */
const MAX_UDP_WAITING = 16;
/** Refusal lines are given once per destination; the set of those given is bounded. */
const MAX_NOTICED_DESTINATIONS = 256;

/** Validates a relay URL; the sentence says what is wrong. */
export function relayUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${url} is not a URL`;
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
    return `a relay's URL starts with ws:// or wss://, not ${parsed.protocol}//`;
  return undefined;
}

export class RelayProvider implements SocketProvider {
  readonly #fallback: SocketProvider;
  readonly #options: RelayOptions;
  readonly #context: RelayContext;
  #session: RelaySession | undefined;
  readonly #noticed = new Set<string>();

  constructor(fallback: SocketProvider, options: RelayOptions, context: RelayContext) {
    const problem = relayUrlProblem(options.url);
    if (problem) throw new Error(problem);
    this.#fallback = fallback;
    this.#options = options;
    this.#context = context;
  }

  get url(): string {
    return this.#options.url;
  }

  get options(): RelayOptions {
    return this.#options;
  }

  connect(address: number, port: number, events: StreamEvents): HostStream {
    if (port === HTTP_PORT && !this.#options.everything) return this.#fallback.connect(address, port, events);
    return new RelayTcpStream(this, this.hostOf(address), port, events);
  }

  openUdp(events: UdpEvents): HostUdpSocket {
    return new RelayUdpSocket(this, events);
  }

  /** Closes the WebSocket; the streams on it are reset. The next connection opens a new one. */
  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }

  /** The open session, or a new one when there is none or the last one ended. */
  session(): RelaySession {
    if (!this.#session || this.#session.ended) this.#session = new RelaySession(this, this.#options);
    return this.#session;
  }

  /** The host name a CONNECT gives for a guest address. */
  hostOf(address: number): string {
    if (address === this.#context.gatewayAddress) return '127.0.0.1';
    return this.#context.nameOf(address) ?? ipv4ToString(address);
  }

  notice(line: string): void {
    this.#context.onNotice(line);
  }

  /** A line once per `key` (a destination), so a guest retrying in a loop does not flood the pane. */
  noticeOnce(key: string, line: string): void {
    if (this.#noticed.has(key)) return;
    if (this.#noticed.size >= MAX_NOTICED_DESTINATIONS) this.#noticed.clear();
    this.#noticed.add(key);
    this.notice(line);
  }
}

/** A stream of a session: what the session tells it. */
interface SessionStream {
  /** The relay is open: `credit` DATA packets may go before the next CONTINUE. */
  start(credit: number): void;
  packet(packet: RelayPacket): void;
  /** The WebSocket is gone: `opened` says whether it ever was open. */
  lost(opened: boolean): void;
}

/** One WebSocket to the relay and its streams. */
class RelaySession {
  readonly #provider: RelayProvider;
  readonly #socket: RelaySocket;
  readonly #streams = new Map<number, SessionStream>();
  #nextId = 1;
  /** Set by the relay's first CONTINUE (on stream 0): the credit every new TCP stream starts with. */
  #initialCredit: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Packets sent before the relay was ready. */
  #waiting: Uint8Array<ArrayBuffer>[] = [];
  /** A line was given already for the session's end (a protocol error). */
  #told = false;
  /** Why the WebSocket could not be made, when the page said. */
  #failure: string | undefined;
  ended = false;

  constructor(provider: RelayProvider, options: RelayOptions) {
    this.#provider = provider;
    const open = options.openSocket ?? ((url: string) => new WebSocket(url) as RelaySocket);
    let socket: RelaySocket;
    try {
      socket = open(options.url);
    } catch (error) {
      // A URL the page may not open (ws:// from an https:// page): a relay that is down, and why.
      this.#failure = (error as Error).message;
      socket = closedSocket();
      queueMicrotask(() => this.#end());
    }
    this.#socket = socket;
    socket.binaryType = 'arraybuffer';
    socket.onmessage = (event) => this.#message(event.data);
    socket.onclose = () => this.#end();
    socket.onerror = () => this.#end();
    this.#timer = setTimeout(() => {
      if (this.#initialCredit === undefined) this.#end();
    }, options.connectTimeoutMs ?? 10_000);
  }

  get url(): string {
    return this.#provider.url;
  }

  /**
   * Adds a stream and sends its CONNECT; the stream starts once the relay's first CONTINUE came (at
   * once if it has).
   */
  add(stream: SessionStream, connect: (id: number) => Uint8Array<ArrayBuffer>): number {
    if (this.ended) throw new Error('the relay session has ended');
    while (this.#streams.has(this.#nextId) || this.#nextId === 0) this.#nextId = (this.#nextId + 1) >>> 0;
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0;
    this.#streams.set(id, stream);
    this.send(connect(id));
    if (this.#initialCredit !== undefined) stream.start(this.#initialCredit);
    return id;
  }

  remove(id: number): void {
    this.#streams.delete(id);
  }

  /**
   * Sends a packet, or keeps it until the relay's first CONTINUE: before that only CONNECTs and CLOSEs
   * are sent (streams have no credit yet, UDP keeps its own few), one or two per stream.
   */
  send(packet: Uint8Array<ArrayBuffer>): void {
    if (this.ended) return;
    if (this.#initialCredit === undefined) this.#waiting.push(packet);
    else this.#socket.send(packet);
  }

  close(): void {
    if (this.ended) return;
    this.#socket.close();
    this.#end();
  }

  #message(data: unknown): void {
    if (this.ended) return;
    if (!(data instanceof ArrayBuffer)) return this.#protocolError('a text message');
    const packet = decodePacket(new Uint8Array(data));
    if (typeof packet === 'string') return this.#protocolError(packet);
    if (packet.type === PACKET_INFO) return; // a version 2 relay's; without ours it goes on in version 1
    if (packet.stream === 0) {
      if (packet.type !== PACKET_CONTINUE) return this.#protocolError('a packet on stream 0 that is not a CONTINUE');
      const first = this.#initialCredit === undefined;
      this.#initialCredit = packet.remaining;
      clearTimeout(this.#timer);
      if (first) {
        for (const waiting of this.#waiting) this.#socket.send(waiting);
        this.#waiting = [];
        for (const stream of [...this.#streams.values()]) stream.start(packet.remaining);
      }
      return;
    }
    if (this.#initialCredit === undefined) return this.#protocolError('a stream packet before the first CONTINUE');
    this.#streams.get(packet.stream)?.packet(packet); // a stream we closed may still have packets coming
  }

  /** The relay broke the protocol: one line, and the session ends (its streams are reset). */
  #protocolError(what: string): void {
    this.#provider.notice(`network: the relay at ${this.url} sent ${what}; its connections were reset`);
    this.#told = true;
    this.close();
  }

  #end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.#timer);
    const opened = this.#initialCredit !== undefined;
    if (this.#socket.readyState < 2) this.#socket.close();
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#waiting = [];
    if (!this.#told && !opened) {
      const which = streams.length === 1 ? 'a connection was' : `${streams.length} connections were`;
      this.#provider.notice(
        `network: the relay at ${this.url} could not be reached${this.#failure ? ` (${this.#failure})` : ''}; ${which} refused (the next one tries again)`,
      );
    } else if (!this.#told && streams.length > 0) {
      this.#provider.notice(`network: the relay at ${this.url} closed; ${streams.length} open connections were reset`);
    }
    for (const stream of streams) stream.lost(opened);
  }
}

function closedSocket(): RelaySocket {
  return {
    binaryType: 'arraybuffer',
    readyState: 3,
    send() {},
    close() {},
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
  };
}

/** One guest TCP connection as a relay stream. */
class RelayTcpStream implements HostStream, SessionStream {
  readonly #provider: RelayProvider;
  readonly #session: RelaySession;
  readonly #events: StreamEvents;
  readonly #where: string;
  readonly #id: number;
  readonly #maxBufferedBytes: number;
  #started = false;
  #confirmed = false;
  #closed = false;
  #credit = 0;
  /** Guest bytes waiting for credit. */
  #outgoing: Uint8Array[] = [];
  #outgoingBytes = 0;
  /** Relay bytes waiting for the guest (while paused). */
  #incoming: Uint8Array[] = [];
  #incomingBytes = 0;
  #paused = false;
  /** The relay closed the stream in order; the FIN goes once `#incoming` is delivered. */
  #remoteClosed = false;
  #confirmTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #confirmMs: number;

  constructor(provider: RelayProvider, host: string, port: number, events: StreamEvents) {
    this.#provider = provider;
    this.#events = events;
    this.#where = `${host}:${port}`;
    this.#maxBufferedBytes = provider.options.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.#confirmMs = provider.options.confirmMs ?? 2000;
    this.#session = provider.session();
    this.#id = this.#session.add(this, (id) => encodeConnect(id, STREAM_TCP, port, host));
  }

  get pendingBytes(): number {
    return this.#outgoingBytes;
  }

  start(credit: number): void {
    this.#started = true;
    this.#credit = credit;
    this.#confirmTimer = setTimeout(() => this.#confirm(), this.#confirmMs);
    this.#flush();
  }

  #confirm(): void {
    clearTimeout(this.#confirmTimer);
    if (this.#confirmed || this.#closed) return;
    this.#confirmed = true;
    this.#events.connected();
  }

  packet(packet: RelayPacket): void {
    if (this.#closed) return;
    switch (packet.type) {
      case PACKET_CONTINUE: {
        this.#confirm();
        const waiting = this.#outgoingBytes;
        this.#credit = packet.remaining;
        this.#flush();
        // Any bytes that left reopen the guest's window by as much: the network decides whether to say so.
        if (this.#outgoingBytes < waiting) this.#events.drained();
        return;
      }
      case PACKET_DATA:
        this.#confirm();
        if (this.#remoteClosed) return;
        if (!this.#paused && this.#incoming.length === 0) {
          this.#events.data(packet.data);
          return;
        }
        this.#incoming.push(packet.data);
        this.#incomingBytes += packet.data.byteLength;
        if (this.#incomingBytes > this.#maxBufferedBytes) {
          this.#provider.notice(
            `network: ${this.#where} through the relay sent more than ${this.#maxBufferedBytes >> 20} MiB the VM could not take yet; the connection was reset`,
          );
          this.#session.send(encodeClose(this.#id, CLOSE_CLIENT_ERROR));
          this.#finish('reset');
        }
        return;
      case PACKET_CLOSE:
        if (!this.#confirmed) {
          this.#provider.noticeOnce(
            this.#where,
            `network: the relay could not connect to ${this.#where} (${closeReasonText(packet.reason)}); refused`,
          );
          this.#finish('refused');
        } else if (packet.reason === CLOSE_VOLUNTARY) {
          this.#remoteClosed = true;
          this.#closeIfDelivered();
        } else {
          this.#provider.noticeOnce(
            this.#where,
            `network: the relay reset ${this.#where} (${closeReasonText(packet.reason)})`,
          );
          this.#finish('reset');
        }
        return;
      case PACKET_CONNECT:
      case PACKET_INFO:
        return; // a relay does not open streams; ignored
    }
  }

  lost(opened: boolean): void {
    if (this.#closed) return;
    this.#session.remove(this.#id);
    this.#finish(opened && this.#confirmed ? 'reset' : 'refused', false);
  }

  write(bytes: Uint8Array): void {
    if (this.#closed) return;
    const chunk = MAX_PACKET_BYTES - PACKET_HEADER_BYTES;
    for (let offset = 0; offset < bytes.byteLength; offset += chunk) {
      const part = bytes.subarray(offset, offset + chunk);
      if (this.#started && this.#credit > 0 && this.#outgoing.length === 0) {
        this.#credit--;
        this.#session.send(encodeData(this.#id, part));
      } else {
        this.#outgoing.push(part.slice());
        this.#outgoingBytes += part.byteLength;
      }
    }
  }

  #flush(): void {
    while (this.#started && this.#credit > 0 && this.#outgoing.length > 0) {
      const part = this.#outgoing.shift()!;
      this.#outgoingBytes -= part.byteLength;
      this.#credit--;
      this.#session.send(encodeData(this.#id, part));
    }
  }

  end(): void {
    // Wisp 1 has no half-close: the stream stays open for the far end's answer (see the file's comment).
  }

  destroy(): void {
    if (this.#closed) return;
    this.#session.send(encodeClose(this.#id, CLOSE_VOLUNTARY));
    this.#finish(undefined);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    while (!this.#paused && !this.#closed && this.#incoming.length > 0) {
      const data = this.#incoming.shift()!;
      this.#incomingBytes -= data.byteLength;
      this.#events.data(data);
    }
    this.#closeIfDelivered();
  }

  #closeIfDelivered(): void {
    if (this.#remoteClosed && this.#incoming.length === 0 && !this.#closed) this.#finish('closed');
  }

  /** Forgets the stream; tells the network why unless it asked (`undefined`). */
  #finish(reason: 'refused' | 'reset' | 'closed' | undefined, remove = true): void {
    this.#closed = true;
    clearTimeout(this.#confirmTimer);
    if (remove) this.#session.remove(this.#id);
    this.#outgoing = [];
    this.#incoming = [];
    if (reason) this.#events.closed(reason);
  }
}

/** One guest UDP port's flows: a relay UDP stream for each destination. */
class RelayUdpSocket implements HostUdpSocket {
  readonly #provider: RelayProvider;
  readonly #events: UdpEvents;
  readonly #flows = new Map<string, RelayUdpFlow>();
  #closed = false;

  constructor(provider: RelayProvider, events: UdpEvents) {
    this.#provider = provider;
    this.#events = events;
  }

  send(data: Uint8Array, address: number, port: number): void {
    if (this.#closed) return;
    const key = `${address}:${port}`;
    let flow = this.#flows.get(key);
    if (!flow || flow.closed) {
      if (this.#flows.size >= MAX_UDP_DESTINATIONS) {
        for (const [old, candidate] of this.#flows) if (candidate.closed) this.#flows.delete(old);
        if (this.#flows.size >= MAX_UDP_DESTINATIONS) return; // dropped, as a full NAT table drops
      }
      flow = new RelayUdpFlow(this.#provider, this.#provider.hostOf(address), port, (message) =>
        this.#events.message(message, address, port),
      );
      this.#flows.set(key, flow);
    }
    flow.send(data);
  }

  close(): void {
    this.#closed = true;
    for (const flow of this.#flows.values()) flow.close();
    this.#flows.clear();
  }
}

class RelayUdpFlow implements SessionStream {
  readonly #provider: RelayProvider;
  readonly #session: RelaySession;
  readonly #id: number;
  readonly #where: string;
  readonly #deliver: (message: Uint8Array) => void;
  #started = false;
  #waiting: Uint8Array<ArrayBuffer>[] = [];
  closed = false;

  constructor(provider: RelayProvider, host: string, port: number, deliver: (message: Uint8Array) => void) {
    this.#provider = provider;
    this.#where = `${host}:${port}`;
    this.#deliver = deliver;
    this.#session = provider.session();
    this.#id = this.#session.add(this, (id) => encodeConnect(id, STREAM_UDP, port, host));
  }

  start(): void {
    this.#started = true; // UDP streams have no credit (protocol.md, "CONTINUE")
    for (const packet of this.#waiting) this.#session.send(packet);
    this.#waiting = [];
  }

  send(data: Uint8Array): void {
    if (this.closed || data.byteLength > MAX_PACKET_BYTES - PACKET_HEADER_BYTES) return;
    const packet = encodeData(this.#id, data);
    if (this.#started) this.#session.send(packet);
    else if (this.#waiting.length < MAX_UDP_WAITING) this.#waiting.push(packet);
  }

  packet(packet: RelayPacket): void {
    if (this.closed) return;
    if (packet.type === PACKET_DATA) this.#deliver(packet.data);
    else if (packet.type === PACKET_CLOSE) {
      this.closed = true;
      this.#session.remove(this.#id);
      if (packet.reason !== CLOSE_VOLUNTARY) {
        this.#provider.noticeOnce(
          `udp ${this.#where}`,
          `network: the relay closed UDP to ${this.#where} (${closeReasonText(packet.reason)})`,
        );
      }
    }
  }

  lost(): void {
    this.closed = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#session.remove(this.#id);
    this.#session.send(encodeClose(this.#id, CLOSE_VOLUNTARY));
  }
}
