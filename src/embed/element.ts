/**
 * <tabvm-terminal image="…" snapshot="…" memory="…" cpus="…" autostart>: a VM with its terminal, for pages that
 * would rather write HTML than JavaScript. The attributes are read when the element is first connected.
 * `snapshot` (optional) is the URL of a snapshot file to start from instead of booting. Without
 * `autostart` the reader starts the VM with a button (or the page calls start() or run()).
 *
 * Properties: `vm` (the TabVm), `mode`, `state`; methods start(), run(), type(), waitFor(), snapshot(),
 * restore(), writeFile(), readFile(), listFiles(), fetch() as on TabVm;
 * events `output` and `state` (CustomEvent, value in `detail`); attributes `data-mode` and `data-state`
 * reflect the mode and state for CSS.
 */
import { optionalNumber } from './options.ts';
import type { FileEntry, RunResult, TimeoutOption, VmMode, VmState } from './types.ts';
import { createVM, TabvmError, type TabVm } from './vm.ts';

const ELEMENT_CSS = `
  :host { display: block; position: relative; height: 24rem; border-radius: 6px; overflow: hidden; background: #0f1419; }
  :host([hidden]) { display: none; }
  .terminal { position: absolute; inset: 0; }
  .overlay { position: absolute; inset: 0; display: flex; flex-direction: column; gap: 0.75rem; align-items: center;
    justify-content: center; background: rgba(15, 20, 25, 0.85); color: #d8dee9; font: 15px system-ui, sans-serif;
    text-align: center; padding: 1rem; }
  .overlay[hidden] { display: none; }
  .overlay p { margin: 0; max-width: 40rem; }
  button { font: inherit; padding: 0.5rem 1.1rem; border-radius: 6px; border: 0; background: #2b6cb0; color: white; cursor: pointer; }
  button:focus-visible { outline: 3px solid #90cdf4; outline-offset: 2px; }
`;

const STATUS_TEXT: Partial<Record<VmState, string>> = {
  created: 'A Linux virtual machine runs here, inside your browser.',
  stopped: 'The virtual machine is powered off.',
};

export class TabvmTerminalElement extends HTMLElement {
  #vm: TabVm | undefined;
  #overlay: HTMLDivElement | undefined;
  #message: HTMLParagraphElement | undefined;
  #button: HTMLButtonElement | undefined;

  get vm(): TabVm | undefined {
    return this.#vm;
  }

  get mode(): VmMode | undefined {
    return this.#vm?.mode;
  }

  get state(): VmState | undefined {
    return this.#vm?.state;
  }

  connectedCallback(): void {
    if (this.#vm) return;
    const shadow = this.shadowRoot ?? this.attachShadow({ mode: 'open' });
    shadow.replaceChildren();
    const style = document.createElement('style');
    style.textContent = ELEMENT_CSS;
    const terminal = document.createElement('div');
    terminal.className = 'terminal';
    const overlay = document.createElement('div');
    overlay.className = 'overlay';
    const message = document.createElement('p');
    const button = document.createElement('button');
    button.type = 'button';
    button.addEventListener('click', () => void this.start().catch(() => undefined));
    overlay.append(message, button);
    shadow.append(style, terminal, overlay);
    this.#overlay = overlay;
    this.#message = message;
    this.#button = button;

    let vm: TabVm;
    try {
      vm = createVM({
        image: this.getAttribute('image') ?? '',
        snapshotUrl: this.getAttribute('snapshot') ?? undefined,
        memory: optionalNumber(this.getAttribute('memory')),
        cpus: optionalNumber(this.getAttribute('cpus')),
        relay: this.getAttribute('relay') ?? undefined,
        container: terminal,
      });
    } catch (error) {
      this.#showError((error as Error).message);
      return;
    }
    this.#vm = vm;
    this.dataset.mode = vm.mode;
    vm.on('state', (state) => {
      this.#render(state);
      this.dispatchEvent(new CustomEvent<VmState>('state', { detail: state }));
    });
    vm.on('output', (text) => this.dispatchEvent(new CustomEvent<string>('output', { detail: text })));
    this.#render(vm.state);
    if (this.hasAttribute('autostart')) void this.start().catch(() => undefined);
  }

  disconnectedCallback(): void {
    // A move within the page disconnects and reconnects at once: only a removal ends the VM.
    queueMicrotask(() => {
      if (this.isConnected) return;
      this.#vm?.destroy();
      this.#vm = undefined;
    });
  }

  #render(state: VmState): void {
    this.dataset.state = state;
    const text =
      state === 'error' ? `The virtual machine failed: ${this.#vm?.error ?? 'unknown error'}` : STATUS_TEXT[state];
    this.#overlay!.hidden = text === undefined;
    this.#message!.textContent = text ?? '';
    this.#button!.hidden = false;
    this.#button!.textContent = state === 'created' ? 'Start the VM' : 'Start again';
  }

  #showError(message: string): void {
    this.dataset.state = 'error';
    this.#overlay!.hidden = false;
    this.#message!.textContent = message;
    this.#button!.hidden = true;
  }

  #requireVm(): TabVm {
    if (!this.#vm)
      throw new TabvmError('the <tabvm-terminal> has no VM (it is not in the page, or its attributes are invalid)');
    return this.#vm;
  }

  start(options?: TimeoutOption): Promise<void> {
    try {
      return this.#requireVm().start(options);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  run(command: string, options?: TimeoutOption): Promise<RunResult> {
    try {
      return this.#requireVm().run(command, options);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  type(text: string): void {
    this.#requireVm().type(text);
  }

  waitFor(pattern: string | RegExp, options?: TimeoutOption): Promise<string> {
    try {
      return this.#requireVm().waitFor(pattern, options);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  snapshot(): Promise<Uint8Array> {
    try {
      return this.#requireVm().snapshot();
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  restore(bytes?: Uint8Array): Promise<void> {
    try {
      return this.#requireVm().restore(bytes);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  writeFile(path: string, data: string | Uint8Array): Promise<void> {
    try {
      return this.#requireVm().writeFile(path, data);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  readFile(path: string): Promise<Uint8Array> {
    try {
      return this.#requireVm().readFile(path);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  listFiles(path?: string): Promise<FileEntry[]> {
    try {
      return this.#requireVm().listFiles(path);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  fetch(port: number, input: string | URL | Request, init?: RequestInit): Promise<Response> {
    try {
      return this.#requireVm().fetch(port, input, init);
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }
}

/** Registers <tabvm-terminal> (or another tag name) unless it is registered already. */
export function defineTabvmTerminal(tagName = 'tabvm-terminal'): void {
  if (!customElements.get(tagName)) customElements.define(tagName, class extends TabvmTerminalElement {});
}

declare global {
  interface HTMLElementTagNameMap {
    'tabvm-terminal': TabvmTerminalElement;
  }
}
