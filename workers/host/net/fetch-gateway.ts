/**
 * The browser's `SocketProvider`: a page has no sockets, so a guest's TCP connection to port 80 is read
 * as HTTP/1.1 (RFC 9112) and each request becomes a `fetch()` from the page, whose response is streamed
 * back with the guest's TCP window as back-pressure. A connection to port 443 is the same once TLS is
 * terminated in the page (tls/server.ts) with a certificate of the browser profile's CA for the name
 * the guest asked for, and its requests are fetched as https://. 10.0.2.2 is the page's own origin; any
 * other address is the site the request's Host header names (or the TLS server name, a synthetic
 * address from the resolver, or an address the guest typed). Other ports are refused with a RST, and
 * UDP beyond the network's DNS is dropped, each with one line for the VM's pane.
 *
 * Bounds: a request head of at most `maxHeaderBytes` (431 above), a request body of at most
 * `maxBodyBytes` (413 above; Chromium streams a request body only over HTTP/2, so bodies are buffered),
 * unread request bytes of at most the network's TCP window (`pendingBytes` shrinks it), response bytes
 * held of at most the connection's send buffer (the network pauses the stream). A fetch that fails
 * (the site refuses CORS, cannot be reached, mixed content) is an HTTP 502 whose body says why; one whose
 * response does not begin within `responseTimeoutMs` is a 504. Never a hang.
 */
import { ipv4ToString } from './frames.ts';
import { CHUNK_SIZE_LINE, latin1, MAX_CHUNK_LINE_BYTES, parseFieldLine, TOKEN } from './http-syntax.ts';
import type { HostStream, HostUdpSocket, SocketProvider, StreamEvents } from './sockets.ts';
import type { ServerCertificate } from './tls/certificates.ts';
import { TlsServer } from './tls/server.ts';

export const HTTP_PORT = 80;
export const HTTPS_PORT = 443;
/** Response bytes waiting for encryption above which the HTTP side of an HTTPS connection is paused. */
const MAX_TLS_QUEUED_BYTES = 64 * 1024;

/** Where the certificates of guest HTTPS come from (the profile's `CertificateAuthority`). */
export interface CertificateSource {
  /** The certificate for `host`, a DNS name or an IPv4 literal. */
  certificateFor(host: string): Promise<ServerCertificate>;
}

/** A URL prefix the guest asks for, fetched from elsewhere (e.g. Debian's archive from this site's mirror). */
export interface UrlMap {
  /** The prefix as the guest's URL has it, e.g. `http://deb.debian.org/debian/`. */
  readonly from: string;
  /** The absolute URL prefix fetched instead, e.g. the page's `/images/debian/mirror/`. */
  readonly to: string;
  /** What a 404 from there means, for the pane: "… is not in `missing`", e.g. "this site's package mirror". */
  readonly missing: string;
}

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface FetchGatewayOptions {
  readonly fetch: Fetch;
  /** The page's origin (e.g. `https://tabvm.example`): what 10.0.2.2 serves. */
  readonly origin: string;
  /** The gateway's address in the guest's terms (10.0.2.2). */
  readonly gatewayAddress: number;
  /** The name a synthetic address was given for (the resolver's memory). */
  readonly nameOf: (address: number) => string | undefined;
  /** One line for the VM's pane. */
  readonly onNotice: (line: string) => void;
  readonly urlMaps?: readonly UrlMap[];
  /** The certificates for guest HTTPS; without them port 443 is refused like any other. */
  readonly certificates?: CertificateSource;
  /**
   * Fetch another site's http:// URL as https:// (default false): a page served over HTTPS may not
   * fetch http:// (mixed content), so the app sets it when it is.
   */
  readonly upgradeToHttps?: boolean;
  /** A request line and headers (default 32 KiB). */
  readonly maxHeaderBytes?: number;
  /** A request body (default 16 MiB). */
  readonly maxBodyBytes?: number;
  /** From the request to the response's head (default 60 s). */
  readonly responseTimeoutMs?: number;
}

/** Where a URL maps to, or undefined when no map takes it. */
export function mapUrl(url: string, maps: readonly UrlMap[]): { url: string; map: UrlMap } | undefined {
  for (const map of maps) if (url.startsWith(map.from)) return { url: map.to + url.slice(map.from.length), map };
  return undefined;
}

const CRLF = Uint8Array.of(13, 10);
const LAST_CHUNK = Uint8Array.of(0x30, 13, 10, 13, 10);

