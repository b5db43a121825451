/**
 * One TCP connection between a guest and the host (RFC 9293), terminated in the host as slirp does:
 * the guest's peer is this endpoint, whose other side is a `HostStream`. The link is a virtual wire
 * that loses frames only when the guest's receive ring is full, so the endpoint keeps what such a link
 * needs and no more:
 *
 * - the guest's receive window is a hard limit (never a byte past it), with a probe when it is zero;
 * - unacknowledged data is resent from the oldest byte on a timer (go-back-N, doubling up to 8 tries)
 *   and on three duplicate ACKs; no congestion window, since nothing on the wire is shared;
 * - segments from the guest are taken in order only (a later one is answered with a duplicate ACK,
 *   which makes Linux resend at once);
 * - our advertised window is what the host stream has not taken yet, from 64 KiB (no window scaling
 *   of ours; the guest's own scale is honoured, so its large windows are used);
 * - FIN both ways with half-close; no TIME_WAIT (nothing on a virtual wire delivers an old duplicate).
 *
 * Sequence numbers are compared modulo 2^32 (`after`, `before`).
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpHeader, type TcpSegment } from './frames.ts';
import type { AttachStream, HostStream, StreamEvents } from './sockets.ts';

/** The MSS this end announces and sends at most: a 1500-byte MTU less 40 bytes of IPv4 and TCP headers. */
export const TCP_MSS = 1460;
/** The MSS assumed when a SYN carries none (RFC 9293 §3.7.1). */
const DEFAULT_MSS = 536;
/** Our receive window: bytes from the guest the host stream has not taken, at most this many. */
export const RECEIVE_WINDOW = 0xffff;

/** `a - b` as a signed 32-bit distance between sequence numbers. */
function distance(a: number, b: number): number {
  return (a - b) | 0;
}

export interface TcpLimits {
  /** The first retransmission timeout, doubled at each try. */
  readonly retransmitMs: number;
  /** Tries before the connection is given up and reset. */
  readonly maxRetransmits: number;
  /** Host bytes held for one connection (unsent or unacknowledged) before its stream is paused. */
  readonly sendBufferBytes: number;
}

/** What a connection needs from its network. */
export interface TcpHost {
  readonly limits: TcpLimits;
  /** Sends a segment to the guest; `chunks` (concatenated) is its payload. */
  emit(connection: TcpConnection, header: TcpHeader, chunks: readonly Uint8Array[]): void;
  /** The connection is over: forget it. */
  finished(connection: TcpConnection): void;
  /** The network's count of host bytes held by every connection changed by `delta`. */
  buffered(delta: number): void;
  /** Whether the network's cap on held bytes leaves room for more. */
  roomForMore(): boolean;
  /** The initial sequence number of a new connection. */
  initialSequence(): number;
  /** A go-back: `timer` when the retransmission timer fired, else three duplicate ACKs. */
  wentBack(timer: boolean): void;
}

type State =
  /** Guest's SYN received; the host stream is connecting. */
  | 'connecting'
  /** Our SYN-ACK sent, waiting for the guest's ACK. */
  | 'syn-received'
  /** Our SYN sent to the guest (a host-forwarded connection). */
  | 'syn-sent'
  | 'established'
  | 'closed';

export interface ConnectionIds {
  readonly guestAddress: number;
  readonly guestPort: number;
  readonly remoteAddress: number;
  readonly remotePort: number;
}

export class TcpConnection implements StreamEvents {
  state: State;
  readonly ids: ConnectionIds;
  private readonly host: TcpHost;
  private stream: HostStream | undefined;

  // Sending to the guest. `queue` holds the bytes from sndUna on (the first chunk from `queueOffset`).
  private readonly iss: number;
  private sndUna: number;
  private sndNxt: number;
  /** The highest sequence number sent, which an ACK may reach after a go-back. */
  private sndMax: number;
  private queue: Uint8Array[] = [];
  private queueOffset = 0;
  private queuedBytes = 0;
  private guestWindow = 0;
  private guestWindowScale = 0;
  private guestMss = DEFAULT_MSS;
  private hostEnded = false;
  private finSent = false;
  private finAcked = false;
  private paused = false;

