/**
 * A `SocketProvider` in memory for tests: TCP listeners by port whose accepted peers the test drives
 * (write, end, reset, take bytes slowly to hold the window shut), and UDP handlers by port.
 */
import type { HostStream, HostUdpSocket, SocketProvider, StreamEvents, UdpEvents } from '../sockets.ts';

/** The host's end of one connection, as the test sees it. */
export class MemoryPeer implements HostStream {
  readonly address: number;
  readonly port: number;
  /** Bytes the host took from the guest. */
  readonly received: Uint8Array[] = [];
  receivedBytes = 0;
  /** The guest closed its sending half. */
  endedByGuest = false;
  destroyed = false;
  paused = false;
  /** When false, written bytes wait in `pendingBytes` until `take`. */
  autoTake = true;
  pendingBytes = 0;
  private readonly pending: Uint8Array[] = [];
  private readonly outbox: Uint8Array[] = [];
  private outboxEnd = false;
  readonly events: StreamEvents;

  private readonly later: (work: () => void) => void;

  constructor(
    events: StreamEvents,
    address: number,
    port: number,
    later: (work: () => void) => void = (work) => void setTimeout(work, 0),
  ) {
    this.later = later;
    this.events = events;
    this.address = address;
    this.port = port;
  }

  // ---- HostStream (the network's side) ----

  write(bytes: Uint8Array): void {
    const copy = bytes.slice();
    if (this.autoTake) {
      this.received.push(copy);
      this.receivedBytes += copy.byteLength;
    } else {
      this.pending.push(copy);
      this.pendingBytes += copy.byteLength;
    }
  }

  end(): void {
    this.endedByGuest = true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.later(() => this.flush());
  }

  // ---- the test's side ----

  /** Sends bytes to the guest (held while the network has the stream paused). */
  send(bytes: Uint8Array): void {
    this.outbox.push(bytes);
    this.flush();
  }

  /** Closes the host's sending half once everything sent before has gone. */
  finish(): void {
    this.outboxEnd = true;
    this.flush();
  }

  /** Breaks the connection. */
  reset(): void {
    this.destroyed = true;
    this.events.closed('reset');
  }

  /** Takes everything written so far (a slow reader catching up) and tells the network. */
  take(): void {
    for (const chunk of this.pending.splice(0)) {
      this.received.push(chunk);
      this.receivedBytes += chunk.byteLength;
    }
    this.pendingBytes = 0;
    this.events.drained();
  }

  bytes(): Uint8Array {
    const all = new Uint8Array(this.receivedBytes);
    let at = 0;
    for (const chunk of this.received) {
      all.set(chunk, at);
      at += chunk.byteLength;
    }
    return all;
  }

  private flush(): void {
    while (!this.paused && !this.destroyed && this.outbox.length > 0) {
      // 64 KiB at a time, as a socket's reads come.
      const next = this.outbox[0]!;
      const piece = next.subarray(0, 65536);
      if (piece.byteLength === next.byteLength) this.outbox.shift();
      else this.outbox[0] = next.subarray(65536);
      this.events.data(piece);
    }
    if (!this.paused && this.outbox.length === 0 && this.outboxEnd) {
      this.outboxEnd = false;
      this.events.end();
    }
  }
}

export class MemorySockets implements SocketProvider {
  /** Answers a macrotask later, as real sockets do, or at once (`synchronous`: the fuzzer's choice). */
  private readonly later: (work: () => void) => void;
  /** Listeners by TCP port; a port without one refuses. */
  readonly listeners = new Map<number, (peer: MemoryPeer) => void>();
  /** Handlers by UDP port: each gets the datagram and answers with what it returns, if anything. */
  readonly udpHandlers = new Map<number, (data: Uint8Array) => Uint8Array | undefined>();
  readonly peers: MemoryPeer[] = [];
  udpSocketsOpen = 0;

  constructor(options: { synchronous?: boolean } = {}) {
    this.later = options.synchronous ? (work) => work() : (work) => void setTimeout(work, 0);
  }

  connect(address: number, port: number, events: StreamEvents): HostStream {
    const peer = new MemoryPeer(events, address, port, this.later);
    this.later(() => {
      const listener = this.listeners.get(port);
      if (!listener) return events.closed('refused');
      this.peers.push(peer);
      events.connected();
      listener(peer);
    });
    return peer;
  }

  openUdp(events: UdpEvents): HostUdpSocket {
    this.udpSocketsOpen++;
    let open = true;
    return {
      send: (data, address, port) => {
        const handler = this.udpHandlers.get(port);
        const copy = data.slice();
        if (handler) {
          this.later(() => {
            const answer = handler(copy);
            if (answer && open) events.message(answer, address, port);
          });
        }
      },
      close: () => {
        if (open) this.udpSocketsOpen--;
        open = false;
      },
    };
  }
}
