import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BrowserNetwork } from './browser-network.ts';
import { ipv4 } from './frames.ts';
import type { GuestSocket } from './guest-socket.ts';
import { httpRequest, HttpResponseError } from './http-client.ts';
import { ScriptedGuest } from './test-support/scripted-guest.ts';
import { GATEWAY_ADDRESS } from './user-network.ts';

const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);
const text = (data: Uint8Array): string => new TextDecoder().decode(data);

interface Fake {
  readonly socket: GuestSocket;
  /** What the client sent, once it has written. */
  readonly sent: () => string;
  readonly state: { aborted: boolean; closed: boolean; pulls: number };
}

/** A socket whose guest answers with `answer`'s pieces, one read each, then its FIN (unless `open`). */
function fakeSocket(answer: readonly (string | Uint8Array)[], open = false): Fake {
  const written: Uint8Array[] = [];
  const state = { aborted: false, closed: false, pulls: 0 };
  const pieces = answer.map((piece) => (typeof piece === 'string' ? bytes(piece) : piece));
  const socket: GuestSocket = {
    remote: '10.0.2.15:8000',
    opened: Promise.resolve(),
    readable: new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          state.pulls++;
          const piece = pieces.shift();
          if (piece) controller.enqueue(piece);
          else if (!open) controller.close();
          else return new Promise(() => {});
        },
      },
      { highWaterMark: 0 },
    ),
    writable: new WritableStream<Uint8Array>({
      write(chunk) {
        written.push(chunk.slice());
      },
      close() {
        state.closed = true;
      },
    }),
    abort() {
      state.aborted = true;
    },
  };
  return { socket, state, sent: () => written.map(text).join('') };
}

const get = (path = '/', init?: RequestInit): Request => new Request(`http://guest${path}`, init);

