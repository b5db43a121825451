import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserNetwork, type BrowserNetworkCard } from './browser-network.ts';
import { ipv4 } from './frames.ts';
import { GuestConnectionError } from './guest-socket.ts';
import { ScriptedGuest, type GuestTcp } from './test-support/scripted-guest.ts';
import { GATEWAY_ADDRESS } from './user-network.ts';

const GUEST_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

function pattern(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

let networks: BrowserNetwork[] = [];
let endpoints: GuestTcp[] = [];
afterEach(() => {
  for (const network of networks) network.reset();
  for (const endpoint of endpoints) endpoint.stop();
  networks = [];
  endpoints = [];
});

/** A scripted guest on a page's network, with its DHCP lease (10.0.2.15) unless `leased` is false. */
async function setup(leased = true): Promise<{ guest: ScriptedGuest; card: BrowserNetworkCard }> {
  const network = new BrowserNetwork({
    origin: 'http://app.test',
    fetch: () => Promise.reject(new Error('no fetch in this test')),
  });
  networks.push(network);
  const card = network.card(() => {});
  const guest = new ScriptedGuest(GUEST_MAC);
  guest.network = card.onNetwork({ toGuest: guest });
  if (leased) {
    guest.dhcp(1);
    await guest.until(() => guest.udp.some((d) => d.payload[242] === 2), 2000, 'DHCPOFFER');
    guest.dhcp(3, { requested: ipv4('10.0.2.15'), server: GATEWAY_ADDRESS });
    await guest.until(() => guest.udp.some((d) => d.payload[242] === 5), 2000, 'DHCPACK');
    guest.address = ipv4('10.0.2.15');
  }
  return { guest, card };
}

function server(guest: ScriptedGuest, port: number, options?: Parameters<ScriptedGuest['tcpServer']>[1]): GuestTcp {
  const endpoint = guest.tcpServer(port, options);
  endpoints.push(endpoint);
  return endpoint;
}

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(readable).arrayBuffer());
}

describe('connections from the page into a guest', () => {
  it('opens a connection to the guest’s lease from the gateway and carries bytes both ways with FINs', async () => {
    const { guest, card } = await setup();
    const listener = server(guest, 8000);
    const socket = card.connectToGuest(8000);
    expect(socket.remote).toBe('10.0.2.15:8000');
    await socket.opened;
    await guest.until(() => listener.established, 2000, 'the guest’s end established');
    const writer = socket.writable.getWriter();
    await writer.write(bytes('GET / HTTP/1.0\r\n\r\n'));
    await writer.close();
    await guest.until(() => listener.finReceived, 2000, 'the request and its FIN');
    expect(text(listener.bytes())).toBe('GET / HTTP/1.0\r\n\r\n');
    listener.write(bytes('HTTP/1.0 200 OK\r\n\r\nhello'));
    listener.close();
    expect(text(await readAll(socket.readable))).toBe('HTTP/1.0 200 OK\r\n\r\nhello');
  });

  it('rejects `opened` and errors the streams when the guest refuses with a RST', async () => {
    const { guest, card } = await setup();
    guest.refuseClosedPorts = true;
    const socket = card.connectToGuest(9999);
    const error = await socket.opened.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(GuestConnectionError);
    expect((error as GuestConnectionError).reason).toBe('refused');
    expect((error as Error).message).toBe('Nothing in the VM accepts connections on 10.0.2.15:9999.');
    await expect(readAll(socket.readable)).rejects.toThrow('Nothing in the VM accepts');
  });

  it('times out when the guest never answers the SYN', async () => {
    const { card } = await setup();
    const socket = card.connectToGuest(7000, { connectTimeoutMs: 200 });
    await expect(socket.opened).rejects.toMatchObject({
      reason: 'timeout',
      message: '10.0.2.15:7000 did not answer within 0.2 s.',
    });
  });

  it('refuses at once without a lease, a port out of range, or a card not plugged in', async () => {
    const { card } = await setup(false);
    expect(() => card.connectToGuest(80)).toThrow('The VM has no address on the network yet');
    expect(() => card.connectToGuest(0)).toThrow('0 is not a TCP port (1 to 65535).');
    expect(() => card.connectToGuest(65536)).toThrow(GuestConnectionError);
    const unplugged = new BrowserNetwork({ origin: 'http://app.test', fetch: () => Promise.reject(new Error('x')) });
    expect(() => unplugged.card(() => {}).connectToGuest(80)).toThrow('The VM has no address');
  });

  it('errors the reader with a sentence when the guest resets an open connection', async () => {
    const { guest, card } = await setup();
    const listener = server(guest, 8000);
    const socket = card.connectToGuest(8000);
    await socket.opened;
    listener.write(bytes('partial'));
    const reader = socket.readable.getReader();
    expect(text((await reader.read()).value!)).toBe('partial');
    listener.reset();
    await expect(reader.read()).rejects.toThrow('10.0.2.15:8000 reset the connection.');
  });

  it('aborting the socket resets the guest’s side', async () => {
    const { guest, card } = await setup();
    const listener = server(guest, 8000);
    const socket = card.connectToGuest(8000);
    await socket.opened;
    socket.abort();
    await guest.until(() => listener.resetReceived, 2000, 'the RST');
    await expect(readAll(socket.readable)).rejects.toThrow('was closed');
  });

  it('holds the guest back while the page does not read: at most a window waits in the page', async () => {
    const { guest, card } = await setup();
    const listener = server(guest, 8000);
    const socket = card.connectToGuest(8000);
    await socket.opened;
    const sent = pattern(400_000, 3);
    listener.write(sent);
    listener.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The guest's bytes beyond the page's 64 KiB window stay unacknowledged in the guest.
    expect(listener.allAcknowledged).toBe(false);
    const received = await readAll(socket.readable);
    expect(sha256(received)).toBe(sha256(sent));
  });

  it('holds the page’s writes back while the guest does not read, and delivers them all once it does', async () => {
    const { guest, card } = await setup();
    const listener = server(guest, 8000, { window: 4000, autoRead: false });
    const socket = card.connectToGuest(8000);
    await socket.opened;
    const writer = socket.writable.getWriter();
    const chunk = pattern(64 * 1024, 5);
    let written = 0;
    const writes = Array.from({ length: 8 }, () => writer.write(chunk).then(() => written++));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The network's send buffer (256 KiB) takes a few chunks; the rest wait for the guest.
    expect(written).toBeLessThan(8);
    expect(listener.receivedBytes).toBeLessThanOrEqual(4000);
    const reading = setInterval(() => listener.read(), 5);
    try {
      await Promise.all(writes);
      await writer.close();
      await guest.until(() => listener.finReceived, 10_000, 'all the bytes and the FIN');
    } finally {
      clearInterval(reading);
    }
    expect(listener.receivedBytes).toBe(8 * chunk.length);
    expect(listener.bytesPastWindow).toBe(0);
  });
});
