/**
 * A wisp version 1 relay (workers/host/net/relay-protocol.ts) for `npm run relay` and the tests: each
 * WebSocket is a session; its CONNECTs open real TCP sockets and UDP sockets of this host, and their
 * bytes travel as DATA. Flow control as protocol.md asks: every stream may have `bufferPackets` DATA
 * packets in flight; a CONTINUE gives the credit back once the destination socket took them (half of it
 * at a time while it keeps up). The other way, a session whose WebSocket has more than
 * `maxQueuedBytes` queued stops reading its destination sockets until it drains.
 */
import { lookup } from 'node:dns/promises';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import { isIPv4, Socket } from 'node:net';
import {
  CLOSE_BLOCKED,
  CLOSE_INVALID,
  CLOSE_NETWORK_ERROR,
  CLOSE_REFUSED,
  CLOSE_TIMED_OUT,
  CLOSE_UNREACHABLE,
  CLOSE_VOLUNTARY,
  decodePacket,
  encodeClose,
  encodeContinue,
  encodeData,
  MAX_PACKET_BYTES,
  PACKET_CLOSE,
  PACKET_CONNECT,
  PACKET_CONTINUE,
  PACKET_DATA,
  PACKET_HEADER_BYTES,
  PACKET_INFO,
  STREAM_TCP,
  type RelayPacket,
} from '../../workers/host/net/relay-protocol.ts';
import { acceptWebSocket, type WebSocketPeer } from './websocket.ts';

export type Destination = {
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly protocol: 'tcp' | 'udp';
};

export interface RelayServerOptions {
  readonly host?: string;
  /** 0 for any free port. */
  readonly port: number;
  /** Whether a destination may be reached (default: every one). */
  readonly allow?: (destination: Destination) => boolean;
  /** One line per stream opened or refused. */
  readonly log?: (line: string) => void;
  /** DATA packets each TCP stream may have in flight (default 128). */
  readonly bufferPackets?: number;
  /** Bytes queued on a WebSocket before the session stops reading its sockets (default 1 MiB). */
  readonly maxQueuedBytes?: number;
  /** Time a TCP connect may take (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Streams one session may have open (default 512, the user-mode network's own TCP cap). */
  readonly maxStreams?: number;
}

