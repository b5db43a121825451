/**
 * virtio-console (Virtual I/O Device spec 1.2, §5.3, device ID 3) with one port and no MULTIPORT: the
 * guest's hvc0, the console the login shell runs on, because unlike the 16550 it can tell the guest the
 * size of the terminal the person looks at (VIRTIO_CONSOLE_F_SIZE). docs/console.md tells how it shares
 * the VM's one console byte stream with the UART.
 *
 * §5.3.2: "0 receiveq(port0), 1 transmitq(port0)". §5.3.4, the configuration layout:
 *
 *   struct virtio_console_config { le16 cols; le16 rows; le32 max_nr_ports; le32 emerg_wr; }
 *
 * "cols and rows are valid only if VIRTIO_CONSOLE_F_SIZE is set", and §5.3.6: "If the driver negotiated
 * the VIRTIO_CONSOLE_F_SIZE feature, a configuration change notification indicates that the updated
 * size can be read from the configuration fields. This size applies to port 0 only." Linux (6.1,
 * drivers/char/virtio_console.c, config_work_handler) reads exactly that for port 0 without MULTIPORT:
 * `cols` at offset 0, `rows` at offset 2, on a configuration change notification only; its probe never
 * reads them. (The cols/rows order fix and its revert in Linux concerned the MULTIPORT control message
 * VIRTIO_CONSOLE_RESIZE, which this device does not send.) So the device sends a configuration change
 * notification when the driver sets DRIVER_OK, and again at each resize; the virtio core defers one that
 * arrives during the driver's probe until the probe is done.
 *
 * Input is delivered only into buffers the guest posted on the receiveq (§5.3.6.1: "the driver MUST …
 * fill the receive queue(s) with buffers"): `receive()` takes from the host's queue as much as the posted
 * buffers hold and leaves the rest there, so input waits, bounded by the host's queue, for the guest.
 * Output is every byte of each transmitq buffer, to the console's sink, and the buffer goes back at once.
 */
import type { CharSink } from '../../host/char-port.ts';
import type { Virtqueue } from './queue.ts';
import { VirtqueueError } from './queue.ts';
import type { VirtioDevice, VirtioDeviceContext } from './mmio.ts';

export const VIRTIO_ID_CONSOLE = 3;
/** §5.3.3: "Configuration cols and rows are valid." */
export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_RECEIVEQ = 0;
export const VIRTIO_CONSOLE_TRANSMITQ = 1;
export const VIRTIO_CONSOLE_QUEUE_SIZE = 64;
/** struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. */
const CONFIG_BYTES = 12;
/** The size the console has until a terminal says otherwise: the VT100's. */
export const DEFAULT_CONSOLE_COLS = 80;
export const DEFAULT_CONSOLE_ROWS = 24;

/** Where input comes from: the host's queue of bytes typed (a channel's ring). */
export interface ConsoleInput {
  available(): number;
  /** Takes up to `max` bytes. */
  read(max: number): Uint8Array;
}

/** A terminal's size in character cells. */
export interface ConsoleSize {
  readonly cols: number;
  readonly rows: number;
}

export interface VirtioConsoleState {
  readonly v: 1;
  readonly cols: number;
  readonly rows: number;
}