  // Receiving from the guest.
  private rcvNxt = 0;
  private guestFinReceived = false;
  private guestSentWindowScale = false;

  private timer: ReturnType<typeof setTimeout> | undefined;
  private retransmits = 0;
  private duplicateAcks = 0;
  /** sndMax at the last go-back: duplicate ACKs below it are echoes of segments sent before it. */
  private recover = 0;
  private ackScheduled = false;
  private lastAdvertisedWindow = RECEIVE_WINDOW;

  private constructor(host: TcpHost, ids: ConnectionIds, state: State) {
    this.host = host;
    this.ids = ids;
    this.state = state;
    this.iss = host.initialSequence() >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
  }

  /** A connection the guest opened with `syn`; the host stream is attached with `attach`. */
  static fromGuest(host: TcpHost, ids: ConnectionIds, syn: TcpSegment, attach: AttachStream): TcpConnection {
    const connection = new TcpConnection(host, ids, 'connecting');
    connection.rcvNxt = (syn.sequence + 1) >>> 0;
    connection.takeSynOptions(syn);
    connection.guestSentWindowScale = syn.windowScale !== undefined;
    connection.stream = attach(connection);
    return connection;
  }

  /** A connection the host opens to the guest (a forwarded port): sends the SYN. */
  static toGuest(host: TcpHost, ids: ConnectionIds, attach: AttachStream): TcpConnection {
    const connection = new TcpConnection(host, ids, 'syn-sent');
    connection.stream = attach(connection);
    connection.stream.pause();
    connection.paused = true;
    connection.sendSyn();
    return connection;
  }

  /** Host bytes held (unsent or unacknowledged). */
  get bufferedBytes(): number {
    return this.queuedBytes;
  }

  // ---- the host stream's events ----

  connected(): void {
    if (this.state !== 'connecting') return;
    this.state = 'syn-received';
    this.sendSyn();
  }

  data(bytes: Uint8Array): void {
    if (this.state === 'closed' || this.hostEnded || bytes.byteLength === 0) return;
    this.queue.push(bytes);
    this.queuedBytes += bytes.byteLength;
    this.host.buffered(bytes.byteLength);
    if (!this.paused && (this.queuedBytes >= this.host.limits.sendBufferBytes || !this.host.roomForMore())) {
      this.paused = true;
      this.stream?.pause();
    }
    if (this.state === 'established') this.pump();
  }

  end(): void {
    if (this.state === 'closed') return;
    this.hostEnded = true;
    if (this.state === 'established') this.pump();
  }

  drained(): void {
    // Reopen a window the guest saw shrink, so it does not wait for its own probe.
    if (this.state === 'established' && this.receiveWindow() >= this.lastAdvertisedWindow + TCP_MSS) this.sendAck();
  }

  closed(reason: 'refused' | 'reset' | 'closed'): void {
    if (this.state === 'closed') return;
    this.stream = undefined;
    if (reason === 'closed' && this.state !== 'connecting') {
      this.end();
      return;
    }
    // Refused: RST to the guest's SYN, as slirp does; broken: RST (a SYN of ours needs none).
    if (this.state !== 'syn-sent') this.sendReset();
    this.finish();
  }

  /** Resumes a stream paused for the network's cap once the cap leaves room (the network calls it). */
  resumeIfRoom(): void {
    if (
      this.paused &&
      this.state !== 'syn-sent' &&
      this.queuedBytes < this.host.limits.sendBufferBytes &&
      this.host.roomForMore()
    ) {
      this.paused = false;
      this.stream?.resume();
    }
  }

  /** Ends the connection with a RST to the guest (the network's reset, a restore). */
  abort(): void {
    if (this.state === 'closed') return;
    this.sendReset();
    this.stream?.destroy();
    this.stream = undefined;
    this.finish();
  }

  // ---- segments from the guest ----