export interface RelayServer {
  /** The URL to give a client, e.g. `ws://127.0.0.1:8765/`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const DATA_BYTES = MAX_PACKET_BYTES - PACKET_HEADER_BYTES;

export async function startRelayServer(options: RelayServerOptions): Promise<RelayServer> {
  const sessions = new Set<RelayServerSession>();
  const server: Server = createServer((_request, response) => {
    response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    response.end("This is a wisp relay for tabvm: give its ws:// URL to the app's Relay… setting.\n");
  });
  server.on('upgrade', (request, socket, head: Buffer) => {
    const peer = acceptWebSocket(request, socket, head, { maxMessageBytes: MAX_PACKET_BYTES });
    if (!peer) return;
    const session = new RelayServerSession(peer, options);
    sessions.add(session);
    peer.onclose = () => {
      session.close();
      sessions.delete(session);
    };
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `ws://${urlHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface ServerStream {
  data(bytes: Uint8Array): void;
  close(): void;
}

class RelayServerSession {
  readonly #peer: WebSocketPeer;
  readonly #options: RelayServerOptions;
  readonly #streams = new Map<number, ServerStream>();
  readonly #tcpSockets = new Set<Socket>();
  readonly bufferPackets: number;
  readonly connectTimeoutMs: number;
  #reading = true;

  constructor(peer: WebSocketPeer, options: RelayServerOptions) {
    this.#peer = peer;
    this.#options = options;
    this.bufferPackets = options.bufferPackets ?? 128;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    peer.onmessage = (message) => this.#message(message);
    peer.send(encodeContinue(0, this.bufferPackets));
  }

  close(): void {
    for (const stream of this.#streams.values()) stream.close();
    this.#streams.clear();
    if (!this.#peer.closed) this.#peer.close();
  }

  send(packet: Uint8Array): void {
    this.#peer.send(packet);
    if (this.#reading && this.#peer.bufferedBytes > (this.#options.maxQueuedBytes ?? 1024 * 1024)) {
      this.#reading = false;
      for (const socket of this.#tcpSockets) socket.pause();
      this.#peer.onceDrained(() => {
        this.#reading = true;
        for (const socket of this.#tcpSockets) socket.resume();
      });
    }
  }

  /** Ends a stream from the relay's side with `reason` (the client is told). */
  end(id: number, reason: number): void {
    if (!this.#streams.delete(id)) return;
    this.send(encodeClose(id, reason));
  }

  forget(id: number): void {
    this.#streams.delete(id);
  }

  watch(socket: Socket): void {
    this.#tcpSockets.add(socket);
    if (!this.#reading) socket.pause();
    socket.once('close', () => this.#tcpSockets.delete(socket));
  }

  log(line: string): void {
    this.#options.log?.(line);
  }

  #message(message: Uint8Array): void {
    const packet = decodePacket(message);
    if (typeof packet === 'string') {
      this.log(`relay: a client sent ${packet}; its session was closed`);
      this.close();
      return;
    }
    switch (packet.type) {
      case PACKET_CONNECT:
        return void this.#connect(packet);
      case PACKET_DATA:
        return this.#streams.get(packet.stream)?.data(packet.data);
      case PACKET_CLOSE: {
        const stream = this.#streams.get(packet.stream);
        this.#streams.delete(packet.stream);
        return stream?.close();
      }
      case PACKET_CONTINUE:
      case PACKET_INFO:
        return; // only a server sends CONTINUE; a version 2 client's INFO goes unanswered (version 1 then)
    }
  }

  async #connect(packet: Extract<RelayPacket, { type: typeof PACKET_CONNECT }>): Promise<void> {
    const { stream: id, port, host } = packet;
    const protocol = packet.streamType === STREAM_TCP ? 'tcp' : 'udp';
    if (this.#streams.has(id))
      return this.#refuse(id, CLOSE_INVALID, `${protocol} ${host}:${port}: stream ${id} is in use`);
    if (this.#streams.size >= (this.#options.maxStreams ?? 512))
      return this.#refuse(id, CLOSE_INVALID, `${protocol} ${host}:${port}: too many streams`);
    if (port === 0 || host.length === 0)
      return this.#refuse(id, CLOSE_INVALID, `${protocol} ${host}:${port}: not a destination`);
    // The stream exists from here: DATA that comes while the name resolves is kept by the stream.
    const pending = new PendingStream();
    this.#streams.set(id, pending);
    let address: string;
    let family: number;
    try {
      ({ address, family } = await lookup(host));
    } catch {
      if (this.#streams.get(id) === pending) this.end(id, CLOSE_UNREACHABLE);
      this.log(`relay: ${protocol} ${host}:${port} refused: no address`);
      return;
    }
    if (this.#streams.get(id) !== pending) return; // closed by the client meanwhile
    const destination: Destination = { host, address, port, protocol };
    const where = `${protocol} ${host}:${port}${host === address ? '' : ` (${address})`}`;
    if (this.#options.allow && !this.#options.allow(destination)) {
      this.end(id, CLOSE_BLOCKED);
      this.log(`relay: ${where} blocked`);
      return;
    }
    this.log(`relay: ${where}`);
    const stream =
      protocol === 'tcp'
        ? new TcpServerStream(this, id, address, port)
        : new UdpServerStream(this, id, address, family, port);
    this.#streams.set(id, stream);
    for (const bytes of pending.queued) stream.data(bytes);
  }

  #refuse(id: number, reason: number, line: string): void {
    this.send(encodeClose(id, reason));
    this.log(`relay: ${line}; refused`);
  }
}

/** A stream whose destination is being resolved: keeps its DATA (the client may send before CONTINUE). */
class PendingStream implements ServerStream {
  readonly queued: Uint8Array[] = [];
  data(bytes: Uint8Array): void {
    this.queued.push(bytes);
  }
  close(): void {}
}

class TcpServerStream implements ServerStream {
  readonly #session: RelayServerSession;
  readonly #id: number;
  readonly #socket: Socket;
  /** DATA packets taken since the last CONTINUE. */
  #received = 0;
  #waitingForDrain = false;
  #connected = false;

  constructor(session: RelayServerSession, id: number, address: string, port: number) {
    this.#session = session;
    this.#id = id;
    const socket = new Socket();
    this.#socket = socket;
    session.watch(socket);
    socket.setNoDelay(true);
    socket.setTimeout(session.connectTimeoutMs);
    socket.once('timeout', () => {
      if (!this.#connected) socket.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    });
    socket.once('connect', () => {
      this.#connected = true;
      socket.setTimeout(0);
      // Our client takes the first CONTINUE of a stream as "connected" (wisp 1 has no such packet).
      session.send(encodeContinue(id, session.bufferPackets));
    });
    socket.on('data', (chunk: Buffer) => {
      for (let offset = 0; offset < chunk.byteLength; offset += DATA_BYTES) {
        session.send(encodeData(id, chunk.subarray(offset, offset + DATA_BYTES)));
      }
    });
    socket.once('end', () => {
      session.end(id, CLOSE_VOLUNTARY);
      socket.end();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const reason = !this.#connected
        ? error.code === 'ECONNREFUSED'
          ? CLOSE_REFUSED
          : error.code === 'ETIMEDOUT'
            ? CLOSE_TIMED_OUT
            : CLOSE_UNREACHABLE
        : CLOSE_NETWORK_ERROR;
      session.end(id, reason);
    });
    socket.once('close', () => session.end(id, CLOSE_VOLUNTARY));
    socket.connect({ host: address, port });
  }

  data(bytes: Uint8Array): void {
    const flushed = this.#socket.write(bytes);
    this.#received++;
    if (!flushed && !this.#waitingForDrain) {
      this.#waitingForDrain = true;
      this.#socket.once('drain', () => {
        this.#waitingForDrain = false;
        this.#giveCredit();
      });
    } else if (!this.#waitingForDrain && this.#received >= this.#session.bufferPackets / 2) {
      this.#giveCredit();
    }
  }

  #giveCredit(): void {
    if (this.#socket.destroyed) return;
    this.#received = 0;
    this.#session.send(encodeContinue(this.#id, this.#session.bufferPackets));
  }

  close(): void {
    this.#session.forget(this.#id);
    this.#socket.destroy();
  }
}

class UdpServerStream implements ServerStream {
  readonly #session: RelayServerSession;
  readonly #id: number;
  readonly #socket: UdpSocket;
  #queued: Uint8Array[] | undefined = [];

  constructor(session: RelayServerSession, id: number, address: string, family: number, port: number) {
    this.#session = session;
    this.#id = id;
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    this.#socket = socket;
    socket.on('message', (message: Buffer) => session.send(encodeData(id, message)));
    socket.on('error', () => {
      session.end(id, CLOSE_NETWORK_ERROR);
      socket.close();
    });
    socket.connect(port, address, () => {
      const queued = this.#queued ?? [];
      this.#queued = undefined;
      for (const bytes of queued) socket.send(bytes);
    });
  }

  data(bytes: Uint8Array): void {
    if (this.#queued) this.#queued.push(Buffer.from(bytes));
    else this.#socket.send(bytes);
  }

  close(): void {
    this.#session.forget(this.#id);
    try {
      this.#socket.close();
    } catch {
      // closed already (after an error)
    }
  }
}

/**
 * A destination rule of `--allow`/`--deny`: `HOST`, `HOST:PORT` or `*:PORT`, where HOST is a name
 * (`*.example.org` for its subdomains), an IPv4 address or an IPv4 CIDR range (`10.0.0.0/8`), matched
 * against both the name the guest asked for and the address it resolved to.
 */
export function parseDestinationRule(rule: string): ((destination: Destination) => boolean) | string {
  const match = /^(.+?)(?::(\d{1,5}|\*))?$/.exec(rule.trim());
  if (!match) return `${rule}: not HOST, HOST:PORT or *:PORT`;
  const hostPattern = match[1]!.toLowerCase();
  const port = match[2] === undefined || match[2] === '*' ? undefined : Number(match[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return `${rule}: a port is 1 to 65535`;
  let hostMatches: (name: string) => boolean;
  const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(hostPattern);
  if (cidr) {
    const bits = Number(cidr[2]);
    if (!isIPv4(cidr[1]!) || bits > 32) return `${rule}: not an IPv4 range`;
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    const base = (ipv4Number(cidr[1]!) & mask) >>> 0;
    hostMatches = (name) => isIPv4(name) && (ipv4Number(name) & mask) >>> 0 === base;
  } else if (hostPattern === '*') {
    hostMatches = () => true;
  } else if (hostPattern.startsWith('*.')) {
    const suffix = hostPattern.slice(1);
    hostMatches = (name) => name.toLowerCase().endsWith(suffix);
  } else {
    hostMatches = (name) => name.toLowerCase() === hostPattern;
  }
  return (destination) =>
    (port === undefined || destination.port === port) &&
    (hostMatches(destination.host) || hostMatches(destination.address));
}

function ipv4Number(address: string): number {
  return address.split('.').reduce((value, part) => ((value << 8) | Number(part)) >>> 0, 0);
}
