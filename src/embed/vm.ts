/**
 * createVM(): a live VM for a tutorial page. It stands on the app's VmController (worker, Comlink,
 * console rings, shared or message mode) and adds what a tutorial needs: an optional terminal, and
 * `run()`, which types a command the way a reader would and returns its output and exit status.
 *
 * How `run()` knows where a command's output ends and what its status was: see shell-text.ts (the
 * prompt carries an invisible status marker, set up once when the shell first prompts).
 */
import {
  DEBIAN_ARCHIVE,
  packageMirror,
  pageNetworkCard,
  setPageRelay,
  trustPageCa,
} from '../controller/page-network.ts';
import { vmFetch } from '../controller/vm-fetch.ts';
import { randomMacAddress } from '../../workers/protocol/mac-address.ts';
import { VmController, type VmControllerOptions, type VmView } from '../controller/vm-controller.ts';
import { describeIssue, VmOptionsSchema } from './options.ts';
import type {
  CreateVmOptions,
  FileEntry,
  RunResult,
  TimeoutOption,
  VmEventMap,
  VmMode,
  VmOptions,
  VmState,
} from './types.ts';
import { SharedFileError } from '../controller/vm-share.ts';
import { commandOutput, EscapeAwareStream, promptSetupLine, STATUS_MARKER, withoutMarkers } from './shell-text.ts';
import { mountTerminal, type MountedTerminal } from './terminal.ts';

export class TabvmError extends Error {
  override name = 'TabvmError';
}

export class TabvmTimeoutError extends TabvmError {
  override name = 'TabvmTimeoutError';
}

const DEFAULT_START_TIMEOUT_MS = 300_000;
const DEFAULT_TIMEOUT_MS = 30_000;
/** Console text kept for run() and waitFor(); older text is dropped. */
const LOG_CHARS = 1 << 21;

/** Page-wide: SharedArrayBuffer exists only in a cross-origin isolated page (COOP+COEP, or DIP). */
export function isolationMode(): VmMode {
  return globalThis.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined' ? 'shared' : 'fallback';
}

/** A text log addressed by absolute positions, of which the last LOG_CHARS characters are kept. */
class TextLog {
  #text = '';
  #base = 0;

  get end(): number {
    return this.#base + this.#text.length;
  }

  get text(): string {
    return this.#text;
  }

  append(text: string): void {
    this.#text += text;
    if (this.#text.length > LOG_CHARS) {
      const drop = this.#text.length - LOG_CHARS;
      this.#text = this.#text.slice(drop);
      this.#base += drop;
    }
  }

  /** Text from absolute position `from` to the end (from the oldest kept text if `from` was dropped). */
  since(from: number): string {
    return this.#text.slice(Math.max(0, from - this.#base));
  }
}

type Listeners = { [K in keyof VmEventMap]: Set<(value: VmEventMap[K]) => void> };

const encoder = new TextEncoder();

export class TabVm {
  readonly mode: VmMode;
  readonly options: VmOptions;
  readonly #controller: VmController;
  #state: VmState = 'created';
  #error: string | undefined;
  #ready = false;
  /** Where in the console log the current boot began. */
  #bootFrom = 0;
  /** Guest reboots seen so far (VmView counts them per start). */
  #reboots = 0;
  readonly #raw = new TextLog();
  readonly #visible = new TextLog();
  #cursor = 0;
  readonly #decoder = new TextDecoder();
  readonly #stream = new EscapeAwareStream();
  /**
   * While the prompt marker is set up, the reader sees neither the setup line (`echo`: until its status
   * marker) nor the prompt that follows it (`prompt`: a copy of the one already on the screen). After a
   * restore no prompt is on the screen, so the echo's end goes to `none`; and from the restore until the
   * setup line is typed the reader sees nothing of the guest (`restore`): a restored shell told a new
   * terminal size (the virtio console, docs/console.md) redraws its prompt, which the setup shows anyway.
   */
  #hiding: 'none' | 'restore' | 'echo' | 'prompt' = 'none';
  /** The controller's restore count before a restore of ours; its change says the restored VM is in. */
  #restoresBefore: number | undefined;
  #afterEcho: 'none' | 'prompt' = 'prompt';
  #hiddenPrompt = '';
  /** options.prompt without the flags that make a RegExp stateful. */
  readonly #prompt: RegExp;
  #starting: Promise<void> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #waiters = new Set<() => void>();
  readonly #listeners: Listeners = { output: new Set(), state: new Set() };
  readonly #display = new Set<(bytes: Uint8Array) => void>();
  readonly #terminal: MountedTerminal | undefined;
  /** The file the last snapshot() took: what restore() without arguments restores. */
  #lastSnapshot: Uint8Array | undefined;

