/**
 * The serial console as a host port: the UART's transmitter writes into the console channel (a byte
 * stream, workers/protocol/channels.ts), and bytes from the host go to the UART's receive FIFO as it
 * has room, so a full FIFO leaves them in the channel instead of dropping them.
 */
import type { CharSink } from '../host/char-port.ts';
import type { ByteStream } from '../protocol/channels.ts';
import type { Port } from '../machine/run-loop.ts';

/** The guest→host side: bytes go into the channel; what does not fit now waits here, in order. */
export class StreamSink implements CharSink {
  readonly #stream: ByteStream;
  readonly #backlog: number[] = [];

  constructor(stream: ByteStream) {
    this.#stream = stream;
  }

  write(byte: number): void {
    if (this.#backlog.length > 0 || !this.#stream.writeByte(byte)) this.#backlog.push(byte);
  }

  /** Moves the backlog into the channel as room appears. */
  flush(): void {
    if (this.#backlog.length === 0) return;
    const n = this.#stream.write(Uint8Array.from(this.#backlog));
    this.#backlog.splice(0, n);
  }

  get pending(): number {
    return this.#backlog.length;
  }
}

/** What the console port needs of a UART (workers/devices/uart16550.ts). */
export interface ConsoleReceiver {
  rxSpace(): number;
  receive(byte: number): boolean;
}

export class ConsolePort implements Port {
  readonly #uart: ConsoleReceiver;
  readonly #stream: ByteStream;
  readonly #sink: StreamSink;

  /** `sink` is the one the machine's UART was built with (it outlives machines across resets). */
  constructor(uart: ConsoleReceiver, stream: ByteStream, sink: StreamSink) {
    this.#uart = uart;
    this.#stream = stream;
    this.#sink = sink;
  }

  service(): void {
    this.#sink.flush();
    const rx = this.#stream.end.rx;
    while (this.#uart.rxSpace() > 0) {
      const byte = rx.readByte();
      if (byte < 0) break;
      this.#uart.receive(byte);
    }
  }

  busy(): boolean {
    return this.#stream.end.rx.available() > 0;
  }

  flush(): void {
    this.#sink.flush();
    this.#stream.end.flush();
  }
}
