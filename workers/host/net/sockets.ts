/**
 * What the user-mode network joins guest connections to: host-side streams and datagram sockets given
 * by a `SocketProvider` (real sockets in Node, fetch or a relay in a browser, memory in tests).
 * Addresses are IPv4 numbers as the guest wrote them (10.0.2.2 is the gateway): the provider decides
 * what each means on its side.
 */

/** The events of the host's side of one TCP connection, which the network handles. */
export interface StreamEvents {
  /** The connection is open (for `connect`; a stream handed to `openToGuest` is open already). */
  connected(): void;
  /** Bytes from the host, which the network keeps (the provider must not reuse them). */
  data(bytes: Uint8Array): void;
  /** The host closed its sending half (a FIN). */
  end(): void;
  /** The host took bytes that were waiting in `pendingBytes`. */
  drained(): void;
  /**
   * The stream is gone: `refused` when connecting failed, `reset` when it broke, `closed` when both
   * halves were shut in order. No event follows.
   */
  closed(reason: 'refused' | 'reset' | 'closed'): void;
}

/** One host-side TCP stream. */
export interface HostStream {
  /** Sends bytes to the host; the stream copies what it keeps (the network reuses frame buffers). */
  write(bytes: Uint8Array): void;
  /** Bytes written that the host has not taken yet: the network's advertised window shrinks by them. */
  readonly pendingBytes: number;
  /** Closes the sending half (the guest's FIN). */
  end(): void;
  /** Drops the connection (the guest's RST, or the network's). */
  destroy(): void;
  /** Stops `data` events until `resume` (the guest's window and the network's buffer are full). */
  pause(): void;
  resume(): void;
}

/** Joins a host stream to the network's events: a provider's connect, or an accepted host socket. */
export type AttachStream = (events: StreamEvents) => HostStream;

export interface UdpEvents {
  /** A datagram from `address`:`port` (in the guest's terms: the host's loopback is 10.0.2.2). */
  message(data: Uint8Array, address: number, port: number): void;
}

export interface HostUdpSocket {
  send(data: Uint8Array, address: number, port: number): void;
  close(): void;
}

export interface SocketProvider {
  /** A stream to `address`:`port`; its `connected` or `closed('refused')` follows. */
  connect(address: number, port: number, events: StreamEvents): HostStream;
  /** A datagram socket for one guest port's flows. */
  openUdp(events: UdpEvents): HostUdpSocket;
}
