/**
 * The relay end to end in Node: a scripted guest on the browser's network (BrowserNetwork, as a page
 * has it) with a relay URL, the relay server of `npm run relay`, and real TCP and UDP servers on this
 * host's loopback, which the guest reaches at 10.0.2.2 through the relay.
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserNetwork } from '../../workers/host/net/browser-network.ts';
import type { Fetch } from '../../workers/host/net/fetch-gateway.ts';
import { ipv4 } from '../../workers/host/net/frames.ts';
import type { RelayOptions, RelaySocket } from '../../workers/host/net/relay-client.ts';
import {
  decodePacket,
  encodeContinue,
  PACKET_CONNECT,
  PACKET_CONTINUE,
  PACKET_DATA,
  STREAM_TCP,
} from '../../workers/host/net/relay-protocol.ts';
import { ScriptedGuest, type GuestTcp } from '../../workers/host/net/test-support/scripted-guest.ts';
import { GATEWAY_ADDRESS } from '../../workers/host/net/user-network.ts';
import { parseDestinationRule, startRelayServer, type RelayServer, type RelayServerOptions } from './relay-server.ts';
import { NodeWebSocket } from './websocket.ts';

const GUEST_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function relayServer(options: Partial<RelayServerOptions> = {}): Promise<{ relay: RelayServer; log: string[] }> {
  const log: string[] = [];
  const relay = await startRelayServer({ port: 0, log: (line) => log.push(line), ...options });
  cleanups.push(() => relay.close());
  return { relay, log };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as { port: number }).port;
}

/** A TCP server that sends back what it gets. */
async function echoServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy()); // the relay resets it when the guest's connection ends
    socket.pipe(socket);
  });
  cleanups.push(() => sockets.forEach((socket) => socket.destroy()));
  return listen(server);
}

/** Spies on a client's packets: DATA sent past the credit the relay gave is counted as a breach. */
interface Spy {
  creditBreaches: number;
  dataSent: number;
  continues: number;
}

function network(
  relay: Partial<RelayOptions> & { url: string },
  fetch: Fetch = () => Promise.resolve(new Response('page')),
) {
  const notices: string[] = [];
  const spy: Spy = { creditBreaches: 0, dataSent: 0, continues: 0 };
  const credit = new Map<number, number>();
  let initial = 0;
  const openSocket = (url: string): RelaySocket => {
    const socket = new NodeWebSocket(url);
    const send = socket.send.bind(socket);
    socket.send = (data: Uint8Array) => {
      const packet = decodePacket(data);
      if (typeof packet !== 'string' && packet.type === PACKET_DATA) {
        spy.dataSent++;
        const left = credit.get(packet.stream) ?? initial;
        if (left <= 0) spy.creditBreaches++;
        credit.set(packet.stream, left - 1);
      }
      send(data);
    };
    const wrap = (): void => {
      const onmessage = socket.onmessage;
      socket.onmessage = (event) => {
        const packet = decodePacket(new Uint8Array(event.data as ArrayBuffer));
        if (typeof packet !== 'string' && packet.type === PACKET_CONTINUE) {
          spy.continues++;
          if (packet.stream === 0) initial = packet.remaining;
          else credit.set(packet.stream, packet.remaining);
        }
        onmessage?.(event);
      };
    };
    queueMicrotask(wrap); // after the client set its handler
    return socket;
  };
  const shared = new BrowserNetwork({ origin: 'http://app.test', fetch, relay: { openSocket, ...relay } });
  const guest = new ScriptedGuest(GUEST_MAC);
  guest.address = ipv4('10.0.2.15');
  guest.network = shared.hook((line) => notices.push(line))({ toGuest: guest });
  const clients: GuestTcp[] = [];
  cleanups.push(() => {
    shared.setRelay(undefined);
    shared.reset();
    clients.forEach((client) => client.stop());
  });
  let localPort = 40000;
  const connect = (port: number, options: { window?: number; autoRead?: boolean } = {}): GuestTcp => {
    const client = guest.tcpClient(localPort++, GATEWAY_ADDRESS, port, options);
    clients.push(client);
    client.connect();
    return client;
  };
  return { shared, guest, notices, connect, spy };
}

