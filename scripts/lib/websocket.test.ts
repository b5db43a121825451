/**
 * The relay's WebSocket (RFC 6455) against raw bytes: a client's frames as the RFC lays them out, and
 * what a peer that breaks the RFC gets (the close status of §7.4.1, never a thrown error or a message).
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptKey, acceptWebSocket, NodeWebSocket, type WebSocketPeer } from './websocket.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server whose peers keep every message; `maxMessageBytes` 1000. */
async function server(): Promise<{ port: number; messages: Uint8Array[]; peers: WebSocketPeer[] }> {
  const messages: Uint8Array[] = [];
  const peers: WebSocketPeer[] = [];
  const http: Server = createHttpServer();
  http.on('upgrade', (request, socket, head: Buffer) => {
    const peer = acceptWebSocket(request, socket, head, { maxMessageBytes: 1000 });
    if (!peer) return;
    peer.onmessage = (message) => {
      messages.push(Uint8Array.from(message));
      peer.send(Uint8Array.from(message).reverse());
    };
    peers.push(peer);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    http.closeAllConnections();
    return new Promise((resolve) => http.close(resolve));
  });
  return { port: (http.address() as { port: number }).port, messages, peers };
}

/** A raw client after the handshake, and everything the server sent after its 101. */
async function rawClient(port: number): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port });
  cleanups.push(() => socket.destroy());
  let input = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (input = Buffer.concat([input, chunk])));
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await until(() => input.includes('\r\n\r\n'));
  const head = input.subarray(0, input.indexOf('\r\n\r\n')).toString();
  expect(head).toMatch(/^HTTP\/1\.1 101 /);
  expect(head).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  const start = input.indexOf('\r\n\r\n') + 4;
  return { socket, received: () => input.subarray(start), closed };
}

async function until(condition: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A client frame (masked, as §5.3 requires of clients unless `masked` is false). */
function frame(opcode: number, payload: Uint8Array, { fin = true, masked = true } = {}): Buffer {
  const length = payload.byteLength;
  const head = [(fin ? 0x80 : 0) | opcode];
  if (length < 126) head.push((masked ? 0x80 : 0) | length);
  else head.push((masked ? 0x80 : 0) | 126, length >> 8, length & 0xff);
  const mask = [0x12, 0x34, 0x56, 0x78];
  const body = Buffer.from(payload.map((byte, i) => (masked ? byte ^ mask[i & 3]! : byte)));
  return Buffer.concat([Buffer.from(head), masked ? Buffer.from(mask) : Buffer.alloc(0), body]);
}

/** The close status of a server's close frame. */
const closeStatus = (bytes: Buffer): number | undefined =>
  bytes[0] === 0x88 && bytes[1] === 2 ? bytes.readUInt16BE(2) : undefined;

describe('the relay’s WebSocket', () => {
  it('computes RFC 6455’s example accept key', () => {
    expect(acceptKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('takes a masked binary message, joins fragments, answers a ping, and sends unmasked frames', async () => {
    const { port, messages } = await server();
    const client = await rawClient(port);
    client.socket.write(frame(0x2, Uint8Array.of(1, 2, 3)));
    client.socket.write(frame(0x2, Uint8Array.of(4), { fin: false }));
    client.socket.write(frame(0x9, Uint8Array.of(7, 7))); // a ping between fragments (§5.4)
    client.socket.write(frame(0x0, new Uint8Array(200).fill(5)));
    await until(() => messages.length === 2);
    expect([...messages[0]!]).toEqual([1, 2, 3]);
    expect(messages[1]!.byteLength).toBe(201);
    expect(messages[1]![0]).toBe(4);
    await until(() => client.received().byteLength >= 5 + 4 + 4 + 201);
    const received = client.received();
    expect([...received.subarray(0, 5)]).toEqual([0x82, 3, 3, 2, 1]); // unmasked, reversed by the test server
    expect([...received.subarray(5, 9)]).toEqual([0x8a, 2, 7, 7]); // the pong
    expect([...received.subarray(9, 13)]).toEqual([0x82, 126, 0, 201]);
  });

  it('closes with the RFC’s status on what it must refuse, before keeping anything', async () => {
    const cases: [Buffer, number][] = [
      [frame(0x2, Uint8Array.of(1), { masked: false }), 1002], // §5.1: a client's frame unmasked
      [frame(0x1, Uint8Array.of(65)), 1003], // text: the relay speaks binary
      [frame(0x2, new Uint8Array(1001)), 1009], // over maxMessageBytes
      [Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0]), 1009], // a 64-bit length of 4 GiB, no body needed
      [Buffer.from([0xc2, 0x80, 0, 0, 0, 0]), 1002], // RSV1 without an extension
      [frame(0x0, Uint8Array.of(1)), 1002], // a continuation with nothing to continue
      [frame(0x3, Uint8Array.of(1)), 1002], // a reserved opcode
      [frame(0x9, Uint8Array.of(1), { fin: false }), 1002], // a fragmented ping (§5.5)
    ];
    for (const [bytes, status] of cases) {
      const { port, messages } = await server();
      const client = await rawClient(port);
      client.socket.write(bytes);
      await client.closed;
      expect(closeStatus(client.received()), bytes.toString('hex')).toBe(status);
      expect(messages).toEqual([]);
    }
  });

  it('refuses an upgrade that is not WebSocket 13 with 400', async () => {
    const { port } = await server();
    const socket = connect({ host: '127.0.0.1', port });
    cleanups.push(() => socket.destroy());
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    socket.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n',
    );
    await until(() => answer.length > 0);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('NodeWebSocket talks to it as the page’s WebSocket would', async () => {
    const { port, messages } = await server();
    const socket = new NodeWebSocket(`ws://127.0.0.1:${port}/`);
    cleanups.push(() => socket.close());
    const replies: Uint8Array[] = [];
    socket.onmessage = (event) => replies.push(new Uint8Array(event.data as ArrayBuffer));
    await new Promise((resolve) => (socket.onopen = resolve));
    socket.send(Uint8Array.of(1, 2, 3));
    await until(() => replies.length === 1);
    expect([...replies[0]!]).toEqual([3, 2, 1]);
    // 70 000 bytes are over the test server's 1000: it closes (1009) and the client sees the close.
    socket.send(new Uint8Array(70_000).fill(9));
    await until(() => socket.readyState === 3);
    expect(messages).toHaveLength(1);
  });
});
