/**
 * The host's side of the guest agent (docs/guest-agent.md): a line protocol over the VM's `agent` byte
 * channel, whose guest end is the virtio-console port `org.tabvm.agent` the agent program in the guest
 * reads and writes. The page's controller and the Node runner each keep one per running worker.
 *
 * Lines are ASCII, one command each, words separated by one space, ended by "\n":
 *
 *   guest → host   hello <version>              the agent runs; it speaks this protocol version
 *                  ports [<port> …]             the TCP ports the guest listens on (sent at hello and on change)
 *                  memory <total> <available>   MemTotal and MemAvailable of /proc/meminfo in KiB (at hello,
 *                                               and when the memory in use changed by a MiB) — version 2
 *                  ok <command>                 a host command succeeded
 *                  err <command> <reason …>     a host command failed, and why
 *   host → guest   hello <version>              say hello and ports again (a restored guest's new host)
 *                  time <unix-ns>               set the wall clock
 *                  net <mac>                    give eth0 this address and lease it again by DHCP
 *                  ca <base64 of a PEM file>    trust this certificate authority
 *
 * Every line from the guest is checked; one that is too long, not ASCII, or not one of the above is
 * ignored and counted, never thrown. The answers to the host's commands come in order for each command.
 */
import type { ByteStream } from './channels.ts';
import { isMacAddress } from './mac-address.ts';

export const GUEST_AGENT_PROTOCOL_VERSION = 2;
/** The longest line the guest may send, "\n" included; a longer one is ignored (and counted) whole. */
export const GUEST_AGENT_MAX_LINE_BYTES = 4096;
/** The largest CA certificate (PEM text) the host sends: its line must fit the agent channel (vm-channels.ts). */
export const GUEST_AGENT_MAX_CA_BYTES = 8192;
/** How long a host command waits for its answer by default. */
export const GUEST_AGENT_TIMEOUT_MS = 120_000;

/** The commands the host sends, whose answers it waits for. */
export type GuestAgentCommand = 'time' | 'net' | 'ca';
const COMMANDS: readonly string[] = ['time', 'net', 'ca'];

/** What the host knows of the guest's agent. */
export interface GuestAgentState {
  /** The protocol version the agent said hello with; undefined until it has. */
  readonly version: number | undefined;
  /** The TCP ports the guest listens on, ascending; empty until the agent says. */
  readonly ports: readonly number[];
  /**
   * The guest's memory as its kernel counts it (MemTotal, MemAvailable), in bytes; undefined until the
   * agent says (an agent of version 1 never does).
   */
  readonly memory: GuestMemory | undefined;
  /** Lines from the guest ignored: too long, not ASCII, or no line of the protocol. */
  readonly ignored: number;
}

export interface GuestMemory {
  readonly totalBytes: number;
  readonly availableBytes: number;
}

/** A line the guest sent, checked. */
export type GuestLine =
  | { readonly kind: 'hello'; readonly version: number }
  | { readonly kind: 'ports'; readonly ports: readonly number[] }
  | { readonly kind: 'memory'; readonly memory: GuestMemory }
  | { readonly kind: 'ok'; readonly command: GuestAgentCommand }
  | { readonly kind: 'err'; readonly command: GuestAgentCommand; readonly reason: string };