  segment(segment: TcpSegment): void {
    if (this.state === 'closed') return;
    if (segment.flags & TCP_RST) {
      // RFC 5961 §3.2 in short: only a RST at the expected sequence number closes the connection.
      if (this.state === 'syn-sent' ? this.ackIsOurs(segment, this.iss + 1) : segment.sequence === this.rcvNxt) {
        this.stream?.destroy();
        this.stream = undefined;
        this.finish();
      }
      return;
    }
    switch (this.state) {
      case 'connecting':
        return; // a repeated SYN while the host connects: the SYN-ACK follows when it does
      case 'syn-sent':
        this.synSentSegment(segment);
        return;
      case 'syn-received':
        if (segment.flags & TCP_SYN) {
          this.sendSyn(); // our SYN-ACK was lost
          return;
        }
        if (!(segment.flags & TCP_ACK) || segment.acknowledgment !== (this.iss + 1) >>> 0) return;
        this.state = 'established';
        this.sndUna = this.sndNxt = this.sndMax = (this.iss + 1) >>> 0;
        this.clearTimer();
        this.retransmits = 0;
        break;
    }
    if (segment.flags & TCP_SYN) {
      this.scheduleAck(); // a retransmitted SYN of an open connection: our ACK answers it
      return;
    }
    if (segment.flags & TCP_ACK && !this.acknowledged(segment)) return; // that ACK ended the connection
    this.received(segment);
    this.pump();
  }

  private synSentSegment(segment: TcpSegment): void {
    const expected = (this.iss + 1) >>> 0;
    if (!(segment.flags & TCP_SYN) || !(segment.flags & TCP_ACK) || segment.acknowledgment !== expected) {
      if (segment.flags & TCP_ACK && segment.acknowledgment !== expected) {
        this.host.emit(
          this,
          { ...this.ports(), sequence: segment.acknowledgment, acknowledgment: 0, flags: TCP_RST, window: 0 },
          [],
        );
      }
      return;
    }
    this.rcvNxt = (segment.sequence + 1) >>> 0;
    this.takeSynOptions(segment);
    this.guestSentWindowScale = segment.windowScale !== undefined;
    if (!this.guestSentWindowScale) this.guestWindowScale = 0;
    this.sndUna = expected;
    this.sndNxt = expected;
    this.sndMax = expected;
    this.guestWindow = segment.window; // RFC 7323 §2.2: the window of a SYN is never scaled
    this.state = 'established';
    this.clearTimer();
    this.retransmits = 0;
    this.sendAck();
    this.paused = false;
    this.stream?.resume();
    this.pump(); // what the host sent (or its FIN) while the guest had not answered yet
  }

  private takeSynOptions(syn: TcpSegment): void {
    this.guestMss = Math.max(64, Math.min(syn.mss ?? DEFAULT_MSS, TCP_MSS));
    this.guestWindowScale = syn.windowScale ?? 0;
    this.guestWindow = syn.window;
  }

  private ackIsOurs(segment: TcpSegment, expected: number): boolean {
    return (segment.flags & TCP_ACK) !== 0 && segment.acknowledgment === expected >>> 0;
  }

  /** The guest acknowledged up to `segment.acknowledgment` and announced its window; false if that closed it. */
  private acknowledged(segment: TcpSegment): boolean {
    const ack = segment.acknowledgment;
    const advanced = distance(ack, this.sndUna);
    if (advanced < 0 || distance(ack, this.sndMax) > 0) return true; // old, or for bytes never sent
    const window = segment.window << this.guestWindowScale;
    if (advanced > 0) {
      // An ACK past every byte of data can only be for our FIN, the sequence number after them.
      const finAcked = this.hostEnded && advanced > this.queuedBytes;
      this.consume(Math.min(advanced, this.queuedBytes));
      this.sndUna = ack;
      if (distance(this.sndNxt, ack) < 0) this.sndNxt = ack;
      this.retransmits = 0;
      this.duplicateAcks = 0;
      this.clearTimer();
      if (finAcked) {
        this.finAcked = true;
        if (this.guestFinReceived) {
          this.closeBothWays();
          return false;
        }
      }
      this.resumeIfRoom();
    } else if (
      segment.payload.byteLength === 0 &&
      !(segment.flags & TCP_FIN) &&
      window === this.guestWindow &&
      this.sndMax !== this.sndUna
    ) {
      // Three duplicate ACKs: the guest lost the segment at sndUna (its RX ring was full). Once per
      // window, as NewReno's `recover` (RFC 6582 §3.2): the go-back already resent all that followed.
      if (++this.duplicateAcks === 3 && distance(this.sndUna, this.recover) >= 0) {
        this.host.wentBack(false);
        this.goBack();
      }
    }
    this.guestWindow = window;
    return true;
  }