describe('httpRequest: requests', () => {
  it('sends the path and query, Host as the guest’s address, the caller’s headers, and Connection: close', async () => {
    const fake = fakeSocket(['HTTP/1.1 204 No Content\r\n\r\n']);
    const response = await httpRequest(
      fake.socket,
      get('/a/b.html?x=1&y=%20', { headers: { Accept: 'text/html', Connection: 'keep-alive', 'X-Test': 'v' } }),
    );
    expect(response.status).toBe(204);
    expect(fake.sent()).toBe(
      'GET /a/b.html?x=1&y=%20 HTTP/1.1\r\nHost: 10.0.2.15:8000\r\naccept: text/html\r\nx-test: v\r\nConnection: close\r\n\r\n',
    );
  });

  it('sends a body whole with its Content-Length', async () => {
    const fake = fakeSocket(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok']);
    const response = await httpRequest(
      fake.socket,
      get('/post', { method: 'POST', body: 'name=tabvm', headers: { 'content-type': 'text/plain' } }),
    );
    expect(await response.text()).toBe('ok');
    expect(fake.sent()).toBe(
      'POST /post HTTP/1.1\r\nHost: 10.0.2.15:8000\r\ncontent-type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nname=tabvm',
    );
  });

  it('refuses a body over the cap before sending anything', async () => {
    const fake = fakeSocket([]);
    await expect(
      httpRequest(fake.socket, get('/', { method: 'PUT', body: 'x'.repeat(101) }), { maxRequestBodyBytes: 100 }),
    ).rejects.toThrow("The request's body is over 100 bytes.");
    expect(fake.sent()).toBe('');
    expect(fake.state.aborted).toBe(true);
  });
});

describe('httpRequest: responses', () => {
  it('takes a Content-Length body, the status, its reason and the header fields', async () => {
    const fake = fakeSocket([
      'HTTP/1.0 200 Fine\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello',
      ' world',
      'trailing garbage is not the body',
    ]);
    const response = await httpRequest(fake.socket, get());
    expect(response.status).toBe(200);
    expect(response.statusText).toBe('Fine');
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(response.headers.get('x-a')).toBe('1, 2');
    expect(await response.text()).toBe('hello world');
    expect(fake.state.closed).toBe(true);
    expect(fake.state.aborted).toBe(false);
  });

  it('decodes a chunked body given a byte at a time, with extensions and a trailer', async () => {
    const wire =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\n' +
      'abcdefghijklmnopqrstuvwxyz' +
      '\r\n0\r\nX-Trailer: t\r\n\r\n';
    const fake = fakeSocket([...bytes(wire)].map((byte) => Uint8Array.of(byte)));
    const response = await httpRequest(fake.socket, get());
    expect(response.headers.has('content-length')).toBe(false);
    expect(await response.text()).toBe('helloabcdefghijklmnopqrstuvwxyz');
  });

  it('reads a body without framing to the close, and streams it as it comes', async () => {
    const fake = fakeSocket(['HTTP/1.0 200 OK\r\n\r\nfirst ', 'second'], true);
    const response = await httpRequest(fake.socket, get());
    const reader = response.body!.getReader();
    expect(text((await reader.read()).value!)).toBe('first ');
    expect(text((await reader.read()).value!)).toBe('second');
    // The guest has not closed: the stream waits for more rather than ending.
    const pending = await Promise.race([
      reader.read().then(() => 'read'),
      new Promise((r) => setTimeout(r, 50, 'waiting')),
    ]);
    expect(pending).toBe('waiting');
    await reader.cancel();
    expect(fake.state.aborted).toBe(true);
  });

  it('skips interim 1xx responses, and gives no body for HEAD, 204 and 304', async () => {
    const continued = await httpRequest(
      fakeSocket(['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc']).socket,
      get(),
    );
    expect(await continued.text()).toBe('abc');
    const head = await httpRequest(
      fakeSocket(['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n']).socket,
      get('/', { method: 'HEAD' }),
    );
    expect(head.body).toBeNull();
    expect(head.headers.get('content-length')).toBe('1000');
    const notModified = await httpRequest(fakeSocket(['HTTP/1.1 304 Not Modified\r\n\r\n']).socket, get());
    expect(notModified.status).toBe(304);
    expect(notModified.body).toBeNull();
  });

  it('refuses a head over the bound without holding more than it', async () => {
    const fake = fakeSocket([
      'HTTP/1.1 200 OK\r\n',
      ...Array.from({ length: 100 }, () => `X-Filler: ${'y'.repeat(1000)}\r\n`),
    ]);
    await expect(httpRequest(fake.socket, get(), { maxHeaderBytes: 8192 })).rejects.toThrow(
      "The response's status line and header fields is over 8192 bytes.",
    );
    expect(fake.state.pulls).toBeLessThan(12);
    expect(fake.state.aborted).toBe(true);
  });

  it.each([
    ['garbage', 'SSH-2.0-OpenSSH_9.6\r\n\r\n', "The server's answer is not HTTP/1.1: SSH-2.0-OpenSSH_9.6"],
    ['HTTP/2', 'HTTP/2 200\r\n\r\n', 'not HTTP/1.1'],
    [
      'a bad header line',
      'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
      'A header line of the response is malformed: no colon here',
    ],
    [
      'a folded header line',
      'HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\n\r\n',
      'A header line of the response is malformed',
    ],
    [
      'a control byte in a value',
      'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n',
      'A header line of the response is malformed',
    ],
    [
      'two Content-Lengths',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      "The response's Content-Length is malformed.",
    ],
    [
      'a negative Content-Length',
      'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
      "The response's Content-Length is malformed.",
    ],
    [
      'two transfer codings',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'transfer coding gzip, chunked is not supported',
    ],
    ['101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'switched protocols'],
    ['a status past 599', 'HTTP/1.1 700 Odd\r\n\r\n', "The response's status 700 is not one of HTTP's."],
    ['nothing', '', 'The server closed the connection without a response.'],
    [
      'half a head',
      'HTTP/1.1 200 OK\r\nContent-',
      "The server closed the connection in the middle of the response's status line",
    ],
  ])('refuses %s with a sentence', async (_, wire, message) => {
    const fake = fakeSocket(wire === '' ? [] : [wire]);
    const error = await httpRequest(fake.socket, get()).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(error).toBeInstanceOf(HttpResponseError);
    expect((error as Error).message).toContain(message);
    expect(fake.state.aborted).toBe(true);
  });

  it.each([
    [
      'cut short',
      'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
      'The server closed the connection 7 bytes before the end',
    ],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'A chunk size of the response'],
    [
      'a chunk without its CRLF',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n',
      "A chunk of the response's body is malformed.",
    ],
    [
      'a chunk cut short',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc',
      'in the middle of the response',
    ],
    [
      'a chunk size over 8 digits',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000000\r\n',
      'A chunk size of the response',
    ],
    [
      'an endless chunk size line',
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'0'.repeat(5000)}`,
      'A chunk size line of the response is over 4096 bytes.',
    ],
  ])('errors the body’s stream for %s', async (_, wire, message) => {
    const fake = fakeSocket([wire]);
    const response = await httpRequest(fake.socket, get());
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow(message);
    expect(fake.state.aborted).toBe(true);
  });

  it('closes the connection when the request’s signal aborts', async () => {
    const fake = fakeSocket(['HTTP/1.1 200 OK\r\n\r\nsome'], true);
    const controller = new AbortController();
    const response = await httpRequest(fake.socket, get('/', { signal: controller.signal }));
    expect(response.status).toBe(200);
    controller.abort();
    expect(fake.state.aborted).toBe(true);
  });
});

describe('httpRequest over the page’s network', () => {
  it('fetches a chunked 300 KB body from a scripted guest server, streamed through the TCP window', async () => {
    const network = new BrowserNetwork({ origin: 'http://app.test', fetch: () => Promise.reject(new Error('none')) });
    const card = network.card(() => {});
    const guest = new ScriptedGuest(Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56));
    guest.network = card.onNetwork({ toGuest: guest });
    guest.dhcp(1);
    await guest.until(() => guest.udp.some((d) => d.payload[242] === 2), 2000, 'DHCPOFFER');
    guest.dhcp(3, { requested: ipv4('10.0.2.15'), server: GATEWAY_ADDRESS });
    await guest.until(() => guest.udp.some((d) => d.payload[242] === 5), 2000, 'DHCPACK');
    guest.address = ipv4('10.0.2.15');
    const server = guest.tcpServer(8000);
    try {
      const body = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff);
      const responding = httpRequest(card.connectToGuest(8000), new Request('http://guest/big?x=1'));
      await guest.until(() => text(server.bytes()).endsWith('\r\n\r\n'), 5000, 'the request');
      expect(text(server.bytes())).toBe('GET /big?x=1 HTTP/1.1\r\nHost: 10.0.2.15:8000\r\nConnection: close\r\n\r\n');
      server.write(bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'));
      for (let at = 0; at < body.length; at += 70_000) {
        const piece = body.subarray(at, at + 70_000);
        server.write(Uint8Array.of(...bytes(`${piece.length.toString(16)}\r\n`), ...piece, 13, 10));
      }
      server.write(bytes('0\r\n\r\n'));
      server.close();
      const response = await responding;
      const received = new Uint8Array(await response.arrayBuffer());
      const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
      expect(sha(received)).toBe(sha(body));
      // The whole response read, the page closes its side with a FIN.
      await guest.until(() => server.finReceived, 2000, 'the page’s FIN');
    } finally {
      server.stop();
      network.reset();
    }
  });
});