/** Parses one line from the guest (without its "\n"); undefined for anything but a line of the protocol. */
export function parseGuestLine(line: string): GuestLine | undefined {
  if (!/^[\x20-\x7e]*$/.test(line)) return undefined;
  const [word, ...args] = line.split(' ');
  switch (word) {
    case 'hello':
      if (args.length !== 1 || !/^[1-9]\d{0,5}$/.test(args[0]!)) return undefined;
      return { kind: 'hello', version: Number(args[0]) };
    case 'ports': {
      if (args.length === 1 && args[0] === '') return { kind: 'ports', ports: [] };
      const ports = new Set<number>();
      for (const arg of args) {
        if (!/^[1-9]\d{0,4}$/.test(arg) || Number(arg) > 0xffff) return undefined;
        ports.add(Number(arg));
      }
      return { kind: 'ports', ports: [...ports].sort((a, b) => a - b) };
    }
    case 'memory': {
      // At most 2^40 KiB (1 PiB), well within a double; what is available is part of the total.
      if (args.length !== 2 || !args.every((arg) => /^\d{1,13}$/.test(arg))) return undefined;
      const [total, available] = args.map(Number) as [number, number];
      if (total === 0 || total > 2 ** 40 || available > total) return undefined;
      return { kind: 'memory', memory: { totalBytes: total * 1024, availableBytes: available * 1024 } };
    }
    case 'ok':
      if (args.length !== 1 || !COMMANDS.includes(args[0]!)) return undefined;
      return { kind: 'ok', command: args[0] as GuestAgentCommand };
    case 'err':
      if (args.length < 2 || !COMMANDS.includes(args[0]!)) return undefined;
      return { kind: 'err', command: args[0] as GuestAgentCommand, reason: args.slice(1).join(' ') };
    default:
      return undefined;
  }
}

/** Splits the guest's bytes into lines, each bounded: a longer one is dropped whole and reported once. */
export class LineSplitter {
  readonly #buffer = new Uint8Array(GUEST_AGENT_MAX_LINE_BYTES);
  #length = 0;
  /** Inside a line that grew too long: the rest of it, up to its "\n", is dropped. */
  #skipping = false;

