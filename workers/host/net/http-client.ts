/**
 * An HTTP/1.1 client (RFC 9112) over a `GuestSocket`: the page's requests to a server in a VM
 * (docs/networking.md, "Guest servers"). One request per connection (`Connection: close`), the
 * request's body sent whole with a Content-Length (what the simplest guest servers, busybox httpd and
 * Python's http.server, understand); the response's body is streamed as it arrives, framed by
 * Transfer-Encoding: chunked, Content-Length or the connection's close (§6.3).
 *
 * A guest server's bytes are untrusted: the status line and header fields are bounded
 * (`maxHeaderBytes`) before they are held, every malformed part is refused with `HttpResponseError`
 * (a sentence, as a gateway's 502 would give), and a body cut short errors the body's stream.
 */
import type { GuestSocket } from './guest-socket.ts';
import { CHUNK_SIZE_LINE, latin1, MAX_CHUNK_LINE_BYTES, parseFieldLine } from './http-syntax.ts';

export interface HttpClientLimits {
  /** The status line and header fields of a response (and its trailer), at most (default 64 KiB). */
  readonly maxHeaderBytes?: number;
  /** The request's body, at most (default 64 MiB): it is held whole to send its Content-Length. */
  readonly maxRequestBodyBytes?: number;
}

/** The guest server's response was not HTTP/1.1 the client can take. */
export class HttpResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HttpResponseError';
  }
}

