/**
 * A small WebSocket (RFC 6455) for the relay in Node: the server's side of the opening handshake, and
 * a client's for the Node tests (Node 20 has no WebSocket without a flag, and no npm WebSocket package
 * is installed: see docs/dependencies.md). Binary messages only; text is refused; ping is answered;
 * fragments are joined. Every frame's length is checked against `maxMessageBytes` before anything is
 * kept, and a peer that breaks a MUST of the RFC is closed with the status §7.4.1 gives.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect as connectTcp, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** RFC 6455 §1.3: appended to the client's key before hashing. */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const OPCODE_CONTINUATION = 0x0;
const OPCODE_TEXT = 0x1;
const OPCODE_BINARY = 0x2;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const OPCODE_PONG = 0xa;

/** §7.4.1 status codes. */
const STATUS_NORMAL = 1000;
const STATUS_PROTOCOL_ERROR = 1002;
const STATUS_UNSUPPORTED_DATA = 1003;
const STATUS_TOO_BIG = 1009;

export const acceptKey = (key: string): string =>
  createHash('sha1')
    .update(key + HANDSHAKE_GUID)
    .digest('base64');

export interface WebSocketPeerOptions {
  /** The largest message taken; a larger one closes the connection with 1009. */
  readonly maxMessageBytes: number;
}

/** One open WebSocket over a byte stream, in the server's role or the client's (which masks). */
export class WebSocketPeer {
  onmessage: (data: Uint8Array) => void = () => {};
  onclose: () => void = () => {};
  readonly #socket: Duplex;
  readonly #client: boolean;
  readonly #maxMessageBytes: number;
  #input: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #closed = false;

