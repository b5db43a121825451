/**
 * The console as a host port: the UART's transmitter and the virtio console's transmitq write into the
 * console channel (a byte stream, workers/protocol/channels.ts). Bytes from the host go to the virtio
 * console once the guest's driver has opened its port, else to the UART's receive FIFO, each as it has
 * room, so a full FIFO or a guest that posted no receive buffers leaves them in the channel instead of
 * dropping them (docs/console.md).
 */
import type { CharSink } from '../host/char-port.ts';
import type { ByteStream } from '../protocol/channels.ts';
import type { Port } from '../machine/run-loop.ts';
import type { VirtioConsole } from '../devices/virtio/console.ts';

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

/** What the console port needs of the virtio console (workers/devices/virtio/console.ts). */
export type ConsoleDevice = Pick<VirtioConsole, 'open' | 'starved' | 'receive'>;

export class ConsolePort implements Port {
  readonly #uart: ConsoleReceiver;
  readonly #virtio: ConsoleDevice | undefined;
  readonly #stream: ByteStream;
  readonly #sink: StreamSink;

  /**
   * `sink` is the one the machine's UART and virtio console were built with (it outlives machines
   * across resets); `virtio` is absent on a machine without a virtio console.
   */
  constructor(uart: ConsoleReceiver, stream: ByteStream, sink: StreamSink, virtio?: ConsoleDevice) {
    this.#uart = uart;
    this.#virtio = virtio;
    this.#stream = stream;
    this.#sink = sink;
  }

  service(): void {
    this.#sink.flush();
    const rx = this.#stream.end.rx;
    if (this.#virtio?.open) {
      this.#virtio.receive(rx);
      return;
    }
    while (this.#uart.rxSpace() > 0) {
      const byte = rx.readByte();
      if (byte < 0) break;
      this.#uart.receive(byte);
    }
  }

  busy(): boolean {
    // Input the open virtio port cannot take until the guest posts receive buffers does not keep the
    // loop awake: posting them is a notification, made while the guest runs.
    return this.#stream.end.rx.available() > 0 && !(this.#virtio?.open === true && this.#virtio.starved);
  }

  flush(): void {
    this.#sink.flush();
    this.#stream.end.flush();
  }
}