describe('the relay', () => {
  it('carries a guest TCP connection to a port of the relay’s host beyond 80, and says where it went', async () => {
    const { relay, log } = await relayServer();
    const port = await echoServer();
    const { guest, connect, notices } = network({ url: relay.url });
    const client = connect(port);
    await guest.until(() => client.established, 5000, 'the connection');
    client.write(bytes('hello through the relay\n'));
    await guest.until(() => client.receivedBytes === 24, 5000, 'the echo');
    expect(text(client.bytes())).toBe('hello through the relay\n');
    expect(log).toContain(`relay: tcp 127.0.0.1:${port}`);
    expect(notices).toEqual([]);
  });

  it('moves 1 MiB each way with the relay’s credit honoured and a small guest window', async () => {
    const { relay } = await relayServer({ bufferPackets: 8 });
    const port = await echoServer();
    const { guest, connect, spy } = network({ url: relay.url });
    const client = connect(port, { window: 8192 });
    const payload = new Uint8Array(1024 * 1024);
    for (let i = 0; i < payload.byteLength; i++) payload[i] = (i * 7 + (i >> 11)) & 0xff;
    client.write(payload);
    await guest.until(() => client.receivedBytes === payload.byteLength, 60_000, '1 MiB back');
    expect(sha256(client.bytes())).toBe(sha256(payload));
    expect(client.bytesPastWindow).toBe(0);
    expect(spy.dataSent).toBeGreaterThan(8);
    expect(spy.continues).toBeGreaterThan(spy.dataSent / 8 - 2); // the relay gave credit back as it went
    expect(spy.creditBreaches).toBe(0);
  }, 90_000);

  it('carries UDP both ways', async () => {
    const { relay, log } = await relayServer();
    const server = createSocket('udp4');
    server.on('message', (message, from) =>
      server.send(Buffer.concat([Buffer.from('echo: '), message]), from.port, from.address),
    );
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
    cleanups.push(() => server.close());
    const port = server.address().port;
    const { guest } = network({ url: relay.url });
    guest.sendUdp(GATEWAY_ADDRESS, 5353, port, bytes('ping'));
    await guest.until(() => guest.udp.some((datagram) => datagram.destinationPort === 5353), 5000, 'the UDP answer');
    const answer = guest.udp.find((datagram) => datagram.destinationPort === 5353)!;
    expect(text(answer.payload)).toBe('echo: ping');
    expect(answer.sourcePort).toBe(port);
    expect(answer.ip.source).toBe(GATEWAY_ADDRESS);
    expect(log).toContain(`relay: udp 127.0.0.1:${port}`);
  });

  it('resets the guest’s connection to a closed port, with a line', async () => {
    const { relay } = await relayServer();
    const probe = createServer();
    const port = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const { guest, connect, notices } = network({ url: relay.url });
    const client = connect(port);
    await guest.until(() => client.resetReceived, 5000, 'the RST');
    expect(client.established).toBe(false);
    expect(notices).toEqual([
      `network: the relay could not connect to 127.0.0.1:${port} (the connection was refused); refused`,
    ]);
  });

  it('refuses with a RST and a line while the relay is down, and reconnects on the next connection', async () => {
    const { relay: probe } = await relayServer();
    const relayPort = probe.port;
    const url = probe.url;
    await probe.close();
    const echo = await echoServer();
    const { guest, connect, notices } = network({ url });
    const first = connect(echo);
    await guest.until(() => first.resetReceived, 5000, 'the RST');
    expect(notices).toEqual([
      `network: the relay at ${url} could not be reached; a connection was refused (the next one tries again)`,
    ]);

    const { relay } = await relayServer({ port: relayPort });
    expect(relay.url).toBe(url);
    const second = connect(echo);
    second.write(bytes('again'));
    await guest.until(() => second.receivedBytes === 5, 5000, 'the echo');
    expect(text(second.bytes())).toBe('again');
  });

  it('resets open connections with a line when the relay goes away', async () => {
    const { relay } = await relayServer();
    const echo = await echoServer();
    const { guest, connect, notices } = network({ url: relay.url });
    const client = connect(echo);
    await guest.until(() => client.established, 5000, 'the connection');
    await relay.close();
    await guest.until(() => client.resetReceived, 5000, 'the RST');
    expect(notices).toEqual([`network: the relay at ${relay.url} closed; 1 open connections were reset`]);
  });

  it('leaves port 80 to fetch() unless everything goes through the relay', async () => {
    // Port 80 of this host may or may not have a server: the relay refuses it, and its log shows it was asked.
    const { relay, log } = await relayServer({ allow: (destination) => destination.port !== 80 });
    const urls: string[] = [];
    const fetch: Fetch = (url) => {
      urls.push(url);
      return Promise.resolve(new Response('from the page', { headers: { 'content-length': '13' } }));
    };
    const { guest, connect } = network({ url: relay.url }, fetch);
    const client = connect(80);
    client.write(bytes('GET /x HTTP/1.0\r\n\r\n'));
    await guest.until(() => client.finReceived, 5000, 'the response');
    expect(urls).toEqual(['http://app.test/x']);
    expect(log).toEqual([]);

    const everything = network({ url: relay.url, everything: true }, fetch);
    const direct = everything.connect(80);
    await everything.guest.until(() => direct.resetReceived, 5000, 'the RST');
    expect(log).toEqual(['relay: tcp 127.0.0.1:80 blocked']);
    expect(urls).toHaveLength(1);
  });

  it('refuses a destination its rules deny, with a line', async () => {
    const echo = await echoServer();
    const deny = parseDestinationRule(`127.0.0.0/8:${echo}`);
    if (typeof deny === 'string') throw new Error(deny);
    const { relay, log } = await relayServer({ allow: (destination) => !deny(destination) });
    const { guest, connect, notices } = network({ url: relay.url });
    const client = connect(echo);
    await guest.until(() => client.resetReceived, 5000, 'the RST');
    expect(notices).toEqual([
      `network: the relay could not connect to 127.0.0.1:${echo} (the relay blocks this destination); refused`,
    ]);
    expect(log).toEqual([`relay: tcp 127.0.0.1:${echo} blocked`]);
  });

  it('resets a stream whose relay sends more than the guest can take yet', async () => {
    const { relay } = await relayServer();
    const flood = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.end(Buffer.alloc(4 * 1024 * 1024, 0x61));
    });
    const port = await listen(flood);
    const { guest, connect, notices } = network({ url: relay.url, maxBufferedBytes: 1024 * 1024 });
    const client = connect(port, { autoRead: false });
    await guest.until(() => client.resetReceived, 20_000, 'the RST');
    expect(client.receivedBytes).toBeLessThan(1024 * 1024);
    expect(notices).toEqual([
      `network: 127.0.0.1:${port} through the relay sent more than 1 MiB the VM could not take yet; the connection was reset`,
    ]);
  }, 30_000);

  it('ends the session with a line when the relay breaks the protocol', async () => {
    const sockets: FakeRelaySocket[] = [];
    const { guest, connect, notices } = network({
      url: 'ws://relay.test/',
      openSocket: () => {
        const socket = new FakeRelaySocket();
        sockets.push(socket);
        return socket;
      },
    });
    const client = connect(2222);
    await guest.until(() => sockets.length === 1, 1000, 'the WebSocket');
    sockets[0]!.deliver(encodeContinue(0, 16));
    sockets[0]!.deliver(Uint8Array.of(9, 1, 0, 0, 0));
    await guest.until(() => client.resetReceived, 5000, 'the RST');
    expect(notices).toEqual([
      'network: the relay at ws://relay.test/ sent a packet of unknown type 0x09; its connections were reset',
    ]);
    expect(sockets[0]!.closed).toBe(true);
  });

  it('gives the relay the name a synthetic address stands for', async () => {
    const { relay, log } = await relayServer();
    const echo = await echoServer();
    const { guest } = network({ url: relay.url });
    // A DNS question for "localhost" (RFC 1035 §4.1), answered by the page's synthetic resolver.
    guest.sendUdp(
      ipv4('10.0.2.3'),
      5300,
      53,
      Uint8Array.of(0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, ...bytes('localhost'), 0, 0, 1, 0, 1),
    );
    await guest.until(() => guest.udp.some((datagram) => datagram.destinationPort === 5300), 5000, 'the DNS answer');
    const answer = guest.udp.find((datagram) => datagram.destinationPort === 5300)!.payload;
    const address = new DataView(answer.buffer, answer.byteOffset + answer.byteLength - 4).getUint32(0);
    expect(address >>> 17).toBe(ipv4('198.18.0.0') >>> 17);
    const client = guest.tcpClient(41000, address, echo);
    cleanups.push(() => client.stop());
    client.connect();
    client.write(bytes('by name'));
    await guest.until(() => client.receivedBytes === 7, 5000, 'the echo');
    expect(log).toContain(`relay: tcp localhost:${echo} (127.0.0.1)`);
  });

  it('counts a stream open after confirmMs when the relay confirms nothing (wisp 1 has no such packet), and ignores INFO', async () => {
    const sockets: FakeRelaySocket[] = [];
    const { guest, connect, notices } = network({
      url: 'ws://relay.test/',
      confirmMs: 100,
      openSocket: () => {
        const socket = new FakeRelaySocket();
        sockets.push(socket);
        return socket;
      },
    });
    const client = connect(2222);
    await guest.until(() => sockets.length === 1, 1000, 'the WebSocket');
    expect(sockets[0]!.sent).toEqual([]); // nothing before the relay's first CONTINUE
    sockets[0]!.deliver(encodeContinue(0, 16));
    sockets[0]!.deliver(Uint8Array.of(5, 0, 0, 0, 0, 2, 0)); // a version 2 relay's INFO: ignored
    expect(sockets[0]!.sent.map((packet) => decodePacket(packet))).toEqual([
      { type: PACKET_CONNECT, stream: 1, streamType: STREAM_TCP, port: 2222, host: '127.0.0.1' },
    ]);
    await guest.until(() => client.established, 2000, 'the connection');
    client.write(bytes('x'));
    await guest.until(() => sockets[0]!.sent.length === 2, 2000, 'the DATA');
    expect(decodePacket(sockets[0]!.sent[1]!)).toMatchObject({ type: PACKET_DATA, stream: 1 });
    expect(notices).toEqual([]);
  });

  it('reopens the guest’s window as credit lets bytes go, not only once all have gone', async () => {
    const sockets: FakeRelaySocket[] = [];
    const { guest, connect } = network({
      url: 'ws://relay.test/',
      openSocket: () => {
        const socket = new FakeRelaySocket();
        sockets.push(socket);
        return socket;
      },
    });
    const client = connect(2222);
    await guest.until(() => sockets.length === 1, 1000, 'the WebSocket');
    const relay = sockets[0]!;
    relay.deliver(encodeContinue(0, 2));
    relay.deliver(encodeContinue(1, 2));
    await guest.until(() => client.established, 2000, 'the connection');
    client.write(new Uint8Array(200 * 1024));
    // Two DATA go; the rest waits for credit and shuts the window the guest sees.
    await guest.until(() => client.windowsSeen.at(-1)! < 1460, 5000, 'a shut window');
    const dataSent = () => relay.sent.filter((packet) => packet[0] === PACKET_DATA).length;
    expect(dataSent()).toBe(2);
    relay.deliver(encodeContinue(1, 20)); // 20 more go, and some 40 still wait
    expect(dataSent()).toBe(22);
    await guest.until(() => client.windowsSeen.at(-1)! >= 20 * 1460 - 1460, 5000, 'the window reopened');
  });

  it('says why when the page may not open the WebSocket at all', async () => {
    const { guest, connect, notices } = network({
      url: 'ws://relay.test/',
      openSocket: () => {
        throw new Error('An insecure WebSocket connection may not be initiated from a page loaded over HTTPS.');
      },
    });
    const client = connect(2222);
    await guest.until(() => client.resetReceived, 5000, 'the RST');
    expect(notices).toEqual([
      'network: the relay at ws://relay.test/ could not be reached (An insecure WebSocket connection may not be initiated from a page loaded over HTTPS.); a connection was refused (the next one tries again)',
    ]);
  });

  it('refuses a URL that is not ws:// or wss://', () => {
    const shared = new BrowserNetwork({ origin: 'http://app.test' });
    expect(() => shared.setRelay({ url: 'http://relay.test/' })).toThrow(
      "a relay's URL starts with ws:// or wss://, not http://",
    );
    expect(() => shared.setRelay({ url: 'relay' })).toThrow('relay is not a URL');
    expect(shared.relayUrl).toBeUndefined();
  });
});