/** Request header fields the connection itself decides (RFC 9110 §7.6.1 and the framing fields). */
const NOT_SENT = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer',
  'host',
  'content-length',
]);
/** Statuses whose responses have no body (RFC 9110 §6.4.1, §15.3.5, §15.4.5), nor may a `Response` have one. */
const NO_BODY = new Set([204, 205, 304]);
/** A field value: visible ASCII, obs-text, spaces and tabs (RFC 9110 §5.5); no CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

const encoder = new TextEncoder();

/** The socket's bytes with a buffer in front, read as lines, a head, or counted bytes. */
class SocketReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = new Uint8Array(0);
  #ended = false;

  constructor(readable: ReadableStream<Uint8Array>) {
    this.#reader = readable.getReader();
  }

  /** Reads more into the buffer; false at the end of the stream. */
  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    const { done, value } = await this.#reader.read();
    if (done) {
      this.#ended = true;
      return false;
    }
    const joined = new Uint8Array(this.#buffer.length + value.length);
    joined.set(this.#buffer);
    joined.set(value, this.#buffer.length);
    this.#buffer = joined;
    return true;
  }

  #take(count: number): Uint8Array {
    const taken = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    return taken;
  }

  /** The text up to the first empty line (taken with it), at most `max` bytes; undefined at a clean end. */
  async head(max: number, what: string): Promise<string | undefined> {
    for (;;) {
      const text = latin1(this.#buffer.subarray(0, max + 4));
      const end = /\r?\n\r?\n/.exec(text);
      if (end) {
        this.#take(end.index + end[0].length);
        return text.slice(0, end.index);
      }
      if (this.#buffer.length > max) throw new HttpResponseError(`The ${what} is over ${max} bytes.`);
      if (!(await this.#more())) {
        if (this.#buffer.length === 0) return undefined;
        throw new HttpResponseError(`The server closed the connection in the middle of the ${what}.`);
      }
    }
  }

  /** One line without its line end, at most `max` bytes. */
  async line(max: number, what: string): Promise<string> {
    for (;;) {
      const at = this.#buffer.subarray(0, max + 1).indexOf(10);
      if (at >= 0) return latin1(this.#take(at + 1).subarray(0, at)).replace(/\r$/, '');
      if (this.#buffer.length > max) throw new HttpResponseError(`A ${what} is over ${max} bytes.`);
      if (!(await this.#more()))
        throw new HttpResponseError(`The server closed the connection in the middle of the response's body.`);
    }
  }

  /** Up to `max` bytes (at least one); undefined at the end of the stream. */
  async some(max: number): Promise<Uint8Array | undefined> {
    if (this.#buffer.length === 0 && !(await this.#more())) return undefined;
    return this.#take(Math.min(max, this.#buffer.length)).slice();
  }

  /** Exactly `count` bytes, or an error when the stream ends first. */
  async exactly(count: number): Promise<Uint8Array> {
    while (this.#buffer.length < count)
      if (!(await this.#more()))
        throw new HttpResponseError(`The server closed the connection in the middle of the response's body.`);
    return this.#take(count).slice();
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly (readonly [string, string])[];
}

function parseResponseHead(text: string): ResponseHead {
  const lines = text.split(/\r?\n/);
  const statusLine = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?$/.exec(lines[0]!);
  if (!statusLine) throw new HttpResponseError(`The server's answer is not HTTP/1.1: ${lines[0]!.slice(0, 80)}`);
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    const field = parseFieldLine(line);
    if (!field || !FIELD_VALUE.test(field[1]))
      throw new HttpResponseError(`A header line of the response is malformed: ${line.slice(0, 80)}`);
    headers.push(field);
  }
  return { status: Number(statusLine[1]), reason: statusLine[2] ?? '', headers };
}

function values(head: ResponseHead, name: string): string[] {
  return head.headers
    .filter(([key]) => key === name)
    .flatMap(([, value]) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/** How the response's body is delimited (RFC 9112 §6.3). */
function framing(method: string, head: ResponseHead): Framing {
  if (method === 'HEAD' || NO_BODY.has(head.status)) return { kind: 'none' };
  const codings = values(head, 'transfer-encoding').map((coding) => coding.toLowerCase());
  if (codings.length > 0) {
    // §6.3 rule 4: chunked last frames the body; any other coding last reads it to the close.
    if (codings.at(-1) !== 'chunked') return { kind: 'close' };
    if (codings.length > 1)
      throw new HttpResponseError(`The response's transfer coding ${codings.join(', ')} is not supported.`);
    return { kind: 'chunked' };
  }
  const lengths = new Set(values(head, 'content-length'));
  if (lengths.size === 0) return { kind: 'close' };
  const [length] = lengths;
  if (lengths.size > 1 || !/^\d{1,15}$/.test(length!))
    throw new HttpResponseError("The response's Content-Length is malformed.");
  return { kind: 'length', length: Number(length) };
}

/** The request's line, header fields and body, as bytes to send. */
async function serializeRequest(request: Request, host: string, maxBodyBytes: number): Promise<Uint8Array> {
  const url = new URL(request.url);
  let body: Uint8Array | undefined;
  if (request.body) {
    const parts: Uint8Array[] = [];
    let total = 0;
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBodyBytes) {
        await reader.cancel();
        throw new HttpResponseError(`The request's body is over ${maxBodyBytes} bytes.`);
      }
      parts.push(value);
    }
    body = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      body.set(part, at);
      at += part.byteLength;
    }
  }
  let head = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${host}\r\n`;
  request.headers.forEach((value, name) => {
    if (!NOT_SENT.has(name)) head += `${name}: ${value}\r\n`;
  });
  if (body !== undefined || !['GET', 'HEAD', 'OPTIONS', 'DELETE'].includes(request.method))
    head += `Content-Length: ${body?.byteLength ?? 0}\r\n`;
  head += 'Connection: close\r\n\r\n';
  const headBytes = encoder.encode(head);
  if (!body) return headBytes;
  const message = new Uint8Array(headBytes.byteLength + body.byteLength);
  message.set(headBytes);
  message.set(body, headBytes.byteLength);
  return message;
}

/**
 * Sends `request` over `socket` (a new connection to the guest's server) and resolves with the
 * response once its head has arrived; its body streams from the socket. Only the URL's path and query
 * are sent, with `Host` the guest's address and port. The socket is closed when the body ends, is
 * cancelled or fails, and when the request's signal aborts.
 */
export async function httpRequest(
  socket: GuestSocket,
  request: Request,
  limits: HttpClientLimits = {},
): Promise<Response> {
  const maxHeaderBytes = limits.maxHeaderBytes ?? 64 * 1024;
  const onAbort = (): void => socket.abort();
  request.signal.addEventListener('abort', onAbort);
  /** The exchange is over: a FIN after a whole response, else a RST. */
  const done = (whole: boolean): void => {
    request.signal.removeEventListener('abort', onAbort);
    if (whole) socket.writable.close().catch(() => {});
    else socket.abort();
  };
  const reader = new SocketReader(socket.readable);
  try {
    if (request.signal.aborted) throw request.signal.reason;
    const message = await serializeRequest(request, socket.remote, limits.maxRequestBodyBytes ?? 64 * 1024 * 1024);
    await socket.opened;
    const writer = socket.writable.getWriter();
    await writer.write(message);
    writer.releaseLock();
    let head: ResponseHead;
    for (;;) {
      const text = await reader.head(maxHeaderBytes, "response's status line and header fields");
      if (text === undefined) throw new HttpResponseError('The server closed the connection without a response.');
      head = parseResponseHead(text);
      if (head.status === 101) throw new HttpResponseError('The server switched protocols, which is not supported.');
      if (head.status >= 200) break; // 1xx: interim responses, the final one follows (RFC 9110 §15.2)
    }
    if (head.status > 599) throw new HttpResponseError(`The response's status ${head.status} is not one of HTTP's.`);
    const bodyFraming = framing(request.method, head);
    const headers = new Headers();
    for (const [name, value] of head.headers) headers.append(name, value);
    const body = bodyFraming.kind === 'none' ? null : bodyStream(reader, bodyFraming, maxHeaderBytes, done);
    if (!body) done(true);
    return new Response(NO_BODY.has(head.status) ? null : body, {
      status: head.status,
      statusText: head.reason,
      headers,
    });
  } catch (error) {
    done(false);
    reader.cancel();
    throw error;
  }
}

/** The body's bytes as a stream, read from the socket as the consumer pulls. */
function bodyStream(
  reader: SocketReader,
  framing: Framing,
  maxHeaderBytes: number,
  done: (whole: boolean) => void,
): ReadableStream<Uint8Array> {
  const CHUNK = 64 * 1024;
  let remaining = framing.kind === 'length' ? framing.length : 0;
  let chunkLeft = 0;
  let chunkedDone = false;
  const next = async (): Promise<Uint8Array | undefined> => {
    switch (framing.kind) {
      case 'length': {
        if (remaining === 0) return undefined;
        const bytes = await reader.some(Math.min(remaining, CHUNK));
        if (!bytes)
          throw new HttpResponseError(
            `The server closed the connection ${remaining} bytes before the end of the response's body.`,
          );
        remaining -= bytes.byteLength;
        return bytes;
      }
      case 'close':
        return reader.some(CHUNK);
      case 'chunked': {
        if (chunkedDone) return undefined;
        if (chunkLeft === 0) {
          const line = await reader.line(MAX_CHUNK_LINE_BYTES, 'chunk size line of the response');
          const size = CHUNK_SIZE_LINE.exec(line);
          if (!size) throw new HttpResponseError("A chunk size of the response's body is malformed.");
          chunkLeft = parseInt(size[1]!, 16);
          if (chunkLeft === 0) {
            // The trailer section (RFC 9112 §7.1.2), bounded as the head is; its fields are not kept.
            let trailerBytes = 0;
            for (;;) {
              const trailer = await reader.line(maxHeaderBytes, 'trailer line of the response');
              trailerBytes += trailer.length + 2;
              if (trailer === '') break;
              if (trailerBytes > maxHeaderBytes)
                throw new HttpResponseError(`The response's trailer is over ${maxHeaderBytes} bytes.`);
            }
            chunkedDone = true;
            return undefined;
          }
        }
        const bytes = await reader.some(Math.min(chunkLeft, CHUNK));
        if (!bytes)
          throw new HttpResponseError("The server closed the connection in the middle of the response's body.");
        chunkLeft -= bytes.byteLength;
        if (chunkLeft === 0) {
          const end = await reader.exactly(2);
          if (end[0] !== 13 || end[1] !== 10)
            throw new HttpResponseError("A chunk of the response's body is malformed.");
        }
        return bytes;
      }
      case 'none':
        return undefined;
    }
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const bytes = await next();
          if (bytes) return controller.enqueue(bytes);
          controller.close();
          done(true);
        } catch (error) {
          controller.error(error);
          done(false);
        }
      },
      cancel() {
        reader.cancel();
        done(false);
      },
    },
    { highWaterMark: 0 },
  );
}
