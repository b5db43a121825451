/**
 * The guest agent's channel: a second virtio-console (Virtual I/O Device spec 1.2, §5.3, device ID 3)
 * with VIRTIO_CONSOLE_F_MULTIPORT and one named port, `org.tabvm.agent`. Linux
 * (drivers/char/virtio_console.c) makes it /dev/vportNp0, its name in /sys/class/virtio-ports/vportNp0/name;
 * the agent program in the guest opens it (docs/guest-agent.md). It is not a console port, so it makes no
 * hvc, and the login console (console.ts, slot 0) keeps hvc0.
 *
 * §5.3.2 with MULTIPORT: "0 receiveq(port0), 1 transmitq(port0), 2 control receiveq, 3 control transmitq".
 * §5.3.6.2, the control messages, each `struct virtio_console_control { le32 id; le16 event; le16 value; }`:
 * the driver sends DEVICE_READY; "the device SHOULD send a VIRTIO_CONSOLE_DEVICE_ADD message for each
 * port"; the driver answers VIRTIO_CONSOLE_PORT_READY; the device then names it (VIRTIO_CONSOLE_PORT_NAME,
 * the name following the header) and opens its end (VIRTIO_CONSOLE_PORT_OPEN, value 1). The driver sends
 * PORT_OPEN when a program opens or closes the port. The host's end is always open: lines for the guest
 * wait in the host's channel, bounded by it.
 *
 * Linux drops what arrives for a port no program has open (in_intr: discard_port_data), so input is
 * delivered only while the guest's end is open; until then it waits in the host's channel.
 */
import type { CharSink } from '../../host/char-port.ts';
import type { Virtqueue } from './queue.ts';
import { VirtqueueError } from './queue.ts';
import type { VirtioDevice, VirtioDeviceContext } from './mmio.ts';
import { drainTransmitq, fillReceiveq, VIRTIO_ID_CONSOLE, type ConsoleInput } from './console.ts';

/** §5.3.3: "Device has support for multiple ports; max_nr_ports is valid and control virtqueues will be used." */
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;
export const AGENT_PORT_RECEIVEQ = 0;
export const AGENT_PORT_TRANSMITQ = 1;
export const AGENT_CONTROL_RECEIVEQ = 2;
export const AGENT_CONTROL_TRANSMITQ = 3;
const QUEUE_SIZE = 64;
/** struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
const CONFIG_BYTES = 12;
/** struct virtio_console_control. */
export const CONTROL_HEADER_BYTES = 8;

// §5.3.6.2 control events.
export const VIRTIO_CONSOLE_DEVICE_READY = 0;
export const VIRTIO_CONSOLE_DEVICE_ADD = 1;
export const VIRTIO_CONSOLE_DEVICE_REMOVE = 2;
export const VIRTIO_CONSOLE_PORT_READY = 3;
export const VIRTIO_CONSOLE_CONSOLE_PORT = 4;
export const VIRTIO_CONSOLE_RESIZE = 5;
export const VIRTIO_CONSOLE_PORT_OPEN = 6;
export const VIRTIO_CONSOLE_PORT_NAME = 7;

/** The one port's name: what the guest's agent looks for in /sys/class/virtio-ports/\*\/name. */
export const AGENT_PORT_NAME = 'org.tabvm.agent';
/** The port's id (§5.3.6.2 `id`): the only one, port 0. */
const AGENT_PORT_ID = 0;
/** Control messages waiting for control receive buffers, at most (the handshake needs three). */
const MAX_PENDING_CONTROL = 16;

/** A control message for the driver: event, value, and for PORT_NAME the name. */
export interface AgentControlMessage {
  readonly event: number;
  readonly value: number;
}

export interface AgentConsoleState {
  readonly v: 1;
  /** The driver sent DEVICE_READY (it has its control queues up). */
  readonly deviceReady: boolean;
  /** The driver answered PORT_READY for the port. */
  readonly portReady: boolean;
  /** A program in the guest has the port open (the driver's PORT_OPEN). */
  readonly guestOpen: boolean;
  /** Control messages not yet delivered (no control receive buffer was posted). */
  readonly pendingControl: readonly AgentControlMessage[];
}