  /** Feeds bytes; calls `onLine` for each complete line (its "\n" and a "\r" before it removed), `onTooLong` for each dropped one. */
  push(bytes: Uint8Array, onLine: (line: string) => void, onTooLong: () => void): void {
    for (const byte of bytes) {
      if (byte === 0x0a) {
        if (this.#skipping) this.#skipping = false;
        else {
          let end = this.#length;
          if (end > 0 && this.#buffer[end - 1] === 0x0d) end--;
          onLine(String.fromCharCode(...this.#buffer.subarray(0, end)));
        }
        this.#length = 0;
      } else if (!this.#skipping) {
        if (this.#length === GUEST_AGENT_MAX_LINE_BYTES - 1) {
          this.#skipping = true;
          this.#length = 0;
          onTooLong();
        } else this.#buffer[this.#length++] = byte;
      }
    }
  }
}

interface Pending {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export interface GuestAgentOptions {
  /** Wakes the VM after a write (the shared mode's doorbell; messages wake it themselves). */
  readonly wake?: () => void;
  /** Called whenever the state changes. */
  readonly onChange?: (state: GuestAgentState) => void;
}

export class GuestAgent {
  readonly #stream: ByteStream;
  readonly #options: GuestAgentOptions;
  readonly #lines = new LineSplitter();
  readonly #pending = new Map<GuestAgentCommand, Pending[]>();
  readonly #stopListening: () => void;
  #state: GuestAgentState = { version: undefined, ports: [], memory: undefined, ignored: 0 };
  #closed = false;

  constructor(stream: ByteStream, options: GuestAgentOptions = {}) {
    this.#stream = stream;
    this.#options = options;
    this.#stopListening = stream.listen((bytes) => this.receive(bytes));
    // A guest whose agent already runs (a restored snapshot) says hello and its ports to its new host.
    this.#write(`hello ${GUEST_AGENT_PROTOCOL_VERSION}\n`);
  }

  get state(): GuestAgentState {
    return this.#state;
  }

  /** Bytes from the guest (the channel's listener calls it; a test may too). */
  receive(bytes: Uint8Array): void {
    this.#lines.push(
      bytes,
      (line) => this.#onLine(line),
      () => this.#ignore(),
    );
  }

  #onLine(text: string): void {
    const line = parseGuestLine(text);
    if (!line) {
      this.#ignore();
      return;
    }
    switch (line.kind) {
      case 'hello':
        this.#set({ version: line.version });
        return;
      case 'ports':
        if (line.ports.join(' ') !== this.#state.ports.join(' ')) this.#set({ ports: line.ports });
        return;
      case 'memory':
        this.#set({ memory: line.memory });
        return;
      case 'ok':
      case 'err': {
        const pending = this.#pending.get(line.command)?.shift();
        if (!pending) {
          this.#ignore();
          return;
        }
        clearTimeout(pending.timer);
        if (line.kind === 'ok') pending.resolve();
        else pending.reject(new Error(`the guest agent could not do "${line.command}": ${line.reason}`));
      }
    }
  }

  #ignore(): void {
    this.#set({ ignored: this.#state.ignored + 1 });
  }

  #set(change: Partial<GuestAgentState>): void {
    this.#state = { ...this.#state, ...change };
    this.#options.onChange?.(this.#state);
  }

  /** Sets the guest's wall clock to `ms` since the epoch (default now). */
  setTime(ms = Date.now(), timeoutMs?: number): Promise<void> {
    return this.#request('time', `${BigInt(Math.round(ms)) * 1_000_000n}`, timeoutMs);
  }

  /** Gives the guest's eth0 the address `mac` ("52:54:00:12:34:56") and a new DHCP lease. */
  setNet(mac: string, timeoutMs?: number): Promise<void> {
    const address = mac.toLowerCase();
    if (!isMacAddress(address)) return Promise.reject(new Error(`not a MAC address: ${JSON.stringify(mac)}`));
    return this.#request('net', address, timeoutMs);
  }

  /** Makes the guest trust the certificate authority `pem` (a PEM file's text). */
  installCa(pem: string, timeoutMs?: number): Promise<void> {
    try {
      checkCaPem(pem);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.#request('ca', base64(new TextEncoder().encode(pem)), timeoutMs);
  }

  /** Sends `command argument`; settles on the guest's answer, or rejects after `timeoutMs`. */
  #request(command: GuestAgentCommand, argument: string, timeoutMs = GUEST_AGENT_TIMEOUT_MS): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the VM has stopped'));
    return new Promise<void>((resolve, reject) => {
      if (!this.#write(`${command} ${argument}\n`)) {
        reject(new Error("the guest agent's channel is full: the guest is not reading it"));
        return;
      }
      const queue = this.#pending.get(command) ?? [];
      this.#pending.set(command, queue);
      const timer = setTimeout(() => {
        const at = queue.indexOf(pending);
        if (at >= 0) queue.splice(at, 1);
        reject(new Error(`the guest agent did not answer "${command}" within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const pending: Pending = { resolve, reject, timer };
      queue.push(pending);
    });
  }

  /** Writes a whole line or nothing; whether it was written. */
  #write(line: string): boolean {
    const bytes = new TextEncoder().encode(line);
    if (this.#closed || this.#stream.end.room() < bytes.length) return false;
    this.#stream.write(bytes);
    this.#options.wake?.();
    return true;
  }

  /** The VM's worker is gone: stops listening, and every command waiting fails. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopListening();
    for (const queue of this.#pending.values()) {
      for (const pending of queue.splice(0)) {
        clearTimeout(pending.timer);
        pending.reject(new Error('the VM stopped before its guest agent answered'));
      }
    }
  }
}

/** Throws one sentence unless `pem` is a PEM certificate's text the agent can be sent. */
export function checkCaPem(pem: string): void {
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new Error('not a PEM certificate: it has no BEGIN CERTIFICATE line');
  const bytes = new TextEncoder().encode(pem).length;
  if (bytes > GUEST_AGENT_MAX_CA_BYTES) throw new Error(`a CA certificate of ${bytes} bytes; at most ${GUEST_AGENT_MAX_CA_BYTES}`);
}

function base64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