export class VirtioConsole implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE;
  readonly features = 1n << BigInt(VIRTIO_CONSOLE_F_SIZE);
  readonly queueSizes = [VIRTIO_CONSOLE_QUEUE_SIZE, VIRTIO_CONSOLE_QUEUE_SIZE];
  readonly config = new Uint8Array(CONFIG_BYTES);
  readonly #configView = new DataView(this.config.buffer);
  readonly #sink: CharSink;
  #context: VirtioDeviceContext | undefined;
  /** The receiveq had no buffer at the last delivery, and the guest has not notified it since. */
  #starved = false;

  constructor(sink: CharSink, size: ConsoleSize = { cols: DEFAULT_CONSOLE_COLS, rows: DEFAULT_CONSOLE_ROWS }) {
    this.#sink = sink;
    this.#setSize(size.cols, size.rows);
    // §5.3.4: max_nr_ports "is valid only if VIRTIO_CONSOLE_F_MULTIPORT is set"; one port all the same.
    this.#configView.setUint32(4, 1, true);
  }

  attach(context: VirtioDeviceContext): void {
    this.#context = context;
  }

  get cols(): number {
    return this.#configView.getUint16(0, true);
  }

  get rows(): number {
    return this.#configView.getUint16(2, true);
  }

  /**
   * Whether the guest's driver is live with its receiveq set up: from then on keyboard input belongs to
   * hvc0 (docs/console.md: the one signal a single-port device has that the guest uses the port).
   */
  get open(): boolean {
    const context = this.#context;
    return context !== undefined && context.live() && context.queues[VIRTIO_CONSOLE_RECEIVEQ]!.ready;
  }

  /** Whether input would wait for the guest to post receive buffers (the run loop may sleep then). */
  get starved(): boolean {
    return this.#starved;
  }

  /** The terminal's size changed: new config, and a configuration change notification if it differs. */
  resize(cols: number, rows: number): void {
    if (!this.#setSize(cols, rows)) return;
    if (this.#context?.live()) this.#context.configChanged();
  }

  /** Sets the config's size (clamped to 1..65535, as its le16 fields hold); whether it changed. */
  #setSize(cols: number, rows: number): boolean {
    const c = clampDimension(cols);
    const r = clampDimension(rows);
    if (c === this.cols && r === this.rows) return false;
    this.#configView.setUint16(0, c, true);
    this.#configView.setUint16(2, r, true);
    return true;
  }

  driverReady(): void {
    // The driver's probe reads no size (see the file comment): tell it the one we have.
    this.#context!.configChanged();
  }

  /** Moves input into the buffers the guest posted, each as full as the input allows; returns the bytes moved. */
  receive(input: ConsoleInput): number {
    if (!this.open) return 0;
    const { moved, starved } = fillReceiveq(
      this.#context!.queues[VIRTIO_CONSOLE_RECEIVEQ]!,
      input,
      this.#context!,
      'receiveq',
    );
    if (starved) this.#starved = true;
    return moved;
  }

  queueNotified(queue: Virtqueue): void {
    if (queue.index === VIRTIO_CONSOLE_RECEIVEQ) {
      // New receive buffers: the next service delivers waiting input into them.
      this.#starved = false;
      return;
    }
    drainTransmitq(queue, this.#sink);
  }

  reset(): void {
    this.#starved = false;
  }

  saveState(): VirtioConsoleState {
    return { v: 1, cols: this.cols, rows: this.rows };
  }

  loadState(state: unknown): void {
    const s = state as VirtioConsoleState;
    if (s.v !== 1) throw new Error(`virtio-console: unknown state version ${String(s.v)}`);
    this.#setSize(s.cols, s.rows);
    this.#starved = false;
  }
}

function clampDimension(n: number): number {
  return Number.isFinite(n) ? Math.min(0xffff, Math.max(1, Math.trunc(n))) : 1;
}

/**
 * Moves `input` into the buffers the guest posted on a console port's receiveq, each as full as the input
 * allows: the bytes moved, and whether input waits for the guest to post more (`starved`). A bad ring
 * sets DEVICE_NEEDS_RESET, its message prefixed with `label`.
 */
export function fillReceiveq(
  queue: Virtqueue,
  input: ConsoleInput,
  context: Pick<VirtioDeviceContext, 'needsReset'>,
  label: string,
): { moved: number; starved: boolean } {
  let moved = 0;
  let starved = false;
  try {
    while (input.available() > 0) {
      const chain = queue.pop();
      if (chain === null) {
        starved = true;
        break;
      }
      const bytes = input.read(chain.writableLength);
      chain.write(0, bytes);
      queue.complete(chain, bytes.length);
      moved += bytes.length;
    }
  } catch (error) {
    if (!(error instanceof VirtqueueError)) throw error;
    context.needsReset(`${label}: ${error.message}`);
  }
  return { moved, starved };
}

/** Writes every byte of each buffer on a console port's transmitq to `sink`, and gives the buffers back. */
export function drainTransmitq(queue: Virtqueue, sink: CharSink): void {
  for (let chain = queue.pop(); chain !== null; chain = queue.pop()) {
    // Views into guest RAM: a chain of any length is written out without a copy of it.
    for (const view of chain.readableViews(0, chain.readableLength)) {
      for (const byte of view) sink.write(byte);
    }
    queue.complete(chain, 0);
  }
}