  constructor(options: CreateVmOptions) {
    const parsed = VmOptionsSchema.safeParse(options);
    if (!parsed.success) throw new TabvmError(describeIssue(parsed.error, 'createVM'));
    this.options = parsed.data;
    this.#prompt = new RegExp(this.options.prompt.source, this.options.prompt.flags.replace(/[gy]/g, ''));
    this.mode = isolationMode();
    let manifestUrl: string;
    try {
      manifestUrl = new URL(this.options.image, document.baseURI).href;
    } catch {
      throw new TabvmError(`createVM option "image": "${this.options.image}" is not a URL`);
    }
    if (this.options.network && this.options.relay) setPageRelay({ url: this.options.relay, everything: false });
    this.#controller = new VmController({
      image: this.options.image,
      manifestUrl,
      ramMiB: this.options.memory,
      cpus: this.options.cpus,
      shared: this.mode === 'shared',
      ...(this.options.network ? { net: this.#card(manifestUrl) } : {}),
    });
    if (this.options.network) trustPageCa(this.#controller);
    this.#controller.console.subscribe((bytes) => this.#onConsole(bytes));
    this.#controller.subscribe(() => this.#onView(this.#controller.getView()));
    if (options.container) {
      this.#terminal = mountTerminal(
        options.container,
        {
          send: (bytes) => this.#controller.console.send(bytes),
          subscribe: (onOutput) => {
            this.#display.add(onOutput);
            return () => this.#display.delete(onOutput);
          },
          resize: (cols, rows) => this.#controller.console.resize(cols, rows),
        },
        'Console of the virtual machine',
      );
    }
  }

  get state(): VmState {
    return this.#state;
  }

  /** Why the VM is in the `error` state. */
  get error(): string | undefined {
    return this.#error;
  }

  /** The console text so far, as the reader sees it (the last 2 Mi characters). */
  get output(): string {
    return this.#visible.text;
  }

  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof VmEventMap>(type: K, listener: (value: VmEventMap[K]) => void): () => void {
    const set = this.#listeners[type] as Set<(value: VmEventMap[K]) => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  #emit<K extends keyof VmEventMap>(type: K, value: VmEventMap[K]): void {
    for (const listener of this.#listeners[type] as Set<(value: VmEventMap[K]) => void>) listener(value);
  }

  #setState(state: VmState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit('state', state);
    this.#wake();
  }

  #onView(view: VmView): void {
    if (this.#state === 'destroyed') return;
    if (this.#restoresBefore !== undefined && view.restores !== this.#restoresBefore) {
      // The restored VM's output starts after this (its note is out already): hidden until the setup line.
      this.#restoresBefore = undefined;
      this.#hiding = 'restore';
    }
    switch (view.phase) {
      case 'downloading':
        return this.#setState('downloading');
      case 'starting':
        this.#reboots = 0;
        return this.#setState('booting');
      case 'running':
      case 'paused':
        if (view.reboots !== this.#reboots) {
          // The guest rebooted itself: a new shell, without the status marker, comes up.
          this.#reboots = view.reboots;
          this.#ready = false;
          if (this.#starting) {
            this.#starting = this.#awaitShell(this.#raw.end, DEFAULT_START_TIMEOUT_MS);
            this.#starting.catch(() => undefined);
          }
        }
        return this.#setState(this.#ready ? 'ready' : 'booting');
      case 'stopped':
      case 'error':
        this.#ready = false;
        this.#starting = undefined;
        this.#hiding = 'none';
        this.#error = view.phase === 'error' ? view.error?.message : undefined;
        return this.#setState(view.phase === 'error' ? 'error' : this.#state === 'created' ? 'created' : 'stopped');
    }
  }

