import { createHash, X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BrowserNetwork, packageMirror } from './browser-network.ts';
import { NameNotFound } from './dns.ts';
import type { Fetch } from './fetch-gateway.ts';
import { ipv4, ipv4ToString } from './frames.ts';
import { ScriptedGuest, type GuestTcp } from './test-support/scripted-guest.ts';
import { isSyntheticAddress, SyntheticResolver } from './synthetic-resolver.ts';
import { CertificateAuthority, createCaRecord } from './tls/certificates.ts';
import { GATEWAY_ADDRESS } from './user-network.ts';

const GUEST_MAC = Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56);
const GUEST = ipv4('10.0.2.15');
const SITE = ipv4('198.18.0.7');
const ORIGIN = 'http://app.test:4500';

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

interface Call {
  readonly url: string;
  readonly init: RequestInit;
}

let networks: BrowserNetwork[] = [];
let clients: GuestTcp[] = [];
afterEach(() => {
  for (const network of networks) network.reset();
  for (const client of clients) client.stop();
  networks = [];
  clients = [];
});

let authority: CertificateAuthority;
beforeAll(async () => {
  authority = new CertificateAuthority(await createCaRecord());
});

function setup(respond: (call: Call) => Promise<Response> | Response, responseTimeoutMs?: number, https = false) {
  const calls: Call[] = [];
  const notices: string[] = [];
  const fetch: Fetch = async (url, init) => {
    const call = { url, init };
    calls.push(call);
    return respond(call);
  };
  const shared = new BrowserNetwork({
    origin: ORIGIN,
    fetch,
    urlMaps: [packageMirror('http://deb.debian.org/debian/', `${ORIGIN}/images/debian/mirror/`)],
    ...(responseTimeoutMs !== undefined ? { limits: { responseTimeoutMs } } : {}),
    ...(https ? { certificates: authority } : {}),
  });
  const guest = new ScriptedGuest(GUEST_MAC);
  guest.address = GUEST;
  guest.network = shared.hook((line) => notices.push(line))({ toGuest: guest });
  networks.push(shared);
  let port = 40000;
  const connect = (remote: number, remotePort = 80, window = 65535, autoRead = true): GuestTcp => {
    const client = guest.tcpClient(port++, remote, remotePort, { window, autoRead });
    clients.push(client);
    client.connect();
    return client;
  };
  return { guest, calls, notices, connect };
}

/** One whole exchange: the request bytes, then everything the gateway sent until its FIN. */
async function exchange(guest: ScriptedGuest, client: GuestTcp, request: string | Uint8Array): Promise<string> {
  client.write(typeof request === 'string' ? bytes(request) : request);
  await guest.until(() => client.finReceived || client.resetReceived, 5000, 'the response and FIN');
  return text(client.bytes());
}

