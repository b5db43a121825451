/**
 * Notices a guest kernel panic on the serial console. Linux's panic() (kernel/panic.c) prints
 * `Kernel panic - not syncing: <reason>` at KERN_EMERG, which every console gets, then a stack dump,
 * then `---[ end Kernel panic - not syncing: <reason> ]---`; after that it spins with interrupts off
 * (panic=0, the default) or reboots after panic=N seconds. Either way nothing useful follows, so the
 * runner stops the VM and reports the panic line instead of spinning a host core forever.
 *
 * The console is the one channel every kernel drives (a pvpanic device would need a driver and a
 * kernel built with it). The panic line counts only at the start of a console line (after printk's
 * bracketed prefixes such as the timestamp), so a command line that merely contains the words, as typed
 * at a shell prompt, does not stop the VM; a guest program that prints such a line itself does.
 *
 * A CharSink that passes every byte on to the console it wraps.
 */
import type { CharSink } from './char-port.ts';

/** How long after the panic line the VM may keep running when the end marker never comes. */
export const PANIC_GRACE_MS = 3000;
/** Console line length kept for matching; the rest of a longer line is not looked at. */
const MAX_LINE_CHARS = 1024;

const PANIC_LINE = /^(?:\[[^\]]*\]\s*)*(Kernel panic - not syncing:.*)$/;
const PANIC_END = /---\[ end Kernel panic - not syncing/;

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

export class PanicWatch implements CharSink {
  readonly #console: CharSink;
  readonly #now: () => number;
  #line = '';
  #panic: string | undefined;
  #panicAt = 0;
  #ended = false;

  /** `now`: milliseconds on any monotonic clock (performance.now by default). */
  constructor(console: CharSink, now: () => number = () => performance.now()) {
    this.#console = console;
    this.#now = now;
  }

  write(byte: number): void {
    this.#console.write(byte);
    if (byte === NEWLINE) {
      this.#endLine();
      return;
    }
    if (byte !== CARRIAGE_RETURN && this.#line.length < MAX_LINE_CHARS) this.#line += String.fromCharCode(byte);
  }

  /** The panic line (from "Kernel panic"), once the guest printed one. */
  get panic(): string | undefined {
    return this.#panic;
  }

  /**
   * The guest panicked and has said all it will: the end marker came, or PANIC_GRACE_MS passed since
   * the panic line. The runner stops the VM then.
   */
  get settled(): boolean {
    return this.#panic !== undefined && (this.#ended || this.#now() - this.#panicAt >= PANIC_GRACE_MS);
  }

  #endLine(): void {
    const line = this.#line;
    this.#line = '';
    if (this.#panic === undefined) {
      const match = PANIC_LINE.exec(line);
      if (match) {
        this.#panic = match[1]!.trimEnd();
        this.#panicAt = this.#now();
      }
    } else if (PANIC_END.test(line)) this.#ended = true;
  }
}