/** Request headers fetch() may not set or that belong to one hop (RFC 9110 §7.6.1). */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);
/**
 * What goes to another origin: the CORS-safelisted request headers (Fetch §2.2.2), so a request needs
 * no preflight that a site without CORS would refuse anyway. The page's own origin gets every header.
 */
const CROSS_ORIGIN_HEADERS = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'range']);
/** Response headers that describe the page's hop, not the guest's: fetch() decoded the body already. */
const NOT_RETURNED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-encoding', 'content-length']);

const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Content Too Large',
  416: 'Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const encoder = new TextEncoder();

interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: '1.0' | '1.1';
  readonly headers: readonly (readonly [string, string])[];
}

/** An HTTP error the gateway answers itself, then closes the connection. */
class HttpFailure {
  constructor(
    readonly status: number,
    readonly sentence: string,
    /** The status line's reason phrase, which clients print (busybox wget shows no body on an error). */
    readonly reason = REASONS[status] ?? 'Error',
  ) {}
}

function header(head: RequestHead, name: string): string[] {
  return head.headers.filter(([key]) => key === name).map(([, value]) => value);
}

/** Request line and header fields, or why not (RFC 9112 §3, §5). */
function parseHead(text: string): RequestHead | HttpFailure {
  const lines = text.split(/\r?\n/);
  const request = /^(\S+) (\S+) HTTP\/1\.([01])$/.exec(lines[0]!);
  if (!request || !TOKEN.test(request[1]!)) return new HttpFailure(400, 'The request line is not HTTP/1.1.');
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const field = parseFieldLine(line);
    if (!field) return new HttpFailure(400, `A header line is malformed: ${line.slice(0, 80)}`);
    headers.push(field);
  }
  return { method: request[1]!, target: request[2]!, version: request[3] === '0' ? '1.0' : '1.1', headers };
}

/** The guest's view of a connection's far end. */
interface Peer {
  readonly address: number;
  readonly port: number;
  readonly scheme: 'http' | 'https';
  /** The name the guest's TLS client asked for (SNI). */
  readonly serverName?: () => string | undefined;
}

export class FetchGateway implements SocketProvider {
  readonly #options: FetchGatewayOptions;
  readonly #noticed = new Set<string>();
  readonly maxHeaderBytes: number;
  readonly maxBodyBytes: number;
  readonly responseTimeoutMs: number;

  constructor(options: FetchGatewayOptions) {
    this.#options = options;
    this.maxHeaderBytes = options.maxHeaderBytes ?? 32 * 1024;
    this.maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
    this.responseTimeoutMs = options.responseTimeoutMs ?? 60_000;
  }

  connect(address: number, port: number, events: StreamEvents): HostStream {
    const certificates = this.#options.certificates;
    if (port === HTTP_PORT) return new HttpStream(this, { address, port, scheme: 'http' }, events);
    const where = `${ipv4ToString(address)}:${port}`;
    if (port === HTTPS_PORT) {
      if (certificates) return new HttpsStream(this, address, certificates, events);
      this.noticeOnce('https', `network: HTTPS has no certificate authority on this network; ${where} was refused`);
      return refusedStream(events);
    }
    this.noticeOnce(
      'port',
      `network: only HTTP and HTTPS (ports 80 and 443) reach the web from a browser VM; ${where} was refused`,
    );
    return refusedStream(events);
  }

  openUdp(): HostUdpSocket {
    return {
      send: () =>
        this.noticeOnce('udp', 'network: UDP beyond the VM’s DNS does not reach the web from a browser VM; dropped'),
      close() {},
    };
  }

  notice(line: string): void {
    this.#options.onNotice(line);
  }