  #onConsole(bytes: Uint8Array): void {
    const text = this.#stream.push(this.#decoder.decode(bytes, { stream: true }));
    if (text === '') return;
    this.#raw.append(text);
    let visible = withoutMarkers(text);
    if (this.#hiding === 'restore') {
      visible = '';
    } else if (this.#hiding === 'echo') {
      STATUS_MARKER.lastIndex = 0;
      const marker = STATUS_MARKER.exec(text);
      if (marker) {
        const rest = withoutMarkers(text.slice(marker.index + marker[0].length));
        this.#hiding = this.#afterEcho;
        this.#hiddenPrompt = '';
        visible = this.#hiding === 'prompt' ? this.#hidePrompt(rest) : rest;
      } else {
        visible = '';
      }
    } else if (this.#hiding === 'prompt') {
      visible = this.#hidePrompt(visible);
    }
    if (visible !== '') {
      const bytesOut = encoder.encode(visible);
      for (const write of this.#display) write(bytesOut);
      this.#visible.append(visible);
      this.#emit('output', visible);
    }
    this.#wake();
  }

  /** Swallows the prompt after the setup line; returns what follows it (or all, if it is not a prompt). */
  #hidePrompt(text: string): string {
    this.#hiddenPrompt += text;
    if (this.#prompt.test(this.#hiddenPrompt)) {
      this.#hiding = 'none';
      return '';
    }
    if (this.#hiddenPrompt.length <= 256) return '';
    this.#hiding = 'none';
    return this.#hiddenPrompt;
  }