  constructor(socket: Duplex, client: boolean, options: WebSocketPeerOptions, head: Buffer = Buffer.alloc(0)) {
    this.#socket = socket;
    this.#client = client;
    this.#maxMessageBytes = options.maxMessageBytes;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('close', () => this.#finish());
    socket.on('end', () => socket.destroy()); // the peer's TCP is shut: no WebSocket is left (§7.1.1)
    socket.on('error', () => socket.destroy());
    if (head.byteLength > 0) queueMicrotask(() => this.#receive(head));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes queued to the socket and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  /** Calls `drain` once the queued bytes went out. */
  onceDrained(drain: () => void): void {
    this.#socket.once('drain', drain);
  }

  send(data: Uint8Array): void {
    this.#frame(OPCODE_BINARY, data);
  }

  close(status = STATUS_NORMAL): void {
    if (this.#closed) return;
    const body = Buffer.alloc(2);
    body.writeUInt16BE(status);
    this.#frame(OPCODE_CLOSE, body);
    this.#closed = true;
    this.#socket.end();
    this.onclose();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onclose();
  }

  #frame(opcode: number, payload: Uint8Array): void {
    if (this.#closed) return;
    const length = payload.byteLength;
    const lengthBytes = length < 126 ? 0 : length < 0x10000 ? 2 : 8;
    const maskBytes = this.#client ? 4 : 0;
    const header = Buffer.alloc(2 + lengthBytes + maskBytes);
    header[0] = 0x80 | opcode;
    header[1] = (this.#client ? 0x80 : 0) | (lengthBytes === 0 ? length : lengthBytes === 2 ? 126 : 127);
    if (lengthBytes === 2) header.writeUInt16BE(length, 2);
    else if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
    if (!this.#client) {
      this.#socket.write(header);
      this.#socket.write(payload);
      return;
    }
    const mask = randomBytes(4);
    mask.copy(header, 2 + lengthBytes);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.byteLength; i++) masked[i]! ^= mask[i & 3]!;
    this.#socket.write(Buffer.concat([header, masked]));
  }

  #receive(chunk: Buffer): void {
    this.#input = this.#input.byteLength === 0 ? chunk : Buffer.concat([this.#input, chunk]);
    while (!this.#closed) {
      const input = this.#input;
      if (input.byteLength < 2) return;
      const fin = (input[0]! & 0x80) !== 0;
      const opcode = input[0]! & 0x0f;
      const masked = (input[1]! & 0x80) !== 0;
      let length = input[1]! & 0x7f;
      let offset = 2;
      if (input[0]! & 0x70) return this.close(STATUS_PROTOCOL_ERROR); // no extension was negotiated (§5.2)
      if (masked === this.#client) return this.close(STATUS_PROTOCOL_ERROR); // §5.1: clients mask, servers do not
      if (length === 126) {
        if (input.byteLength < 4) return;
        length = input.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (input.byteLength < 10) return;
        const long = input.readBigUInt64BE(2);
        if (long > BigInt(this.#maxMessageBytes)) return this.close(STATUS_TOO_BIG);
        length = Number(long);
        offset = 10;
      }
      if (length > this.#maxMessageBytes || this.#fragmentBytes + length > this.#maxMessageBytes) {
        return this.close(STATUS_TOO_BIG);
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (input.byteLength < offset + length) return;
      const payload = Buffer.from(input.subarray(offset, offset + length));
      if (masked) for (let i = 0; i < length; i++) payload[i]! ^= input[maskAt + (i & 3)]!;
      this.#input = input.subarray(offset + length);
      this.#frameReceived(fin, opcode, payload);
    }
  }

  #frameReceived(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OPCODE_PING:
        if (!fin || payload.byteLength > 125) return this.close(STATUS_PROTOCOL_ERROR); // §5.5
        return this.#frame(OPCODE_PONG, payload);
      case OPCODE_PONG:
        return;
      case OPCODE_CLOSE:
        return this.close(STATUS_NORMAL);
      case OPCODE_TEXT:
        return this.close(STATUS_UNSUPPORTED_DATA);
      case OPCODE_BINARY:
      case OPCODE_CONTINUATION: {
        if ((opcode === OPCODE_BINARY) === this.#fragments.length > 0) return this.close(STATUS_PROTOCOL_ERROR);
        if (opcode === OPCODE_BINARY && fin) return this.onmessage(payload);
        this.#fragments.push(payload);
        this.#fragmentBytes += payload.byteLength;
        if (!fin) return;
        const message = Buffer.concat(this.#fragments);
        this.#fragments = [];
        this.#fragmentBytes = 0;
        return this.onmessage(message);
      }
      default:
        return this.close(STATUS_PROTOCOL_ERROR);
    }
  }
}

/**
 * Answers an HTTP upgrade request (node:http's 'upgrade' event) with the handshake of §4.2.2, or with
 * 400 and `undefined` when it is not a WebSocket version 13 request.
 */
export function acceptWebSocket(
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  options: WebSocketPeerOptions,
): WebSocketPeer | undefined {
  const key = request.headers['sec-websocket-key'];
  const upgrade = request.headers.upgrade?.toLowerCase();
  if (
    request.method !== 'GET' ||
    upgrade !== 'websocket' ||
    request.headers['sec-websocket-version'] !== '13' ||
    typeof key !== 'string' ||
    Buffer.from(key, 'base64').byteLength !== 16
  ) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nSec-WebSocket-Version: 13\r\n\r\n');
    return undefined;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
  );
  return new WebSocketPeer(socket, false, options, head);
}

/** A WebSocket client in the shape of the page's `WebSocket` that relay-client.ts uses (Node tests). */
export class NodeWebSocket {
  binaryType: BinaryType = 'arraybuffer';
  readyState = 0;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  #peer: WebSocketPeer | undefined;
  readonly #socket: Socket;

  constructor(url: string) {
    const target = new URL(url);
    if (target.protocol !== 'ws:') throw new SyntaxError(`${url}: only ws:// in Node tests`);
    const key = randomBytes(16).toString('base64');
    const socket = connectTcp({ host: target.hostname, port: Number(target.port || 80) });
    this.#socket = socket;
    let response = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      response = Buffer.concat([response, chunk]);
      const end = response.indexOf('\r\n\r\n');
      if (end < 0) {
        if (response.byteLength > 16 * 1024) socket.destroy();
        return;
      }
      socket.off('data', onData);
      const head = response.subarray(0, end).toString('latin1');
      const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(head)?.[1];
      if (!/^HTTP\/1\.1 101 /.test(head) || accept !== acceptKey(key)) {
        socket.destroy();
        return;
      }
      this.readyState = 1;
      const peer = new WebSocketPeer(socket, true, { maxMessageBytes: 16 * 1024 * 1024 }, response.subarray(end + 4));
      this.#peer = peer;
      peer.onmessage = (data) => {
        const copy = new Uint8Array(data.byteLength);
        copy.set(data);
        this.onmessage?.({ data: copy.buffer } as MessageEvent);
      };
      peer.onclose = () => this.#closed();
      this.onopen?.({} as Event);
    };
    socket.on('data', onData);
    socket.on('error', () => {
      this.onerror?.({} as Event);
      socket.destroy();
    });
    socket.on('close', () => this.#closed());
    socket.write(
      `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  }

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error('the WebSocket is not open');
    this.#peer!.send(data);
  }

  close(): void {
    if (this.readyState >= 2) return;
    this.readyState = 2;
    if (this.#peer) this.#peer.close();
    else this.#socket.destroy();
  }

  #closed(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({} as CloseEvent);
  }
}