  /** Drops `bytes` acknowledged bytes from the front of the queue. */
  private consume(bytes: number): void {
    this.queuedBytes -= bytes;
    this.host.buffered(-bytes);
    let left = bytes + this.queueOffset;
    while (this.queue.length > 0 && left >= this.queue[0]!.byteLength) {
      left -= this.queue[0]!.byteLength;
      this.queue.shift();
    }
    this.queueOffset = left;
  }

  /** Takes the guest's in-order data and FIN. */
  private received(segment: TcpSegment): void {
    let payload = segment.payload;
    const fin = (segment.flags & TCP_FIN) !== 0;
    if (payload.byteLength === 0 && !fin) return;
    const early = distance(this.rcvNxt, segment.sequence);
    if (early < 0) {
      this.sendAck(); // out of order: a duplicate ACK asks for what is missing
      return;
    }
    if (early > 0) {
      if (early >= payload.byteLength + (fin ? 1 : 0)) {
        this.sendAck(); // all of it seen already: our ACK was lost
        return;
      }
      payload = payload.subarray(early);
    }
    let finTaken = fin;
    if (payload.byteLength > 0) {
      if (!this.stream || this.guestFinReceived) {
        // Data the host can no longer take (its stream is gone): the connection cannot go on.
        this.abort();
        return;
      }
      const room = Math.max(0, RECEIVE_WINDOW - this.stream.pendingBytes);
      if (payload.byteLength > room) {
        payload = payload.subarray(0, room);
        finTaken = false;
      }
      if (payload.byteLength > 0) this.stream.write(payload);
      this.rcvNxt = (this.rcvNxt + payload.byteLength) >>> 0;
    }
    if (finTaken && !this.guestFinReceived) {
      this.guestFinReceived = true;
      this.rcvNxt = (this.rcvNxt + 1) >>> 0;
      this.stream?.end();
      if (this.finAcked) {
        this.sendAck();
        this.closeBothWays();
        return;
      }
    }
    this.scheduleAck();
  }

  // ---- sending to the guest ----

  /** Sends what the guest's window allows, then our FIN once the host ended and all is sent. */
  private pump(): void {
    if (this.state !== 'established') return;
    for (;;) {
      const inFlight = distance(this.sndNxt, this.sndUna);
      const unsent = this.queuedBytes - inFlight;
      const room = this.guestWindow - inFlight;
      if (unsent <= 0 || room <= 0 || this.finSent) break;
      this.sendData(inFlight, Math.min(unsent, room, this.guestMss));
    }
    const inFlight = distance(this.sndNxt, this.sndUna);
    if (this.hostEnded && !this.finSent && !this.finAcked && inFlight === this.queuedBytes) {
      this.finSent = true;
      this.sendSegment(TCP_FIN | TCP_ACK, this.sndNxt, []);
      this.sndNxt = (this.sndNxt + 1) >>> 0;
      this.noteSent();
    }
    if (this.sndMax !== this.sndUna || this.queuedBytes > 0) this.armTimer();
  }

  /** Sends `length` bytes starting `offset` bytes after sndUna. */
  private sendData(offset: number, length: number): void {
    const chunks: Uint8Array[] = [];
    let skip = offset + this.queueOffset;
    let left = length;
    for (const chunk of this.queue) {
      if (skip >= chunk.byteLength) {
        skip -= chunk.byteLength;
        continue;
      }
      const piece = chunk.subarray(skip, Math.min(chunk.byteLength, skip + left));
      chunks.push(piece);
      left -= piece.byteLength;
      skip = 0;
      if (left === 0) break;
    }
    const last = offset + length === this.queuedBytes;
    this.sendSegment(TCP_ACK | (last ? TCP_PSH : 0), this.sndNxt, chunks);
    this.sndNxt = (this.sndNxt + length) >>> 0;
    this.noteSent();
  }

