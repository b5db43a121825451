/**
 * The "log once" channel for guest errors (STYLE.md habit 4, QEMU's LOG_GUEST_ERROR): a guest that
 * touches an unmapped address or a reserved register is misbehaving, not breaking the emulator, so the
 * access reads as 0 / is ignored and one line is logged. Once per key, because a guest that polls a
 * bad address in a loop would otherwise flood the console and slow the VM to a crawl.
 */

export type LogSink = (message: string) => void;

/** After this many distinct keys we stop remembering (a guest scanning memory must not grow a set forever). */
const DEFAULT_MAX_KEYS = 1024;

interface SeenKeys {
  readonly keys: Set<string>;
  readonly maxKeys: number;
  overflowReported: boolean;
}

export class GuestErrorLog {
  readonly #sink: LogSink;
  #seen: SeenKeys;
  #prefix = '';

  constructor(sink: LogSink = (message) => console.warn(message), maxKeys = DEFAULT_MAX_KEYS) {
    this.#sink = sink;
    this.#seen = { keys: new Set(), maxKeys, overflowReported: false };
  }

  /**
   * A view that shares this log's sink and memory of what was already said, and prefixes keys and
   * messages, e.g. `log.scope('virtio@0x10001000')`, so two instances of one device kind log apart.
   */
  scope(prefix: string): GuestErrorLog {
    const view = new GuestErrorLog(this.#sink);
    view.#seen = this.#seen;
    view.#prefix = `${this.#prefix}${prefix}: `;
    return view;
  }

  /** Logs `message` unless something was already logged under `key` in this scope. */
  once(key: string, message: string): void {
    const seen = this.#seen;
    const fullKey = this.#prefix + key;
    if (seen.keys.has(fullKey)) return;
    if (seen.keys.size >= seen.maxKeys) {
      if (!seen.overflowReported) {
        seen.overflowReported = true;
        this.#sink(`guest error: more than ${seen.maxKeys} distinct guest errors; not logging new ones`);
      }
      return;
    }
    seen.keys.add(fullKey);
    this.#sink(`guest error: ${this.#prefix}${message}`);
  }
}

/** `0x1000_0000`-style hex for log messages. */
export function hex(value: number | bigint): string {
  return '0x' + value.toString(16);
}
