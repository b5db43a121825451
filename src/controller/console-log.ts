/**
 * A VM's console as the page keeps it, apart from any worker: `ConsoleLog` holds what the guest printed
 * (up to SCROLLBACK_BYTES) and replays it to each terminal that attaches, so switching between VMs loses
 * nothing; `ConsoleInput` moves typed bytes to the current worker in order, retrying what its input
 * channel cannot take yet.
 */
import type { ByteStream } from '../../workers/protocol/channels.ts';

/** Output kept for a terminal that attaches later; older output goes first. */
export const SCROLLBACK_BYTES = 1 << 20;
/** How soon input the ring could not take is offered again. */
const INPUT_RETRY_MS = 20;

export class ConsoleLog {
  readonly #listeners = new Set<(bytes: Uint8Array) => void>();
  readonly #onOutput: () => void;
  #chunks: Uint8Array[] = [];
  #bytes = 0;

  /** `onOutput` is called after each chunk reaches the listeners. */
  constructor(onOutput: () => void = () => {}) {
    this.#onOutput = onOutput;
  }

  /** Receives everything kept so far, then each new chunk; returns the unsubscribe. */
  subscribe(listener: (bytes: Uint8Array) => void): () => void {
    for (const chunk of this.#chunks) listener(chunk);
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Guest output. */
  append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#bytes += bytes.length;
    while (this.#bytes > SCROLLBACK_BYTES && this.#chunks.length > 1) this.#bytes -= this.#chunks.shift()!.length;
    for (const listener of this.#listeners) listener(bytes);
    this.#onOutput();
  }

  /** What is kept, oldest first (a VM moving to another tab takes its scrollback along). */
  kept(): Uint8Array[] {
    return [...this.#chunks];
  }

  /**
   * Replaces what is kept with `chunks` (a VM moved here from another tab): terminals attached are reset
   * (RIS, ECMA-48 `ESC c`, which also clears xterm's scrollback) and shown them.
   */
  replace(chunks: readonly Uint8Array[]): void {
    this.#chunks = [];
    this.#bytes = 0;
    this.append(new Uint8Array([0x1b, 0x63]));
    for (const chunk of chunks) this.append(chunk);
  }

  /** A line from the host, not the guest (download progress, halts), in the console's own voice. */
  note(text: string): void {
    this.append(new TextEncoder().encode(`\r\n\x1b[2m[tabvm] ${text}\x1b[0m\r\n`));
  }

  /**
   * What the guest printed since its last line feed, at most `max` bytes: its prompt and what was typed
   * after it, as a snapshot keeps it to show again after a restore (the guest does not print it again).
   */
  lastLine(max = 1024): Uint8Array<ArrayBuffer> {
    const parts: Uint8Array[] = [];
    let length = 0;
    for (let i = this.#chunks.length - 1; i >= 0 && length < max; i--) {
      const chunk = this.#chunks[i]!;
      const feed = chunk.lastIndexOf(0x0a);
      const part = chunk.subarray(Math.max(feed + 1, chunk.length - (max - length)));
      parts.unshift(part);
      length += part.length;
      if (feed >= 0) break;
    }
    const line = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      line.set(part, at);
      at += part.length;
    }
    return line;
  }

  /** The VM is gone: nothing more is kept or delivered. */
  clear(): void {
    this.#listeners.clear();
    this.#chunks = [];
    this.#bytes = 0;
  }
}

/** The worker typed bytes go to: its console channel (either mode; the channel wakes the worker). */
export interface ConsoleInputTarget {
  readonly alive: boolean;
  readonly channels: { readonly console: Pick<ByteStream, 'write'> };
}

export class ConsoleInput {
  readonly #target: () => ConsoleInputTarget | undefined;
  #backlog: Uint8Array[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `target` gives the current worker, if any (a restore replaces it). */
  constructor(target: () => ConsoleInputTarget | undefined) {
    this.#target = target;
  }

  send(bytes: Uint8Array): void {
    if (!this.#target()?.alive) return;
    this.#backlog.push(bytes);
    this.#flush();
  }

  /** Drops what has not reached the guest (its worker ended). */
  clear(): void {
    this.#backlog = [];
  }

  /** Moves typed bytes to the guest; what the channel cannot take now is retried shortly, in order. */
  #flush(): void {
    const target = this.#target();
    if (!target?.alive) {
      this.#backlog = [];
      return;
    }
    while (this.#backlog.length > 0) {
      const chunk = this.#backlog[0]!;
      const n = target.channels.console.write(chunk);
      if (n < chunk.length) {
        this.#backlog[0] = chunk.subarray(n);
        break;
      }
      this.#backlog.shift();
    }
    if (this.#backlog.length > 0) this.#retry();
  }

  #retry(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, INPUT_RETRY_MS);
  }
}

/**
 * `line` without the terminal queries in it (ESC [ 5 n, ESC [ 6 n: status and cursor position; ESC [ c,
 * ESC [ > c: device attributes): shown again after a restore, they would make the terminal answer a
 * question the guest asked long ago, into its input.
 */
export function withoutTerminalQueries(line: Uint8Array): Uint8Array {
  const text = byteString(line);
  const kept = text.replace(TERMINAL_QUERY, '');
  return kept.length === text.length ? line : Uint8Array.from(kept, (c) => c.charCodeAt(0));
}

/** Whether typed `bytes` are the terminal's answer to such a query rather than a person's keys. */
export function isTerminalReport(bytes: Uint8Array): boolean {
  return TERMINAL_REPORT.test(byteString(bytes));
}

const ESC = String.fromCharCode(0x1b);
const TERMINAL_QUERY = new RegExp(`${ESC}\\[(?:[56]n|>?0?c)`, 'g');
const TERMINAL_REPORT = new RegExp(`^${ESC}\\[[?>]?[\\d;]*[Rnc]$`);

/** One character per byte, so that a pattern can match bytes and the result maps back exactly. */
function byteString(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}