  noticeOnce(kind: string, line: string): void {
    if (this.#noticed.has(kind)) return;
    this.#noticed.add(kind);
    this.notice(line);
  }

  fetch(url: string, init: RequestInit): Promise<Response> {
    return this.#options.fetch(url, init);
  }

  /**
   * The URL the guest asked for (as it would name it) and the one fetched: the page's origin for
   * 10.0.2.2, a mapped prefix, or the site of the Host header.
   */
  urls(peer: Peer, head: RequestHead): { guestUrl: string; fetchUrl: string; map?: UrlMap } | HttpFailure {
    const options = this.#options;
    const scheme = peer.scheme;
    let guestUrl: string;
    let direct: string;
    if (new RegExp(`^${scheme}://`, 'i').test(head.target)) {
      guestUrl = head.target; // absolute-form: the guest takes us for a proxy (RFC 9112 §3.2.2)
      direct = guestUrl;
    } else if (head.target.startsWith('/')) {
      const hostField = header(head, 'host')[0]?.replace(scheme === 'http' ? /:80$/ : /:443$/, '');
      if (peer.address === options.gatewayAddress) {
        guestUrl = `${scheme}://${ipv4ToString(peer.address)}${head.target}`;
        direct = options.origin + head.target;
      } else {
        const host = hostField || peer.serverName?.() || options.nameOf(peer.address) || ipv4ToString(peer.address);
        guestUrl = `${scheme}://${host}${head.target}`;
        direct = guestUrl;
      }
    } else {
      return new HttpFailure(
        501,
        `${head.method} ${head.target}: only plain ${scheme}:// requests reach the web from a browser VM (no CONNECT).`,
      );
    }
    const mapped = mapUrl(guestUrl, options.urlMaps ?? []);
    let fetchUrl = mapped?.url ?? direct;
    if (!mapped && scheme === 'http' && options.upgradeToHttps && peer.address !== options.gatewayAddress) {
      fetchUrl = fetchUrl.replace(/^http:/i, 'https:');
    }
    try {
      fetchUrl = new URL(fetchUrl).href;
    } catch {
      return new HttpFailure(400, `${guestUrl} is not a URL.`);
    }
    return mapped ? { guestUrl, fetchUrl, map: mapped.map } : { guestUrl, fetchUrl };
  }

  /** What the guest calls `address`: the name it resolved to it, or its dotted form. */
  nameOfAddress(address: number): string {
    return this.#options.nameOf(address) ?? ipv4ToString(address);
  }

  isSameOrigin(url: string): boolean {
    return new URL(url).origin === this.#options.origin;
  }
}

/** A stream whose connection is refused: the network answers the guest's SYN with a RST. */
function refusedStream(events: StreamEvents): HostStream {
  queueMicrotask(() => events.closed('refused'));
  return { write() {}, pendingBytes: 0, end() {}, destroy() {}, pause() {}, resume() {} };
}

/**
 * One guest connection to port 443: a TLS server in front of an `HttpStream`. The network's bytes go
 * to the TLS server, its plaintext to the HTTP stream, whose answers are encrypted back. The HTTP side
 * is paused while the network is, or while more than MAX_TLS_QUEUED_BYTES wait to be encrypted.
 */
class HttpsStream implements HostStream {
  readonly #events: StreamEvents;
  readonly #tls: TlsServer;
  readonly #http: HttpStream;
  #networkPaused = false;
  #httpPaused = false;
  #ended = false;

  constructor(gateway: FetchGateway, address: number, certificates: CertificateSource, events: StreamEvents) {
    this.#events = events;
    const where = (): string => this.#tls.serverName ?? gateway.nameOfAddress(address);
    this.#tls = new TlsServer(
      // Without SNI (an address typed), the certificate names the address the guest connected to.
      { certificate: (serverName) => certificates.certificateFor(serverName ?? gateway.nameOfAddress(address)) },
      {
        send: (bytes) => {
          events.data(bytes);
          this.#flow();
        },
        established: () => {},
        data: (bytes) => this.#http.write(bytes),
        end: () => this.#http.end(),
        failed: (reason) => {
          const hint = /unknown_ca|bad_certificate/.test(reason)
            ? ': the guest does not trust this browser’s CA (docs/networking.md, “HTTPS”)'
            : '';
          gateway.notice(`network: HTTPS to ${where()} failed: ${reason}${hint}`);
          this.#http.destroy();
          this.#end();
        },
        drained: () => events.drained(),
      },
    );
    this.#http = new HttpStream(
      gateway,
      { address, port: HTTPS_PORT, scheme: 'https', serverName: () => this.#tls.serverName },
      {
        connected: () => events.connected(),
        data: (bytes) => {
          this.#tls.write(bytes);
          this.#flow();
        },
        end: () => void this.#tls.close().then(() => this.#end()),
        drained: () => events.drained(),
        closed: (reason) => {
          this.#tls.destroy();
          this.#ended = true;
          events.closed(reason);
        },
      },
    );
  }

  write(bytes: Uint8Array): void {
    this.#tls.receive(bytes);
  }

  get pendingBytes(): number {
    return this.#tls.pendingBytes + this.#http.pendingBytes;
  }

  end(): void {
    this.#tls.receiveEnd();
  }

  destroy(): void {
    this.#ended = true;
    this.#tls.destroy();
    this.#http.destroy();
  }

