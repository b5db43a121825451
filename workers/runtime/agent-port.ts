/**
 * The guest agent's port (workers/devices/virtio/agent-console.ts) as a host port: what the guest's agent
 * writes goes into the `agent` byte channel, and the host's lines go to the port while a guest program
 * has it open; until then they wait in the channel (docs/guest-agent.md).
 */
import type { ByteStream } from '../protocol/channels.ts';
import type { Port } from '../machine/run-loop.ts';
import type { AgentConsole } from '../devices/virtio/agent-console.ts';
import { StreamSink } from './console-port.ts';

/** What the port needs of the device. */
export type AgentDevice = Pick<AgentConsole, 'open' | 'starved' | 'receive'>;

export class AgentPort implements Port {
  readonly #stream: ByteStream;
  /** The sink every machine's agent device writes to: it outlives machines, as the console's does. */
  readonly sink: StreamSink;
  /** The current machine's device (a reset builds a new one on the same channel). */
  #device: AgentDevice | undefined;

  constructor(stream: ByteStream) {
    this.#stream = stream;
    this.sink = new StreamSink(stream);
  }

  attach(device: AgentDevice | undefined): void {
    this.#device = device;
  }

  service(): void {
    this.sink.flush();
    if (this.#device?.open) this.#device.receive(this.#stream.end.rx);
  }

  busy(): boolean {
    // Lines for a port no program has open, or with no receive buffer posted, do not keep the loop
    // awake: the guest opening it or posting buffers is a notification, made while it runs.
    const device = this.#device;
    return device !== undefined && device.open && !device.starved && this.#stream.end.rx.available() > 0;
  }

  flush(): void {
    this.sink.flush();
    this.#stream.end.flush();
  }
}