  #wake(): void {
    for (const check of [...this.#waiters]) check();
  }

  /**
   * Resolves with find()'s first defined result, checked now and after each console chunk or state
   * change. Rejects on timeout, or when the VM stops, fails or is destroyed first.
   */
  #until<T>(find: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const check = (): void => {
        const found = find();
        if (found !== undefined) {
          done();
          resolve(found);
          return;
        }
        const ended = this.#endedReason();
        if (ended) {
          done();
          reject(new TabvmError(`${what}: ${ended}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new TabvmTimeoutError(`${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  #endedReason(): string | undefined {
    switch (this.#state) {
      case 'destroyed':
        return 'the VM was destroyed';
      case 'error':
        return this.#error ?? 'the VM failed';
      case 'stopped':
        return 'the VM powered off';
      default:
        return undefined;
    }
  }

  /**
   * Boots the VM (downloading the image first) and resolves once its shell takes commands. Calling it
   * again while it starts or runs returns the same promise; after a poweroff or an error it boots anew.
   */
  start(options: TimeoutOption = {}): Promise<void> {
    if (this.#state === 'destroyed') return Promise.reject(new TabvmError('start(): the VM was destroyed'));
    if (!this.#starting) {
      const starting = this.#boot(options.timeout ?? DEFAULT_START_TIMEOUT_MS);
      this.#starting = starting;
      // After a timeout the next start() waits again (for the same boot, if the VM is still booting).
      starting.catch(() => {
        if (this.#starting === starting) this.#starting = undefined;
      });
    }
    return this.#starting;
  }

  #boot(timeoutMs: number): Promise<void> {
    if (this.options.snapshotUrl !== undefined && !this.#controller.running) {
      return this.#withTimeout(this.#startFromSnapshot(this.options.snapshotUrl), timeoutMs);
    }
    if (!this.#controller.running) {
      const from = (this.#bootFrom = this.#raw.end);
      // An image with a pre-booted snapshot starts from it (the controller decides): that shell waits at
      // its prompt already, as after a restore from a snapshot URL.
      return this.#withTimeout(
        this.#controller
          .start({ prompt: false })
          .then((how) => (how === 'restored' ? this.#setUpShell('none') : this.#awaitShell(from, timeoutMs))),
        timeoutMs,
      );
    }
    return this.#awaitShell(this.#bootFrom, timeoutMs);
  }

  #withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TabvmTimeoutError(`start(): not ready within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Instant start: fetches the snapshot file and, at the same time, the image (the snapshot names its
   * boot images but does not hold them), then restores it. A file that cannot be fetched or restored
   * puts the VM in the `error` state, with the reason in `error`.
   */
  async #startFromSnapshot(url: string): Promise<void> {
    this.#setState('downloading');
    // Both settle before anything else happens, so a late image download cannot overwrite an error state.
    const [file, images] = await Promise.allSettled([fetchSnapshot(url), this.#controller.loadImages()]);
    if (this.#state === 'destroyed') throw new TabvmError('start(): the VM was destroyed');
    if (file.status === 'rejected') throw this.#failStart((file.reason as Error).message);
    // The controller reports a failed download (the VM is in the `error` state already, `error` says why).
    if (images.status === 'rejected' || !images.value)
      throw this.#failStart(this.#error ?? 'the image could not be loaded');
    const bytes = file.value;
    try {
      await this.#restoreFile(bytes, url.split('/').at(-1) ?? url);
      await this.#setUpShell('none');
    } catch (error) {
      throw this.#failStart(`snapshot ${url}: ${(error as Error).message}`);
    }
  }

  /** Puts the VM in the `error` state (it did not start) and returns the error for start() to reject with. */
  #failStart(message: string): TabvmError {
    if (this.#state !== 'destroyed') {
      this.#error = message;
      this.#setState('error');
    }
    return new TabvmError(`start(): ${message}`);
  }

  /**
   * Replaces the VM with one restored from a snapshot file: a fresh worker; the controller keeps the
   * running VM, if any, until the restored one has started, so a file it refuses changes nothing. The
   * restored shell sits at its prompt and prints nothing: #setUpShell('none') follows, without waiting
   * for a prompt.
   */
  async #restoreFile(bytes: Uint8Array, label: string): Promise<void> {
    // The restored VM counts reboots from 0; a reboot seen before is not one of its own.
    const reboots = this.#reboots;
    this.#reboots = 0;
    this.#restoresBefore = this.#controller.getView().restores;
    try {
      await this.#controller.restore([bytes], label);
    } catch (error) {
      this.#reboots = reboots;
      this.#restoresBefore = undefined;
      throw error;
    }
    // destroy() during the restore cancels it quietly in the controller.
    if (this.#state === 'destroyed') throw new TabvmError('the VM was destroyed');
    this.#ready = false;
    this.#setState('booting');
  }

  /** Waits for the shell's first prompt after `from`, then sets the prompt's status marker up. */
  async #awaitShell(from: number, timeoutMs: number): Promise<void> {
    const prompt = this.#prompt;
    // Only the end of the output matters: a prompt is the last thing printed before the shell waits.
    await this.#until(
      () => (prompt.test(this.#raw.since(Math.max(from, this.#raw.end - 256))) ? true : undefined),
      timeoutMs,
      'start(): waiting for the shell prompt',
    );
    await this.#setUpShell('prompt');
  }

  /**
   * Types the setup line (promptSetupLine) into a shell that waits at its prompt, hidden from the reader,
   * and resolves once the first status marker shows that the shell took it: the VM is then ready.
   */
  async #setUpShell(afterEcho: 'none' | 'prompt'): Promise<void> {
    const mark = this.#raw.end;
    this.#hiding = 'echo';
    this.#afterEcho = afterEcho;
    const terminal = this.#terminal?.terminal;
    const size = terminal ? { cols: terminal.cols, rows: terminal.rows } : undefined;
    this.#controller.console.send(encoder.encode(`${promptSetupLine(size)}\r`));
    await this.#until(
      () => (this.#hiding === 'none' && this.#raw.since(mark).search(STATUS_MARKER) >= 0 ? true : undefined),
      DEFAULT_TIMEOUT_MS,
      'start(): the shell did not accept the prompt setup',
    );
    this.#ready = true;
    this.#cursor = this.#visible.end;
    this.#setState('ready');
  }

  /**
   * Types `command` and Enter into the shell, as a reader would, and resolves with what it printed and
   * its exit status. Starts the VM first if needed. Calls run one after another in call order. A
   * command still running at the timeout is interrupted with Ctrl-C and the promise rejects.
   */
  run(command: string, options: TimeoutOption = {}): Promise<RunResult> {
    if (/[\r\n]/.test(command)) {
      return Promise.reject(new TabvmError('run(): the command must be one line (use type() for more)'));
    }
    const result = this.#queue.then(() => this.#runOne(command, options.timeout ?? DEFAULT_TIMEOUT_MS));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #runOne(command: string, timeoutMs: number): Promise<RunResult> {
    await this.start();
    const from = this.#raw.end;
    let scanned = from;
    // Ctrl-U first: it clears whatever the reader left half-typed on the command line.
    this.#controller.console.send(encoder.encode(`\x15${command}\r`));
    let found: { text: string; status: number };
    try {
      found = await this.#until(
        () => {
          const start = scanned;
          scanned = this.#raw.end;
          STATUS_MARKER.lastIndex = 0;
          const marker = STATUS_MARKER.exec(this.#raw.since(start));
          if (!marker) return undefined;
          const text = this.#raw.since(from);
          const at = start - from + marker.index;
          return { text: text.slice(0, at), status: Number(marker[1]) };
        },
        timeoutMs,
        `run(${JSON.stringify(command)})`,
      );
    } catch (error) {
      if (error instanceof TabvmTimeoutError) this.#controller.console.send(encoder.encode('\x03'));
      throw error;
    }
    this.#cursor = this.#visible.end;
    return { output: withoutMarkers(commandOutput(found.text, command)), exitCode: found.status };
  }

  /** Sends text to the console as typed keys (`\r` is Enter). Ignored while no VM is running. */
  type(text: string): void {
    this.#controller.console.send(encoder.encode(text));
  }

  /**
   * Waits until the console shows `pattern` (a string, or a RegExp) and resolves with the matched text.
   * It looks at the output since the VM became ready or the previous waitFor() or run() finished (before
   * that: since it was created), so text that appeared in between is found too. A RegExp is tested as the
   * output arrives, in whatever pieces the guest prints it, so one that can match a prefix of the text
   * awaited (`/n=\d+/` matches `n=2` of `n=25`) may resolve early: end it with what must follow (`/n=\d+\r?\n/`).
   */
  waitFor(pattern: string | RegExp, options: TimeoutOption = {}): Promise<string> {
    const from = this.#cursor;
    const regexp =
      typeof pattern === 'string' ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    return this.#until(
      () => {
        const text = this.#visible.since(from);
        let index: number;
        let matched: string;
        if (regexp) {
          const match = regexp.exec(text);
          if (!match) return undefined;
          index = match.index;
          matched = match[0];
        } else {
          index = text.indexOf(pattern as string);
          if (index < 0) return undefined;
          matched = pattern as string;
        }
        this.#cursor = Math.max(this.#cursor, this.#visible.end - text.length + index + matched.length);
        return matched;
      },
      options.timeout ?? DEFAULT_TIMEOUT_MS,
      `waitFor(${String(pattern)})`,
    );
  }

  /**
   * Takes a snapshot of the running VM and resolves with its file (a full, standalone `.tabvm` file, as
   * the app exports them): what restore() and `snapshotUrl` take. Starts the VM first if needed; waits
   * for run() calls made before it. The guest stands still only for the capture.
   */
  snapshot(): Promise<Uint8Array> {
    const result = this.#queue.then(async () => {
      await this.start();
      let taken;
      try {
        // No parent: a full snapshot, which restores on its own.
        taken = await this.#controller.snapshot();
      } catch (error) {
        throw new TabvmError(`snapshot(): ${(error as Error).message}`);
      }
      this.#lastSnapshot = taken.bytes;
      return taken.bytes.slice();
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Replaces the VM's state with a snapshot file's (`bytes`, or the last one snapshot() took), also
   * when it is stopped, and resolves once its shell takes commands again. A file that cannot be
   * restored (damaged, other images or RAM size) rejects and leaves the running VM as it was. Waits
   * for run() calls made before it.
   */
  restore(bytes?: Uint8Array): Promise<void> {
    if (this.#state === 'destroyed') return Promise.reject(new TabvmError('restore(): the VM was destroyed'));
    const result = this.#queue.then(async () => {
      const file = bytes ?? this.#lastSnapshot;
      if (!file) throw new TabvmError('restore(): no snapshot given, and snapshot() has not taken one');
      try {
        await this.#restoreFile(file, 'snapshot()');
      } catch (error) {
        throw error instanceof TabvmError ? error : new TabvmError(`restore(): ${(error as Error).message}`);
      }
      // start() now means this shell's setup; it boots anew only after a poweroff or an error.
      const ready = this.#setUpShell('none');
      this.#starting = ready;
      ready.catch(() => {
        if (this.#starting === ready) this.#starting = undefined;
      });
      await ready;
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  // --- the shared folder (the guest's /mnt/shared), through its files, never through the shell ---

  /**
   * Runs a file operation after the run() calls made before it, and says what went wrong in one
   * sentence (a path outside the folder, a file missing, storage full) as a TabvmError.
   */
  #files<T>(what: string, operation: () => Promise<T>): Promise<T> {
    if (this.#state === 'destroyed') return Promise.reject(new TabvmError(`${what}: the VM was destroyed`));
    const result = this.#queue.then(async () => {
      try {
        return await operation();
      } catch (error) {
        if (error instanceof SharedFileError) throw new TabvmError(`${what}: ${error.message}`);
        throw error;
      }
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Writes a file into the VM's shared folder, which the guest sees at /mnt/shared: `path` is relative
   * to it ('poem.txt' is /mnt/shared/poem.txt; directories on the way are made). Replaces a file that
   * is there. Strings are written as UTF-8. Works whether or not the VM runs.
   */
  writeFile(path: string, data: string | Uint8Array): Promise<void> {
    return this.#files('writeFile()', () => this.#controller.share.writeFile(path, data));
  }

  /** The bytes of a file in the VM's shared folder (`path` relative to /mnt/shared). */
  readFile(path: string): Promise<Uint8Array> {
    return this.#files('readFile()', () => this.#controller.share.readFile(path));
  }

  /** The files and directories in a directory of the shared folder ('' or none: the folder itself), by name. */
  listFiles(path = ''): Promise<FileEntry[]> {
    return this.#files('listFiles()', () => this.#controller.share.listFiles(path));
  }

  /**
   * An HTTP request to a server in the guest (docs/embedding.md, "Guest servers"): `input` is a path
   * such as '/index.html' (with fetch()'s `init`) or a Request, of which only the path and query reach
   * the guest's TCP `port`, over the page's network from 10.0.2.2. Resolves with the server's response
   * once its head has arrived (the body streams from the guest); rejects with a TabvmError that says
   * why when the VM is not running or has no network, nothing listens there, or the answer is not HTTP.
   * Runs after the run() calls made before it, so `await vm.run('httpd -p 8000')` then fetch() works.
   */
  fetch(port: number, input: string | URL | Request, init?: RequestInit): Promise<Response> {
    if (this.#state === 'destroyed') return Promise.reject(new TabvmError('fetch(): the VM was destroyed'));
    const result = this.#queue.then(async () => {
      try {
        return await vmFetch(this.#controller, port, input, init);
      } catch (error) {
        throw new TabvmError(`fetch(): ${(error as Error).message}`, { cause: error });
      }
    });
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * The VM's card on the page's network, with which fetch() reaches the guest. Debian's archive is the
   * package mirror beside the image's manifest, as in the app (an image without one gets apt's 404s).
   */
  #card(manifestUrl: string): NonNullable<VmControllerOptions['net']> {
    const mirror = packageMirror(DEBIAN_ARCHIVE, new URL('mirror/', manifestUrl).href);
    const card = pageNetworkCard(
      (line) => this.#controller.note(line),
      () => [mirror],
    );
    return { mac: randomMacAddress(), onNetwork: card.onNetwork, connectToGuest: (port) => card.connectToGuest(port) };
  }

  /** Powers the VM off at once, frees its worker and memory and removes its terminal. */
  destroy(): void {
    if (this.#state === 'destroyed') return;
    this.#controller.dispose();
    this.#terminal?.dispose();
    this.#setState('destroyed');
    for (const set of Object.values(this.#listeners)) set.clear();
    this.#display.clear();
  }
}

/** The bytes of a snapshot file on a web server; an error that says why when there are none. */
async function fetchSnapshot(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(new URL(url, document.baseURI));
  } catch (error) {
    throw new Error(`snapshot ${url} could not be fetched: ${(error as Error).message}`, { cause: error });
  }
  if (!response.ok) throw new Error(`snapshot ${url} could not be fetched: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Creates a VM (not started yet: call start(), or just run()). */
export function createVM(options: CreateVmOptions): TabVm {
  return new TabVm(options);
}