export class AgentConsole implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  readonly features = 1n << BigInt(VIRTIO_CONSOLE_F_MULTIPORT);
  readonly queueSizes = [QUEUE_SIZE, QUEUE_SIZE, QUEUE_SIZE, QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_BYTES);
  readonly #sink: CharSink;
  #context: VirtioDeviceContext | undefined;
  #deviceReady = false;
  #portReady = false;
  #guestOpen = false;
  #pendingControl: AgentControlMessage[] = [];
  /** The port's receiveq had no buffer at the last delivery, and the guest has not notified it since. */
  #starved = false;

  constructor(sink: CharSink) {
    this.#sink = sink;
    // §5.3.4: max_nr_ports, valid with MULTIPORT: one port. cols and rows stay 0 (no F_SIZE).
    new DataView(this.config.buffer).setUint32(4, 1, true);
  }

  attach(context: VirtioDeviceContext): void {
    this.#context = context;
  }

  /** Whether a program in the guest has the port open, so input reaches it. */
  get open(): boolean {
    const context = this.#context;
    return this.#guestOpen && context !== undefined && context.live() && context.queues[AGENT_PORT_RECEIVEQ]!.ready;
  }

  get starved(): boolean {
    return this.#starved;
  }

  /** Moves input into the buffers the guest posted on the port's receiveq; returns the bytes moved. */
  receive(input: ConsoleInput): number {
    if (!this.open) return 0;
    const { moved, starved } = fillReceiveq(
      this.#context!.queues[AGENT_PORT_RECEIVEQ]!,
      input,
      this.#context!,
      'agent receiveq',
    );
    if (starved) this.#starved = true;
    return moved;
  }

  queueNotified(queue: Virtqueue): void {
    switch (queue.index) {
      case AGENT_PORT_RECEIVEQ:
        this.#starved = false;
        return;
      case AGENT_PORT_TRANSMITQ:
        drainTransmitq(queue, this.#sink);
        return;
      case AGENT_CONTROL_RECEIVEQ:
        this.#deliverControl();
        return;
      case AGENT_CONTROL_TRANSMITQ:
        for (let chain = queue.pop(); chain !== null; chain = queue.pop()) {
          if (chain.readableLength < CONTROL_HEADER_BYTES) {
            this.#context!.log.once(
              'control short',
              `a control message of ${chain.readableLength} bytes, fewer than its header; ignored`,
            );
          } else {
            const header = chain.read(0, CONTROL_HEADER_BYTES);
            const view = new DataView(header.buffer, header.byteOffset, CONTROL_HEADER_BYTES);
            this.#controlFromDriver(view.getUint32(0, true), view.getUint16(4, true), view.getUint16(6, true));
          }
          queue.complete(chain, 0);
        }
        this.#deliverControl();
        return;
    }
  }

  /** One control message from the driver (§5.3.6.2). */
  #controlFromDriver(id: number, event: number, value: number): void {
    switch (event) {
      case VIRTIO_CONSOLE_DEVICE_READY:
        // value 1: the driver is ready; "the device SHOULD send a VIRTIO_CONSOLE_DEVICE_ADD message for each port".
        this.#deviceReady = value === 1;
        if (this.#deviceReady) this.#queueControl(VIRTIO_CONSOLE_DEVICE_ADD, 0);
        return;
      case VIRTIO_CONSOLE_PORT_READY:
        if (id !== AGENT_PORT_ID) break;
        // value 0: the driver could not add the port; it stays unnamed and closed.
        this.#portReady = value === 1;
        if (this.#portReady) {
          this.#queueControl(VIRTIO_CONSOLE_PORT_NAME, 1);
          this.#queueControl(VIRTIO_CONSOLE_PORT_OPEN, 1);
        }
        return;
      case VIRTIO_CONSOLE_PORT_OPEN:
        if (id !== AGENT_PORT_ID) break;
        this.#guestOpen = value === 1;
        if (this.#guestOpen) this.#starved = false;
        return;
    }
    this.#context!.log.once(`control ${event}`, `control event ${event} for port ${id}; ignored`);
  }

  #queueControl(event: number, value: number): void {
    if (this.#pendingControl.length >= MAX_PENDING_CONTROL) {
      this.#context!.log.once('control full', 'the driver posts no control receive buffers; a control message dropped');
      return;
    }
    this.#pendingControl.push({ event, value });
  }

  /** Writes the waiting control messages into the control receive buffers the driver posted, one in each. */
  #deliverControl(): void {
    const context = this.#context!;
    if (!context.live()) return;
    const queue = context.queues[AGENT_CONTROL_RECEIVEQ]!;
    try {
      while (this.#pendingControl.length > 0) {
        const message = this.#pendingControl[0]!;
        const bytes = encodeControl(message);
        const chain = queue.pop();
        if (chain === null) return;
        if (chain.writableLength < bytes.length) {
          context.log.once(
            'control small',
            `a control receive buffer of ${chain.writableLength} bytes, too small; skipped`,
          );
          queue.complete(chain, 0);
        } else {
          chain.write(0, bytes);
          queue.complete(chain, bytes.length);
        }
        this.#pendingControl.shift();
      }
    } catch (error) {
      if (!(error instanceof VirtqueueError)) throw error;
      context.needsReset(`agent control receiveq: ${error.message}`);
    }
  }

  reset(): void {
    this.#deviceReady = false;
    this.#portReady = false;
    this.#guestOpen = false;
    this.#pendingControl = [];
    this.#starved = false;
  }

  saveState(): AgentConsoleState {
    return {
      v: 1,
      deviceReady: this.#deviceReady,
      portReady: this.#portReady,
      guestOpen: this.#guestOpen,
      pendingControl: this.#pendingControl.map(({ event, value }) => ({ event, value })),
    };
  }

  loadState(state: unknown): void {
    const s = state as AgentConsoleState;
    if (s.v !== 1) throw new Error(`agent console: unknown state version ${String(s.v)}`);
    this.#deviceReady = s.deviceReady;
    this.#portReady = s.portReady;
    this.#guestOpen = s.guestOpen;
    this.#pendingControl = s.pendingControl.map(({ event, value }) => ({ event, value }));
    this.#starved = false;
  }
}

/** A control message's bytes: the header, and for PORT_NAME the name (Linux takes the rest of the buffer). */
function encodeControl(message: AgentControlMessage): Uint8Array {
  const name =
    message.event === VIRTIO_CONSOLE_PORT_NAME ? new TextEncoder().encode(AGENT_PORT_NAME) : new Uint8Array(0);
  const bytes = new Uint8Array(CONTROL_HEADER_BYTES + name.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, AGENT_PORT_ID, true);
  view.setUint16(4, message.event, true);
  view.setUint16(6, message.value, true);
  bytes.set(name, CONTROL_HEADER_BYTES);
  return bytes;
}