describe('FetchGateway', () => {
  it('serves 10.0.2.2 from the page’s origin, without credentials and with its headers', async () => {
    const { guest, calls, connect } = setup(
      () => new Response('{"ok":1}', { headers: { 'content-type': 'application/json', 'content-length': '8' } }),
    );
    const client = connect(GATEWAY_ADDRESS);
    const reply = await exchange(
      guest,
      client,
      'GET /images/default/manifest.json HTTP/1.1\r\nHost: 10.0.2.2\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n',
    );
    expect(calls).toHaveLength(1);
    expect(calls[0]!.url).toBe(`${ORIGIN}/images/default/manifest.json`);
    expect(calls[0]!.init).toMatchObject({ method: 'GET', mode: 'cors', credentials: 'omit', redirect: 'follow' });
    // The page's own origin gets every end-to-end header; Host and Connection are this hop's.
    const sent = calls[0]!.init.headers as Headers;
    expect(sent.get('user-agent')).toBe('Wget');
    expect(sent.has('connection')).toBe(false);
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply).toContain('content-type: application/json\r\n');
    expect(reply).toContain('content-length: 8\r\n');
    expect(reply).toContain('connection: close\r\n');
    expect(reply.endsWith('\r\n\r\n{"ok":1}')).toBe(true);
  });

  it('answers pipelined requests in order on one connection, with chunked bodies of unknown length', async () => {
    let release: () => void = () => {};
    const slowFirst = new Promise<void>((resolve) => (release = resolve));
    const { guest, calls, connect } = setup(async ({ url }) => {
      if (url.endsWith('/a')) await slowFirst;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes(`body of ${url.slice(-2)}`));
          controller.close();
        },
      });
      return new Response(body, { status: url.endsWith('/b') ? 404 : 200 });
    });
    const client = connect(SITE);
    client.write(
      bytes(
        'GET /a HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\nUser-Agent: x\r\n\r\n' +
          'GET /b HTTP/1.1\r\nHost: example.org\r\n\r\n' +
          'GET /c HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n',
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The second request waits for the first's answer: responses go in the order of the requests.
    expect(calls.map((call) => call.url)).toEqual(['http://example.org/a']);
    release();
    await guest.until(() => client.finReceived, 5000, 'three responses');
    expect(calls.map((call) => call.url)).toEqual([
      'http://example.org/a',
      'http://example.org/b',
      'http://example.org/c',
    ]);
    // Another origin gets only the CORS-safelisted headers, so no preflight is needed.
    const sent = calls[0]!.init.headers as Headers;
    expect(sent.get('accept')).toBe('*/*');
    expect(sent.has('user-agent')).toBe(false);
    const reply = text(client.bytes());
    const chunked = (status: string, body: string, close = false) =>
      `HTTP/1.1 ${status}\r\ntransfer-encoding: chunked\r\n${close ? 'connection: close\r\n' : ''}\r\n` +
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    expect(reply).toBe(
      chunked('200 OK', 'body of /a') + chunked('404 Not Found', 'body of /b') + chunked('200 OK', 'body of /c', true),
    );
  });

  it('passes request bodies sent chunked or with a Content-Length', async () => {
    const { guest, calls, connect } = setup(() => new Response(null, { status: 204 }));
    const client = connect(SITE);
    const reply = await exchange(
      guest,
      client,
      'POST /form HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n' +
        '5;name=x\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n' +
        'PUT /put HTTP/1.1\r\nHost: example.org\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nabc',
    );
    expect(calls.map((call) => [call.init.method, text(call.init.body as Uint8Array)])).toEqual([
      ['POST', 'hello, world'],
      ['PUT', 'abc'],
    ]);
    expect(reply.match(/HTTP\/1\.1 204 No Content/g)).toHaveLength(2);
    // The PUT asked to be told to go on before its body: 100 Continue, then its answer.
    expect(reply).toMatch(/204 No Content\r\n\r\nHTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 204 No Content/);
    expect((calls[1]!.init.headers as Headers).has('expect')).toBe(false);
  });

  it('answers a failed fetch with a 502 that says why, and a line in the pane', async () => {
    const { guest, connect, notices } = setup(() => Promise.reject(new TypeError('Failed to fetch')));
    const client = connect(SITE);
    const reply = await exchange(guest, client, 'GET /x HTTP/1.1\r\nHost: nocors.test\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 502 Bad Gateway \(no CORS, or unreachable\)\r\n/);
    expect(reply).toContain(
      'The browser could not fetch http://nocors.test/x: the site does not allow cross-origin requests (CORS), or it could not be reached.',
    );
    expect(client.finReceived).toBe(true);
    expect(notices).toEqual([
      'network: http://nocors.test/x could not be fetched: the site does not allow cross-origin requests (CORS), or it could not be reached',
    ]);
  });

  it('answers 504 when no response comes in time, and aborts the fetch', async () => {
    const signals: AbortSignal[] = [];
    const hang = ({ init }: Call) =>
      new Promise<Response>((_, reject) => {
        signals.push(init.signal!);
        init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    const { guest, connect, notices } = setup(hang, 100);
    const reply = await exchange(guest, connect(SITE), 'GET / HTTP/1.1\r\nHost: slow.test\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(signals[0]!.aborted).toBe(true);
    expect(notices).toEqual(['network: http://slow.test/ could not be fetched: no answer came within 0 s']);
  });

  it('aborts the fetch when the guest resets its connection', async () => {
    const signals: AbortSignal[] = [];
    const { guest, connect } = setup(
      ({ init }) =>
        new Promise<Response>((_, reject) => {
          signals.push(init.signal!);
          init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const client = connect(SITE);
    client.write(bytes('GET / HTTP/1.1\r\nHost: slow.test\r\n\r\n'));
    await guest.until(() => signals.length === 1, 2000, 'the fetch');
    expect(signals[0]!.aborted).toBe(false);
    client.reset();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(signals[0]!.aborted).toBe(true);
  });

  it('refuses heads, bodies and transfer codings over its caps with the status that says so', async () => {
    const { guest, connect, calls } = setup(() => new Response('never'));
    const long = await exchange(
      guest,
      connect(SITE),
      `GET / HTTP/1.1\r\nHost: example.org\r\nX-Long: ${'a'.repeat(40_000)}\r\n\r\n`,
    );
    expect(long).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    const big = await exchange(
      guest,
      connect(SITE),
      `POST / HTTP/1.1\r\nHost: example.org\r\nContent-Length: ${32 << 20}\r\n\r\n`,
    );
    expect(big).toMatch(/^HTTP\/1\.1 413 Content Too Large\r\n/);
    expect(big).toContain('over 16 MiB');
    const chunkedBig = await exchange(
      guest,
      connect(SITE),
      `POST / HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: chunked\r\n\r\n2000000\r\n`,
    );
    expect(chunkedBig).toMatch(/^HTTP\/1\.1 413 /);
    const gzip = await exchange(
      guest,
      connect(SITE),
      'POST / HTTP/1.1\r\nHost: example.org\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    );
    expect(gzip).toMatch(/^HTTP\/1\.1 501 /);
    const garbage = await exchange(guest, connect(SITE), 'hello there\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    const connectMethod = await exchange(guest, connect(SITE), 'CONNECT example.org:443 HTTP/1.1\r\n\r\n');
    expect(connectMethod).toMatch(/^HTTP\/1\.1 501 /);
    expect(calls).toHaveLength(0);
  });

  it('refuses HTTPS without a CA, and other ports, with a RST and one pane line each', async () => {
    const { guest, connect, notices, calls } = setup(() => new Response('never'));
    const https = [connect(SITE, 443), connect(SITE, 443), connect(GATEWAY_ADDRESS, 22)];
    await guest.until(() => https.every((client) => client.resetReceived), 2000, 'three RSTs');
    expect(https.every((client) => !client.established)).toBe(true);
    expect(notices).toEqual([
      `network: HTTPS has no certificate authority on this network; ${ipv4ToString(SITE)}:443 was refused`,
      'network: only HTTP and HTTPS (ports 80 and 443) reach the web from a browser VM; 10.0.2.2:22 was refused',
    ]);
    expect(calls).toHaveLength(0);
  });

  it('fetches a mapped prefix from the site’s mirror, and says when a package is not in it', async () => {
    const { guest, connect, calls, notices } = setup(({ url }) =>
      url.endsWith('InRelease') ? new Response('signed') : new Response('no', { status: 404 }),
    );
    const client = connect(SITE);
    const reply = await exchange(
      guest,
      client,
      'GET /debian/dists/trixie/InRelease HTTP/1.1\r\nHost: deb.debian.org\r\n\r\n' +
        'GET /debian/pool/main/x/x.deb HTTP/1.1\r\nHost: deb.debian.org\r\nConnection: close\r\n\r\n',
    );
    expect(calls.map((call) => call.url)).toEqual([
      `${ORIGIN}/images/debian/mirror/dists/trixie/InRelease`,
      `${ORIGIN}/images/debian/mirror/pool/main/x/x.deb`,
    ]);
    expect(reply).toContain('HTTP/1.1 404 Not Found');
    expect(notices).toEqual([
      "network: http://deb.debian.org/debian/pool/main/x/x.deb is not in this site's package mirror",
    ]);
  });

  it('streams a large body to a slow guest, holding no more than the connection’s send buffer', async () => {
    const total = 8 << 20;
    const { body, expected, produced } = patternBody(total);
    const { guest, connect } = setup(() => new Response(body, { headers: { 'content-length': String(total) } }));
    const client = connect(SITE, 80, 65535, false);
    client.write(bytes('GET /big HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n'));
    let mostAhead = 0;
    while (!client.finReceived) {
      await guest.until(() => client.unreadBytes >= 60_000 || client.finReceived, 10_000, 'a window of the body');
      mostAhead = Math.max(mostAhead, produced() - client.receivedBytes);
      client.read();
    }
    const received = client.bytes();
    const split = text(received.subarray(0, 200)).indexOf('\r\n\r\n') + 4;
    expect(received.length - split).toBe(total);
    expect(sha256(received.subarray(split))).toBe(expected.digest('hex'));
    // What was read from fetch but not taken by the guest: the 256 KiB send buffer and a chunk or two.
    expect(mostAhead).toBeLessThanOrEqual(256 * 1024 + 3 * PATTERN_CHUNK);
  }, 60_000);
});

/**
 * Node's TLS client over a scripted guest's TCP connection: what the guest's curl does. With `pace`, the
 * guest reads (opens its window) only while the client holds less than 64 KiB unread.
 */
function tlsOverGuest(client: GuestTcp, servername: string | undefined, pace = false): tls.TLSSocket {
  let seen = 0;
  let ended = false;
  const transport = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      client.write(new Uint8Array(chunk));
      callback();
    },
    final(callback) {
      client.close();
      callback();
    },
  });
  const secure = tls.connect({
    socket: transport,
    ca: authority.pem,
    ...(servername ? { servername } : { checkServerIdentity: () => undefined }),
  });
  const timer = setInterval(() => {
    while (seen < client.received.length) transport.push(Buffer.from(client.received[seen++]!));
    if (pace && client.unreadBytes > 0 && secure.readableLength < 64 * 1024) client.read();
    if ((client.finReceived || client.resetReceived) && !ended) {
      ended = true;
      transport.push(null);
      clearInterval(timer);
    }
  }, 2);
  secure.once('close', () => clearInterval(timer));
  return secure;
}

/** Sends a request over TLS and reads the whole answer until the server closes. */
async function httpsExchange(secure: tls.TLSSocket, request: string): Promise<string> {
  const parts: Buffer[] = [];
  secure.on('data', (chunk: Buffer) => parts.push(chunk));
  secure.write(request);
  await new Promise<void>((resolve, reject) => {
    secure.once('end', resolve);
    secure.once('error', reject);
  });
  return Buffer.concat(parts).toString();
}

describe('FetchGateway over HTTPS', () => {
  it('terminates TLS with a certificate for the name asked for, and fetches the https:// URL', async () => {
    const { connect, calls } = setup(
      () => new Response('secret', { headers: { 'content-length': '6' } }),
      undefined,
      true,
    );
    const secure = tlsOverGuest(connect(SITE, 443), 'secure.test');
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    expect(secure.authorized).toBe(true);
    expect(secure.getProtocol()).toBe('TLSv1.3');
    const leaf = new X509Certificate(secure.getPeerX509Certificate()!.raw);
    expect(leaf.checkHost('secure.test')).toBe('secure.test');
    const reply = await httpsExchange(secure, 'GET /a?b HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n');
    expect(calls.map((call) => call.url)).toEqual(['https://secure.test/a?b']);
    expect(reply).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(reply.endsWith('\r\n\r\nsecret')).toBe(true);
  });

  it('names the site by the TLS server name without a Host header, and 10.0.2.2 is the page’s origin', async () => {
    const { connect, calls } = setup(() => new Response('x'), undefined, true);
    const bySni = tlsOverGuest(connect(SITE, 443), 'sni.test');
    await httpsExchange(bySni, 'GET /only-sni HTTP/1.0\r\n\r\n');
    const byAddress = tlsOverGuest(connect(GATEWAY_ADDRESS, 443), undefined);
    await httpsExchange(byAddress, 'GET /index.html HTTP/1.1\r\nHost: 10.0.2.2\r\nConnection: close\r\n\r\n');
    expect(new X509Certificate(byAddress.getPeerX509Certificate()!.raw).checkIP('10.0.2.2')).toBe('10.0.2.2');
    expect(calls.map((call) => call.url)).toEqual(['https://sni.test/only-sni', `${ORIGIN}/index.html`]);
  });

  it('answers a request that comes right before the client’s FIN (no close_notify)', async () => {
    const { connect, calls } = setup(() => new Response('bye'), undefined, true);
    const client = connect(SITE, 443);
    const secure = tlsOverGuest(client, 'end.test');
    await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    const parts: Buffer[] = [];
    secure.on('data', (chunk: Buffer) => parts.push(chunk));
    secure.write('GET /last HTTP/1.0\r\nHost: end.test\r\n\r\n', () => client.close());
    await new Promise((resolve, reject) => secure.once('end', resolve).once('error', reject));
    expect(calls.map((call) => call.url)).toEqual(['https://end.test/last']);
    expect(Buffer.concat(parts).toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nbye$/);
  });

  it('answers a site that refuses CORS with a 502 that says why, over TLS, and a line in the pane', async () => {
    const { connect, notices } = setup(() => Promise.reject(new TypeError('Failed to fetch')), undefined, true);
    const secure = tlsOverGuest(connect(SITE, 443), 'nocors.test');
    const reply = await httpsExchange(secure, 'GET /x HTTP/1.1\r\nHost: nocors.test\r\n\r\n');
    expect(reply).toMatch(/^HTTP\/1\.1 502 Bad Gateway \(no CORS, or unreachable\)\r\n/);
    expect(reply).toContain(
      'The browser could not fetch https://nocors.test/x: the site does not allow cross-origin requests (CORS), or it could not be reached.',
    );
    expect(notices).toEqual([
      'network: https://nocors.test/x could not be fetched: the site does not allow cross-origin requests (CORS), or it could not be reached',
    ]);
  });

  it('ends the handshake with internal_error and a line when no certificate can be made', async () => {
    const notices: string[] = [];
    const network = new BrowserNetwork({
      origin: ORIGIN,
      fetch: () => Promise.reject(new Error('never')),
      certificates: { certificateFor: () => Promise.reject(new Error('IndexedDB is not available')) },
    });
    networks.push(network);
    const guest = new ScriptedGuest(GUEST_MAC);
    guest.address = GUEST;
    guest.network = network.hook((line) => notices.push(line))({ toGuest: guest });
    const client = guest.tcpClient(41000, SITE, 443, {});
    clients.push(client);
    client.connect();
    const secure = tlsOverGuest(client, 'nocert.test');
    await expect(
      new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject)),
    ).rejects.toThrow(/internal error/);
    expect(notices).toEqual([
      'network: HTTPS to nocert.test failed: no certificate could be made for nocert.test (alert internal_error)',
    ]);
  });

  it('answers a client that does not speak TLS with an alert, a FIN and a line in the pane', async () => {
    const { guest, connect, notices, calls } = setup(() => new Response('never'), undefined, true);
    const client = connect(SITE, 443);
    const reply = await exchange(guest, client, 'GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n');
    expect([...bytes(reply)]).toEqual([21, 3, 3, 0, 2, 2, 10]);
    expect(client.resetReceived).toBe(false);
    expect(notices).toEqual([
      `network: HTTPS to ${ipv4ToString(SITE)} failed: the client did not begin with a TLS handshake (alert unexpected_message)`,
    ]);
    expect(calls).toHaveLength(0);
  });

  it('streams a large body through TLS to a guest that reads at once', async () => {
    const total = 4 << 20;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < total; at += 1 << 20) controller.enqueue(new Uint8Array(1 << 20).fill(at >> 20));
        controller.close();
      },
    });
    const { connect } = setup(
      () => new Response(body, { headers: { 'content-length': String(total) } }),
      undefined,
      true,
    );
    const secure = tlsOverGuest(connect(SITE, 443), 'fast.test');
    let received = 0;
    secure.on('data', (data: Buffer) => (received += data.length));
    secure.write('GET /fast HTTP/1.1\r\nHost: fast.test\r\nConnection: close\r\n\r\n');
    await new Promise((resolve, reject) => secure.once('end', resolve).once('error', reject));
    expect(received).toBeGreaterThan(total);
  }, 60_000);

  it('streams a large body through TLS to a slow guest, holding little more than the send buffer', async () => {
    const total = 8 << 20;
    const { body, expected, produced } = patternBody(total);
    const { connect } = setup(
      () => new Response(body, { headers: { 'content-length': String(total) } }),
      undefined,
      true,
    );
    const secure = tlsOverGuest(connect(SITE, 443, 65535, false), 'big.test', true);
    const received = createHash('sha256');
    let head = '';
    let bodyBytes = 0;
    let mostAhead = 0;
    secure.on('data', (data: Buffer) => {
      if (head === '' || !head.includes('\r\n\r\n')) {
        head += data.toString('latin1');
        const split = head.indexOf('\r\n\r\n');
        if (split < 0) return;
        data = Buffer.from(head.slice(split + 4), 'latin1');
        head = head.slice(0, split + 4);
      }
      received.update(data);
      bodyBytes += data.length;
      mostAhead = Math.max(mostAhead, produced() - bodyBytes);
    });
    secure.write('GET /big HTTP/1.1\r\nHost: big.test\r\nConnection: close\r\n\r\n');
    await new Promise((resolve, reject) => secure.once('end', resolve).once('error', reject));
    expect(head).toContain(`content-length: ${total}\r\n`);
    expect(bodyBytes).toBe(total);
    expect(received.digest('hex')).toBe(expected.digest('hex'));
    // The send buffer (256 KiB), the bytes waiting for encryption (64 KiB), the guest's window and a chunk or two.
    expect(mostAhead).toBeLessThanOrEqual(256 * 1024 + 64 * 1024 + 64 * 1024 + 3 * PATTERN_CHUNK);
  }, 60_000);
});