  pause(): void {
    this.#networkPaused = true;
    this.#flow();
  }

  resume(): void {
    this.#networkPaused = false;
    this.#flow();
  }

  /** Pauses or resumes the HTTP side by the network's state and the bytes waiting for encryption. */
  #flow(): void {
    const pause = this.#networkPaused || this.#tls.queuedBytes > MAX_TLS_QUEUED_BYTES;
    if (pause === this.#httpPaused) return;
    this.#httpPaused = pause;
    if (pause) this.#http.pause();
    else this.#http.resume();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#events.end();
  }
}

/** One guest connection to port 80 (or 443 behind TLS): requests in order, each answered before the next is read. */
class HttpStream implements HostStream {
  readonly #gateway: FetchGateway;
  readonly #peer: Peer;
  readonly #events: StreamEvents;
  /** Request bytes from the guest not read yet. */
  #input: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #guestEnded = false;
  #destroyed = false;
  #paused = false;
  /** Wakes the reader when bytes arrive, the guest ends, the stream resumes or is destroyed. */
  #wake: (() => void) | undefined;
  #abort: AbortController | undefined;

  constructor(gateway: FetchGateway, peer: Peer, events: StreamEvents) {
    this.#gateway = gateway;
    this.#peer = peer;
    this.#events = events;
    queueMicrotask(() => {
      if (this.#destroyed) return;
      events.connected();
      this.#serve().catch((error: unknown) => {
        // Our own bug: the guest sees its connection reset rather than a hang.
        console.error('tabvm: the HTTP gateway failed', error);
        this.#reset();
      });
    });
  }

  write(bytes: Uint8Array): void {
    if (this.#destroyed) return;
    const input = new Uint8Array(this.#input.length + bytes.length);
    input.set(this.#input);
    input.set(bytes, this.#input.length);
    this.#input = input;
    this.#wakeUp();
  }

  get pendingBytes(): number {
    return this.#input.length;
  }

  end(): void {
    this.#guestEnded = true;
    this.#wakeUp();
  }

  destroy(): void {
    this.#destroyed = true;
    this.#abort?.abort();
    this.#wakeUp();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  #reset(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#abort?.abort();
    this.#events.closed('reset');
  }

  /** Takes `count` input bytes; the network reopens its window for them. */
  #take(count: number): Uint8Array<ArrayBuffer> {
    const taken = this.#input.subarray(0, count);
    this.#input = this.#input.subarray(count);
    this.#events.drained();
    return taken;
  }

  /** Waits for more input; false when none will come (the guest ended, or the stream is gone). */
  async #more(): Promise<boolean> {
    if (this.#destroyed || this.#guestEnded) return false;
    await this.#changed();
    return !this.#destroyed;
  }

  async #serve(): Promise<void> {
    for (;;) {
      const head = await this.#readHead();
      if (head === undefined || this.#destroyed) break;
      if (head instanceof HttpFailure) {
        this.#fail(head);
        break;
      }
      const keepAlive = await this.#exchange(head);
      if (!keepAlive || this.#destroyed) break;
    }
    if (!this.#destroyed) this.#events.end();
  }

  /** The next request's head; undefined when the guest ended between requests or the stream went. */
  async #readHead(): Promise<RequestHead | HttpFailure | undefined> {
    const max = this.#gateway.maxHeaderBytes;
    for (;;) {
      // RFC 9112 §2.2: empty lines before a request line are ignored.
      let skip = 0;
      while (skip < this.#input.length && (this.#input[skip] === 13 || this.#input[skip] === 10)) skip++;
      if (skip > 0) this.#take(skip);
      const text = latin1(this.#input.subarray(0, max + 4));
      const end = /\r?\n\r?\n/.exec(text);
      if (end) {
        this.#take(end.index + end[0].length);
        return parseHead(text.slice(0, end.index));
      }
      if (this.#input.length > max) {
        return new HttpFailure(431, `The request's line and headers are over ${max} bytes.`);
      }
      if (!(await this.#more())) return undefined;
    }
  }

  /** Exactly `count` bytes of input, or undefined when the guest ended first. */
  async #read(count: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
    while (this.#input.length < count) if (!(await this.#more())) return undefined;
    return this.#take(count).slice();
  }

  /** One line of a chunked body (without its CRLF), bounded. */
  async #readLine(): Promise<string | HttpFailure | undefined> {
    for (;;) {
      const at = this.#input.subarray(0, MAX_CHUNK_LINE_BYTES).indexOf(10);
      if (at >= 0) return latin1(this.#take(at + 1).subarray(0, at)).replace(/\r$/, '');
      if (this.#input.length >= MAX_CHUNK_LINE_BYTES)
        return new HttpFailure(400, 'A chunk line of the body is too long.');
      if (!(await this.#more())) return undefined;
    }
  }

  /** The request's body (RFC 9112 §6.3), bounded by the gateway's cap. */
  async #readBody(head: RequestHead): Promise<Uint8Array<ArrayBuffer> | HttpFailure | undefined> {
    const max = this.#gateway.maxBodyBytes;
    const tooLarge = new HttpFailure(
      413,
      `The request's body is over ${Math.round(max / (1 << 20))} MiB, the most a browser VM's request may send.`,
    );
    const codings = header(head, 'transfer-encoding')
      .flatMap((value) => value.split(','))
      .map((value) => value.trim().toLowerCase())
      .filter((value) => value !== '');
    if (codings.length > 0) {
      if (codings.at(-1) !== 'chunked' || codings.length > 1)
        return new HttpFailure(501, `The transfer coding ${codings.join(', ')} is not supported; chunked is.`);
      const parts: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const line = await this.#readLine();
        if (line === undefined || line instanceof HttpFailure) return line;
        const size = CHUNK_SIZE_LINE.exec(line);
        if (!size) return new HttpFailure(400, 'A chunk size of the body is malformed.');
        const length = parseInt(size[1]!, 16);
        if (length === 0) break;
        total += length;
        if (total > max) return tooLarge;
        const data = await this.#read(length + 2);
        if (data === undefined) return undefined;
        if (data[length] !== 13 || data[length + 1] !== 10)
          return new HttpFailure(400, 'A chunk of the body is malformed.');
        parts.push(data.subarray(0, length));
      }
      for (;;) {
        const trailer = await this.#readLine();
        if (trailer === undefined || trailer instanceof HttpFailure) return trailer;
        if (trailer === '') break;
      }
      const body = new Uint8Array(total);
      let at = 0;
      for (const part of parts) {
        body.set(part, at);
        at += part.length;
      }
      return body;
    }
    const lengths = new Set(
      header(head, 'content-length')
        .flatMap((value) => value.split(','))
        .map((value) => value.trim()),
    );
    if (lengths.size === 0) return new Uint8Array(0);
    const [length] = lengths;
    if (lengths.size > 1 || !/^\d{1,15}$/.test(length!))
      return new HttpFailure(400, 'The request’s Content-Length is malformed.');
    if (Number(length) > max) return tooLarge;
    return this.#read(Number(length));
  }

  /** Answers one request; whether the connection stays open for the next. */
  async #exchange(head: RequestHead): Promise<boolean> {
    // A client that waits before sending its body (curl, for one over 1 KiB) is told to go on (RFC 9110 §10.1.1).
    if (head.version === '1.1' && header(head, 'expect').some((value) => value.toLowerCase() === '100-continue')) {
      this.#events.data(encoder.encode('HTTP/1.1 100 Continue\r\n\r\n'));
    }
    const body = await this.#readBody(head);
    if (body === undefined) return false;
    if (body instanceof HttpFailure) {
      this.#fail(body);
      return false;
    }
    const gateway = this.#gateway;
    const urls = gateway.urls(this.#peer, head);
    if (urls instanceof HttpFailure) {
      this.#fail(urls);
      return false;
    }
    const method = head.method.toUpperCase();
    if (method === 'CONNECT' || method === 'TRACE' || method === 'TRACK') {
      this.#fail(new HttpFailure(501, `${method} cannot be sent by a browser.`));
      return false;
    }
    const sameOrigin = gateway.isSameOrigin(urls.fetchUrl);
    const connectionTokens = header(head, 'connection').flatMap((value) =>
      value.split(',').map((token) => token.trim().toLowerCase()),
    );
    const headers = new Headers();
    for (const [name, value] of head.headers) {
      if (NOT_FORWARDED.has(name) || connectionTokens.includes(name)) continue;
      if (!sameOrigin && !CROSS_ORIGIN_HEADERS.has(name)) continue;
      try {
        headers.append(name, value);
      } catch {
        this.#fail(new HttpFailure(400, `The header ${name} has a value a browser cannot send.`));
        return false;
      }
    }
    const abort = new AbortController();
    this.#abort = abort;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, gateway.responseTimeoutMs);
    let response: Response;
    try {
      response = await gateway.fetch(urls.fetchUrl, {
        method,
        headers,
        mode: 'cors',
        credentials: 'omit',
        redirect: 'follow',
        signal: abort.signal,
        ...(body.length > 0 && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
      });
    } catch (error) {
      if (this.#destroyed) return false;
      const why = timedOut
        ? `no answer came within ${Math.round(gateway.responseTimeoutMs / 1000)} s`
        : 'the site does not allow cross-origin requests (CORS), or it could not be reached';
      gateway.notice(`network: ${urls.guestUrl} could not be fetched: ${why}`);
      if (!timedOut) console.warn(`tabvm: fetch of ${urls.fetchUrl} failed`, error);
      this.#fail(
        timedOut
          ? new HttpFailure(504, `The browser could not fetch ${urls.fetchUrl}: ${why}.`)
          : new HttpFailure(
              502,
              `The browser could not fetch ${urls.fetchUrl}: ${why}.`,
              'Bad Gateway (no CORS, or unreachable)',
            ),
      );
      return false;
    } finally {
      clearTimeout(timer);
    }
    if (this.#destroyed) {
      void response.body?.cancel();
      return false;
    }
    if (response.status === 404 && urls.map) gateway.notice(`network: ${urls.guestUrl} is not in ${urls.map.missing}`);
    return this.#respond(head, method, response, connectionTokens);
  }

  /** Streams `response` to the guest; whether the connection stays open. */
  async #respond(head: RequestHead, method: string, response: Response, connectionTokens: string[]): Promise<boolean> {
    const status = response.status;
    const noBody = method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
    const lines = [`HTTP/1.1 ${status} ${response.statusText || REASONS[status] || 'Status'}`];
    response.headers.forEach((value, name) => {
      if (!NOT_RETURNED.has(name)) lines.push(`${name}: ${value}`);
    });
    // A cross-origin response hides Content-Encoding, so its Content-Length may count compressed bytes.
    const declared = response.headers.get('content-length');
    const length =
      response.type !== 'cors' && !response.headers.has('content-encoding') && declared && /^\d{1,15}$/.test(declared)
        ? Number(declared)
        : undefined;
    const chunked = !noBody && length === undefined && head.version === '1.1';
    let keepAlive =
      head.version === '1.1' && !connectionTokens.includes('close') && (noBody || length !== undefined || chunked);
    if (header(head, 'transfer-encoding').length > 0 && header(head, 'content-length').length > 0) keepAlive = false;
    if (length !== undefined) lines.push(`content-length: ${length}`);
    if (chunked) lines.push('transfer-encoding: chunked');
    if (!keepAlive) lines.push('connection: close');
    this.#events.data(encoder.encode(`${lines.join('\r\n')}\r\n\r\n`));
    if (noBody || !response.body) {
      if (!noBody && chunked) this.#events.data(LAST_CHUNK.slice());
      void response.body?.cancel();
      return keepAlive;
    }
    const reader = response.body.getReader();
    let sent = 0;
    try {
      for (;;) {
        while (this.#paused && !this.#destroyed) await this.#changed();
        if (this.#destroyed) {
          void reader.cancel();
          return false;
        }
        const { value, done } = await reader.read();
        if (this.#destroyed) return false;
        if (done) break;
        if (value.length === 0) continue;
        sent += value.length;
        if (length !== undefined && sent > length) throw new Error('the body is longer than its Content-Length');
        if (chunked) this.#events.data(encoder.encode(`${value.length.toString(16)}\r\n`));
        this.#events.data(value);
        if (chunked) this.#events.data(CRLF.slice());
      }
    } catch (error) {
      if (this.#destroyed) return false;
      this.#gateway.notice(`network: ${response.url || 'a response'} broke off: ${(error as Error).message}`);
      this.#reset();
      return false;
    }
    if (length !== undefined && sent !== length) {
      this.#gateway.notice(`network: ${response.url} ended after ${sent} of ${length} bytes`);
      this.#reset();
      return false;
    }
    if (chunked) this.#events.data(LAST_CHUNK.slice());
    return keepAlive;
  }

  /** The gateway's own answer, a sentence, and the connection closes. */
  #fail(failure: HttpFailure): void {
    const body = encoder.encode(`${failure.sentence}\n`);
    const head =
      `HTTP/1.1 ${failure.status} ${failure.reason}\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n`;
    this.#events.data(encoder.encode(head));
    this.#events.data(body);
  }
}