describe('the relay server', () => {
  it('closes the session of a client that breaks the protocol, with a line, and keeps serving others', async () => {
    const { relay, log } = await relayServer();
    const bad = new NodeWebSocket(relay.url);
    cleanups.push(() => bad.close());
    await new Promise((resolve) => (bad.onopen = resolve));
    const closed = new Promise((resolve) => (bad.onclose = resolve));
    bad.send(Uint8Array.of(1, 1, 0, 0, 0, 7, 80, 0, 97)); // a CONNECT for stream type 7
    await closed;
    expect(log).toEqual(['relay: a client sent a CONNECT for stream type 7; its session was closed']);

    const echo = await echoServer();
    const { guest, connect } = network({ url: relay.url });
    const client = connect(echo);
    client.write(bytes('still here'));
    await guest.until(() => client.receivedBytes === 10, 5000, 'the echo');
  });
});

describe('destination rules', () => {
  const at = (host: string, address: string, port: number) => ({ host, address, port, protocol: 'tcp' as const });
  it('match names, subdomains, addresses, ranges and ports', () => {
    const rule = (text: string) => {
      const parsed = parseDestinationRule(text);
      if (typeof parsed === 'string') throw new Error(parsed);
      return parsed;
    };
    expect(rule('example.org')(at('Example.org', '93.184.0.1', 443))).toBe(true);
    expect(rule('example.org:80')(at('example.org', '93.184.0.1', 443))).toBe(false);
    expect(rule('*.example.org')(at('www.example.org', '1.2.3.4', 80))).toBe(true);
    expect(rule('*.example.org')(at('example.org', '1.2.3.4', 80))).toBe(false);
    expect(rule('10.0.0.0/8')(at('intranet.test', '10.9.8.7', 22))).toBe(true);
    expect(rule('10.0.0.0/8')(at('intranet.test', '11.0.0.1', 22))).toBe(false);
    expect(rule('*:25')(at('mail.test', '1.1.1.1', 25))).toBe(true);
    expect(rule('0.0.0.0/0')(at('x', '8.8.8.8', 53))).toBe(true);
    expect(parseDestinationRule('1.2.3.4/33')).toMatch(/not an IPv4 range/);
    expect(parseDestinationRule('host:70000')).toMatch(/a port is 1 to 65535/);
  });
});

/** A relay socket the test speaks for. */
class FakeRelaySocket implements RelaySocket {
  binaryType: BinaryType = 'arraybuffer';
  readyState = 1;
  closed = false;
  onopen: ((event: Event) => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  onerror: ((event: Event) => void) | null = null;
  readonly sent: Uint8Array[] = [];
  send(packet: Uint8Array): void {
    this.sent.push(packet.slice());
  }
  close(): void {
    this.closed = true;
    this.readyState = 3;
  }
  deliver(packet: Uint8Array): void {
    this.onmessage?.({ data: packet.slice().buffer } as MessageEvent);
  }
}