describe('SyntheticResolver', () => {
  it('gives every name an address of 198.18.0.0/15 and remembers it both ways', async () => {
    const resolver = new SyntheticResolver(3);
    const [a] = await resolver.resolve4('example.org');
    const [b] = await resolver.resolve4('deb.debian.org');
    expect(isSyntheticAddress(a!)).toBe(true);
    expect(ipv4ToString(a!)).toBe('198.18.0.1');
    expect(b).not.toBe(a);
    expect(await resolver.resolve4('EXAMPLE.org')).toEqual([a]);
    expect(resolver.nameOf(b!)).toBe('deb.debian.org');
    await expect(resolver.resolve4('bad name')).rejects.toBeInstanceOf(NameNotFound);
    // Past the cap the oldest name gives up its address.
    await resolver.resolve4('c.test');
    const [d] = await resolver.resolve4('d.test');
    expect(d).toBe(a);
    expect(resolver.nameOf(a!)).toBe('d.test');
    expect(isSyntheticAddress(ipv4('198.20.0.1'))).toBe(false);
  });
});

/** The chunk patternBody makes at each pull. */
const PATTERN_CHUNK = 64 * 1024;

/**
 * A body of `total` bytes made in 64 KiB chunks only as the reader pulls them (no read-ahead): its sha256 as
 * it goes, and how many bytes it has made so far.
 */
function patternBody(total: number): {
  body: ReadableStream<Uint8Array>;
  expected: ReturnType<typeof createHash>;
  produced: () => number;
} {
  const chunk = PATTERN_CHUNK;
  let produced = 0;
  const expected = createHash('sha256');
  const body = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (produced >= total) return controller.close();
        const data = new Uint8Array(chunk);
        for (let i = 0; i < chunk; i += 4096) data[i] = (produced + i) >>> 12;
        expected.update(data);
        produced += chunk;
        controller.enqueue(data);
      },
    },
    { highWaterMark: 0 },
  );
  return { body, expected, produced: () => produced };
}