  private noteSent(): void {
    if (distance(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
  }

  private sendSyn(): void {
    const synAck = this.state === 'syn-received';
    this.host.emit(
      this,
      {
        ...this.ports(),
        sequence: this.iss,
        acknowledgment: synAck ? this.rcvNxt : 0,
        flags: synAck ? TCP_SYN | TCP_ACK : TCP_SYN,
        window: this.receiveWindow(),
        mss: TCP_MSS,
        // Shift 0: the guest may scale its window (RFC 7323 §2.2 needs the option both ways), ours is not.
        windowScale: !synAck || this.guestSentWindowScale ? 0 : undefined,
      },
      [],
    );
    this.sndNxt = (this.iss + 1) >>> 0;
    this.sndMax = this.sndNxt;
    this.armTimer();
  }

  private sendSegment(flags: number, sequence: number, chunks: readonly Uint8Array[]): void {
    this.ackScheduled = false;
    const window = this.receiveWindow();
    this.lastAdvertisedWindow = window;
    this.host.emit(this, { ...this.ports(), sequence, acknowledgment: this.rcvNxt, flags, window }, chunks);
  }

  private sendAck(): void {
    this.sendSegment(TCP_ACK, this.sndNxt, []);
  }

  /** A RST; to a SYN not yet answered it carries sequence 0 and ACKs the SYN (RFC 9293 §3.5.2). */
  private sendReset(): void {
    const sequence = this.state === 'connecting' ? 0 : this.sndNxt;
    this.host.emit(
      this,
      { ...this.ports(), sequence, acknowledgment: this.rcvNxt, flags: TCP_RST | TCP_ACK, window: 0 },
      [],
    );
  }

  /** One ACK for a batch of segments the device hands over in one go (a microtask later). */
  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    queueMicrotask(() => {
      if (this.ackScheduled && this.state !== 'closed') this.sendAck();
    });
  }

  private receiveWindow(): number {
    return Math.max(0, RECEIVE_WINDOW - (this.stream?.pendingBytes ?? 0));
  }

  private ports(): { sourcePort: number; destinationPort: number } {
    return { sourcePort: this.ids.remotePort, destinationPort: this.ids.guestPort };
  }

  // ---- the retransmission timer ----

  private armTimer(): void {
    if (this.timer !== undefined) return;
    const delay = this.host.limits.retransmitMs * 2 ** Math.min(this.retransmits, 6);
    this.timer = setTimeout(() => this.expired(), delay);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expired(): void {
    this.timer = undefined;
    if (this.state === 'closed') return;
    if (this.state === 'established' && this.guestWindow === 0 && this.queuedBytes > 0) {
      // The guest's window stays shut while its reader is busy, for as long as it likes: probe it with
      // one byte it may drop (RFC 9293 §3.8.6.1), backing off, and never give up for that.
      this.retransmits = Math.min(this.retransmits + 1, 6);
      this.sndNxt = this.sndUna;
      this.sendData(0, 1);
      this.armTimer();
      return;
    }
    if (++this.retransmits > this.host.limits.maxRetransmits) {
      this.abort();
      return;
    }
    if (this.state === 'syn-sent' || this.state === 'syn-received') {
      this.sendSyn();
      return;
    }
    this.host.wentBack(true);
    this.goBack();
  }

  /** Resends from the oldest unacknowledged byte. */
  private goBack(): void {
    this.clearTimer();
    this.duplicateAcks = 0;
    this.recover = this.sndMax;
    this.sndNxt = this.sndUna;
    this.finSent = this.finAcked;
    this.pump();
    this.armTimer();
  }

  /**
   * Both FINs are acknowledged: the connection is over, with no TIME_WAIT. The stream, shut both ways,
   * closes by itself once the host took what was written (destroying it would drop those bytes).
   */
  private closeBothWays(): void {
    this.stream = undefined;
    this.finish();
  }

  private finish(): void {
    this.state = 'closed';
    this.clearTimer();
    this.ackScheduled = false;
    if (this.queuedBytes > 0) this.host.buffered(-this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    this.host.finished(this);
  }
}
