/**
 * The console as an xterm addon (STYLE.md habit 15): activate() joins a terminal to a VM's console
 * endpoint both ways and keeps the disposables; dispose() unjoins them. The endpoint replays what the
 * guest printed before the terminal attached, so a terminal opened late shows the whole boot log. The
 * terminal's size goes to the endpoint at activation and on each resize, so the guest's `stty size` is
 * the terminal's (docs/console.md).
 *
 * Copy and paste: Ctrl+Shift+C copies the selection and Ctrl+Shift+V pastes (plain Ctrl+C must stay the
 * guest's interrupt); the browser's own paste (context menu, Shift+Insert) goes through xterm's onData.
 */
import type { IDisposable, ITerminalAddon, Terminal } from '@xterm/xterm';

/** The VM side: structurally the controller's ConsoleEndpoint (src/console does not import the controller). */
export interface ConsoleEndpoint {
  send(bytes: Uint8Array): void;
  subscribe(onOutput: (bytes: Uint8Array) => void): () => void;
  /** The terminal's size in cells, at activation and after each resize (the guest's virtio console follows it). */
  resize(cols: number, rows: number): void;
}

export class VmConsoleAddon implements ITerminalAddon {
  readonly #endpoint: ConsoleEndpoint;
  #disposables: IDisposable[] = [];

  constructor(endpoint: ConsoleEndpoint) {
    this.#endpoint = endpoint;
  }

  activate(terminal: Terminal): void {
    const encoder = new TextEncoder();
    // A serial line carries bytes: xterm hands strings (UTF-8 for what was typed), binary as latin1.
    this.#disposables.push(terminal.onData((data) => this.#endpoint.send(encoder.encode(data))));
    this.#disposables.push(
      terminal.onBinary((data) => this.#endpoint.send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff))),
    );
    const unsubscribe = this.#endpoint.subscribe((bytes) => terminal.write(bytes));
    this.#disposables.push({ dispose: unsubscribe });
    this.#endpoint.resize(terminal.cols, terminal.rows);
    this.#disposables.push(terminal.onResize(({ cols, rows }) => this.#endpoint.resize(cols, rows)));
    terminal.attachCustomKeyEventHandler((event) => {
      if (event.type !== 'keydown' || !event.ctrlKey || !event.shiftKey) return true;
      if (event.code === 'KeyC') {
        const selection = terminal.getSelection();
        if (selection) void navigator.clipboard?.writeText(selection).catch(() => undefined);
        return false;
      }
      if (event.code === 'KeyV') {
        // Without this Chromium also runs its own "paste as plain text" into xterm's textarea and the
        // guest receives the text twice.
        event.preventDefault();
        void navigator.clipboard
          ?.readText()
          .then((text) => terminal.paste(text))
          .catch(() => undefined);
        return false;
      }
      return true;
    });
    this.#disposables.push({ dispose: () => terminal.attachCustomKeyEventHandler(() => true) });
  }

  dispose(): void {
    for (const disposable of this.#disposables) disposable.dispose();
    this.#disposables = [];
  }
}
