/**
 * The embedding library's public types, written out in one file that imports nothing, so the published
 * declarations need neither zod nor xterm. The schemas that check values against them are in
 * options.ts and messages.ts.
 */

/** createVM()'s options. */
export interface VmOptionsInput {
  /**
   * URL of the image's manifest.json (relative URLs are resolved against the page). Needed also with
   * `snapshotUrl`: a snapshot names its boot images by sha256 and does not hold them.
   */
  readonly image: string;
  /**
   * URL of a snapshot file (`.tabvm`) to start from instead of booting: the VM continues where the
   * snapshot was taken, in about a second. It must have been taken with `image` and with `memory` MiB.
   */
  readonly snapshotUrl?: string | undefined;
  /** Guest RAM in MiB (16 to 2048; 256 if not given). */
  readonly memory?: number | undefined;
  /**
   * CPUs (harts), 1 to 8 (1 if not given), each in a worker of its own. A page that is not cross-origin
   * isolated runs one (mode `fallback`). With `snapshotUrl` the snapshot's own count is used.
   */
  readonly cpus?: number | undefined;
  /** The end of the shell prompt; the VM is ready once its console output ends with this. Default `/[#$] $/`. */
  readonly prompt?: RegExp | undefined;
  /**
   * A network card on the browser's network (true if not given): the guest's http:// requests on port
   * 80 become fetch() from this page, 10.0.2.2 is this page's origin (docs/networking.md). The network's
   * notices (a site without CORS, a refused port) are lines in the console. With `snapshotUrl` the
   * snapshot's card is used.
   */
  readonly network?: boolean | undefined;
  /**
   * A wisp relay's WebSocket URL (`ws://` or `wss://`; `npm run relay` starts one): the guest's TCP to
   * ports other than 80, and its UDP, go through it (docs/networking.md, "The relay"). The network is the
   * page's, so the relay is too: the last VM created with one sets it for all the page's VMs.
   */
  readonly relay?: string | undefined;
}

export interface VmOptions {
  readonly image: string;
  readonly snapshotUrl?: string | undefined;
  readonly memory: number;
  readonly cpus: number;
  readonly prompt: RegExp;
  readonly network: boolean;
  readonly relay?: string | undefined;
}

export interface CreateVmOptions extends VmOptionsInput {
  /** Where to show the VM's terminal; without it the VM runs headless. */
  readonly container?: HTMLElement;
}

/**
 * created: not started yet · downloading: fetching the image (and the snapshot) · booting: firmware and kernel until the
 * shell's first prompt · ready: the shell takes commands · stopped: the guest powered off · error: the
 * image could not be loaded or the emulator failed (`error` says why) · destroyed: destroy() was called.
 */
export type VmState = 'created' | 'downloading' | 'booting' | 'ready' | 'stopped' | 'error' | 'destroyed';

/** shared: guest RAM in shared memory, console over SharedArrayBuffer rings (the page is cross-origin
 * isolated); fallback: private memory and a message-based console (any page). */
export type VmMode = 'shared' | 'fallback';

export interface RunResult {
  /** What the command printed (stdout and stderr, as on a terminal), lines ending in `\n`. */
  readonly output: string;
  readonly exitCode: number;
}

export interface VmEventMap {
  /** Console text as the reader sees it. */
  output: string;
  state: VmState;
}

/** An entry of listFiles(): a file or a directory in the VM's shared folder. */
export interface FileEntry {
  readonly name: string;
  readonly kind: 'file' | 'directory';
  /** Bytes (0 for a directory). */
  readonly size: number;
  /** Last modified, in milliseconds since the epoch. */
  readonly modified: number;
}

export interface TimeoutOption {
  /** Milliseconds before the promise rejects with a TabvmTimeoutError. */
  readonly timeout?: number | undefined;
}

// --- the iframe page's postMessage API (embed.html; see messages.ts) ---

export type EmbedRequest =
  | { readonly type: 'tabvm:start'; readonly id: string | number; readonly timeout?: number | undefined }
  | {
      readonly type: 'tabvm:run';
      readonly id: string | number;
      readonly command: string;
      readonly timeout?: number | undefined;
    }
  | { readonly type: 'tabvm:type'; readonly id: string | number; readonly text: string }
  /** Replies with the snapshot file's bytes (a Uint8Array). */
  | { readonly type: 'tabvm:snapshot'; readonly id: string | number }
  /** Restores the given snapshot file, or without `bytes` the last one tabvm:snapshot took. */
  | { readonly type: 'tabvm:restore'; readonly id: string | number; readonly bytes?: Uint8Array | undefined }
  /**
   * The VM's shared folder (the guest's /mnt/shared); `path` is relative to it. writeFile replies
   * null, readFile with the file's bytes (a Uint8Array), listFiles with FileEntry[].
   */
  | {
      readonly type: 'tabvm:writeFile';
      readonly id: string | number;
      readonly path: string;
      readonly data: string | Uint8Array;
    }
  | { readonly type: 'tabvm:readFile'; readonly id: string | number; readonly path: string }
  | { readonly type: 'tabvm:listFiles'; readonly id: string | number; readonly path?: string | undefined }
  /**
   * An HTTP request to the guest's TCP `port` (`path` from '/', with its query); replies with
   * `FetchReply`, the whole body included.
   */
  | {
      readonly type: 'tabvm:fetch';
      readonly id: string | number;
      readonly port: number;
      readonly path: string;
      readonly method?: string | undefined;
      readonly headers?: Readonly<Record<string, string>> | undefined;
      readonly body?: string | Uint8Array | undefined;
    }
  | {
      readonly type: 'tabvm:waitFor';
      readonly id: string | number;
      /** Exactly one of text and regexp. */
      readonly text?: string | undefined;
      readonly regexp?: { readonly source: string; readonly flags: string } | undefined;
      readonly timeout?: number | undefined;
    };

/** What tabvm:fetch replies with: the guest server's response, its body whole. */
export interface FetchReply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
}

export type EmbedReply =
  | { readonly type: 'tabvm:reply'; readonly id: string | number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'tabvm:reply'; readonly id: string | number; readonly ok: false; readonly error: string };

export type EmbedEvent =
  | { readonly type: 'tabvm:ready'; readonly mode: VmMode }
  | { readonly type: 'tabvm:state'; readonly state: VmState }
  | { readonly type: 'tabvm:output'; readonly text: string };
