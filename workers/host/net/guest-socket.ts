/**
 * A TCP connection the host opens into a guest (docs/networking.md, "Guest servers"), as Web streams:
 * the `HostStream` the user-mode network's `openToGuest` joins to its TCP endpoint, seen from the page as
 * a `readable` of the guest's bytes and a `writable` for bytes to it, in the shape of the Direct Sockets
 * API's `TCPSocket.opened`.
 *
 * Back-pressure both ways: the guest's bytes wait in a queue the reader empties (the TCP window the
 * network advertises shrinks by what waits, so at most 64 KiB do), and a write resolves only while the
 * network takes more (it pauses the stream until the guest is connected, and while its send buffer
 * is full). A RST from the guest, the network's reset or a connection that does not open in time error
 * both streams with one sentence (`GuestConnectionError`).
 */
import type { HostStream, StreamEvents } from './sockets.ts';

/** How long the guest may take to answer the SYN (a refused port answers at once with a RST). */
export const CONNECT_TIMEOUT_MS = 10_000;

export class GuestConnectionError extends Error {
  constructor(
    message: string,
    /** `refused`: nothing listens (or the guest is gone); `reset`: the open connection broke; `timeout`. */
    readonly reason: 'refused' | 'reset' | 'timeout',
  ) {
    super(message);
    this.name = 'GuestConnectionError';
  }
}

export interface GuestSocket {
  /** The guest's address and port, as `10.0.2.15:8000`. */
  readonly remote: string;
  /** Resolves when the guest accepted the connection; rejects with a `GuestConnectionError`. */
  readonly opened: Promise<void>;
  /** The guest's bytes; done at its FIN. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to the guest; `close()` sends the FIN, `abort()` a RST. */
  readonly writable: WritableStream<Uint8Array>;
  /** Drops the connection with a RST (the guest's side sees it reset). */
  abort(): void;
}

/** The `HostStream` half of a `GuestSocket`: what the network calls. */
export class GuestStream implements HostStream {
  readonly socket: GuestSocket;
  readonly #events: StreamEvents;
  readonly #received: Uint8Array[] = [];
  #pendingBytes = 0;
  #guestEnded = false;
  #failure: GuestConnectionError | undefined;
  #paused = false;
  #open = false;
  #closedByUs = false;
  #readable!: ReadableStreamDefaultController<Uint8Array>;
  #pull: (() => void) | undefined;
  #resume: (() => void) | undefined;
  #settleOpened!: (error?: GuestConnectionError) => void;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(events: StreamEvents, remote: string, connectTimeoutMs = CONNECT_TIMEOUT_MS) {
    this.#events = events;
    const opened = new Promise<void>((resolve, reject) => {
      this.#settleOpened = (error) => (error ? reject(error) : resolve());
    });
    opened.catch(() => {}); // a caller that never awaits `opened` sees the error on the streams
    const readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#readable = controller;
        },
        pull: () => this.#deliver(),
        cancel: () => this.abort(),
      },
      { highWaterMark: 0 },
    );
    const writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        while (this.#paused && !this.#failure) await new Promise<void>((resolve) => (this.#resume = resolve));
        if (this.#failure) throw this.#failure;
        if (chunk.byteLength > 0) this.#events.data(chunk.slice());
      },
      close: async () => {
        await opened;
        if (this.#failure) throw this.#failure;
        this.#events.end();
      },
      abort: () => this.abort(),
    });
    this.socket = { remote, opened, readable, writable, abort: () => this.abort() };
    this.#timer = setTimeout(() => {
      if (this.#open || this.#failure) return;
      this.#fail(new GuestConnectionError(`${remote} did not answer within ${connectTimeoutMs / 1000} s.`, 'timeout'));
      this.#events.closed('reset');
    }, connectTimeoutMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Drops the connection: the network resets it (a RST to the guest). */
  abort(): void {
    if (this.#failure || this.#closedByUs) return;
    this.#closedByUs = true;
    this.#fail(new GuestConnectionError(`The connection to ${this.socket.remote} was closed.`, 'reset'));
    this.#events.closed('reset');
  }

  // ---- HostStream: the network's calls ----

  write(bytes: Uint8Array): void {
    if (this.#failure) return;
    this.#received.push(bytes.slice());
    this.#pendingBytes += bytes.byteLength;
    this.#wakeReader();
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  end(): void {
    this.#guestEnded = true;
    this.#wakeReader();
  }

  destroy(): void {
    if (this.#failure) return;
    const remote = this.socket.remote;
    this.#fail(
      this.#open
        ? new GuestConnectionError(`${remote} reset the connection.`, 'reset')
        : new GuestConnectionError(`Nothing in the VM accepts connections on ${remote}.`, 'refused'),
    );
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    if (!this.#open) {
      // The network resumes the stream it paused at the SYN once the guest's SYN-ACK came.
      this.#open = true;
      clearTimeout(this.#timer);
      this.#settleOpened();
    }
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }

  // ---- the readable side ----

  #deliver(): Promise<void> | void {
    if (this.#failure) return;
    if (this.#received.length > 0) {
      // Everything waiting in one chunk (at most the 64 KiB window): one read per window, not per segment.
      const chunk = new Uint8Array(this.#pendingBytes);
      let at = 0;
      for (const part of this.#received.splice(0)) {
        chunk.set(part, at);
        at += part.byteLength;
      }
      this.#pendingBytes = 0;
      this.#readable.enqueue(chunk);
      this.#events.drained();
      return;
    }
    if (this.#guestEnded) {
      this.#readable.close();
      return;
    }
    return new Promise<void>((resolve) => (this.#pull = resolve)).then(() => this.#deliver());
  }

  #wakeReader(): void {
    const pull = this.#pull;
    this.#pull = undefined;
    pull?.();
  }

  #fail(error: GuestConnectionError): void {
    this.#failure = error;
    clearTimeout(this.#timer);
    this.#settleOpened(error);
    this.#received.length = 0;
    this.#pendingBytes = 0;
    this.#readable.error(error); // nothing when the reader already had the FIN
    this.#wakeReader();
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }
}
