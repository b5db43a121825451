/**
 * The control plane between the page and a VM worker (DESIGN.md §1, STYLE.md habit 11). The worker
 * implements `VmWorkerApi` and exposes it with Comlink; the page wraps the worker with
 * `Comlink.wrap<VmWorkerApi>()`, so both sides are typed from this one definition. Bulk bytes (the
 * console, the disks' overlay writes, and later network frames and 9p) never travel here: they go
 * through the VM's declared channels (channels.ts, vm-channels.ts), over SharedArrayBuffer rings or
 * messages.
 */
import type { DiskImageManifest } from './disk-image.ts';
import type { ChannelMode, ChannelWire } from './channels.ts';
import type { SnapshotContents } from './snapshot-container.ts';

/**
 * The VM's declared channels as they travel to its worker (vm-channels.ts creates and opens them), all
 * in one mode: `shared` (SharedArrayBuffer rings and a doorbell, with Atomics; the page is cross-origin
 * isolated, or Node) or `message` (the fallback: each channel is a MessagePort, one message per run-loop
 * turn, never one per byte).
 */
export interface VmChannelWires {
  readonly mode: ChannelMode;
  /** The VM's doorbell, which the host rings for input (shared mode; in the message mode the worker has its own). */
  readonly doorbell?: SharedArrayBuffer;
  /** The serial console: a byte stream. */
  readonly console: ChannelWire;
  /** The disks' overlay writes and download status (disk-channel.ts): requests from the VM to the host. */
  readonly disks: ChannelWire;
  /** The network card's Ethernet frames: a frame stream (only when the boot request has `net`). */
  readonly net?: ChannelWire;
  /** The guest agent's lines (docs/guest-agent.md): a byte stream; without it the VM has no agent port. */
  readonly agent?: ChannelWire;
}

export interface VmBootRequest {
  /** Bytes of guest RAM. */
  readonly ramBytes: number;
  readonly bootargs: string;
  readonly bios: Uint8Array;
  readonly kernel?: Uint8Array;
  readonly initrd?: Uint8Array;
  readonly channels: VmChannelWires;
  /** virtio-blk disks: the first is the guest's /dev/vda, the next /dev/vdb, … */
  readonly disks: readonly VmDiskRequest[];
  /** Shared folders, each a virtio-9p device the guest mounts by its tag (docs/shared-folders.md). */
  readonly shares?: readonly VmShareRequest[];
  /** A virtio-net card, its frames on the `net` channel (docs/networking.md); absent: no network device. */
  readonly net?: VmNetRequest;
  /**
   * Start from this snapshot instead of powering on: a full snapshot, unpacked by the page (its chain
   * flattened, its machine records checked: src/controller/snapshot-restore.ts), so the worker decodes
   * nothing again. The images must be the ones the snapshot names (by sha256); RAM size and bootargs
   * then come from the snapshot, and `ramBytes` must agree. A disk's `overlay` is then empty: the
   * restore puts the snapshot's blocks in.
   */
  readonly snapshot?: SnapshotContents;
  /**
   * CPUs (harts), 1 to 8 (default 1); with more than one, each runs in a worker of its own over the shared
   * memory (docs/harts.md). Without a shared memory (the `message` mode) the VM has one. A snapshot must
   * have been taken with as many.
   */
  readonly harts?: number;
  /**
   * The size of the terminal the console is shown in, in character cells, so the guest has it before its
   * shell starts (the virtio console, docs/console.md); after a snapshot restore it replaces the
   * snapshot's. Default 80×24.
   */
  readonly consoleSize?: ConsoleSize;
  /**
   * Build the machine but leave it paused until resume(): a VM moved from another tab waits so until that
   * tab has let it go (src/controller/vm-migration.ts).
   */
  readonly paused?: boolean;
}

/** A terminal's size in character cells. */
export interface ConsoleSize {
  readonly cols: number;
  readonly rows: number;
}

export interface VmNetRequest {
  /**
   * The card's address, "52:54:00:12:34:56" (workers/protocol/mac-address.ts). A restored snapshot's
   * card keeps the address its guest read at boot instead.
   */
  readonly mac: string;
}

/** Where a disk's base image comes from; the guest's writes never reach it. */
export type VmDiskSource =
  /** A chunked image on a web server; `baseUrl` is the absolute URL of the directory of its manifest. */
  | { readonly kind: 'chunked'; readonly baseUrl: string; readonly manifest: DiskImageManifest }
  /** A raw image in memory (a file the user chose), a multiple of 4 KiB. */
  | { readonly kind: 'raw'; readonly bytes: Uint8Array }
  /**
   * A raw image file on the host, read and written in place (the Node runner: only a runner that can
   * open files accepts it); its overlay must be empty.
   */
  | { readonly kind: 'file'; readonly path: string };

/** A shared folder's files. */
export type VmShareSource =
  /** A directory on the host, shared in place (the Node runner: only a runner that can open one accepts it). */
  | { readonly kind: 'directory'; readonly path: string }
  /** An empty tree in the worker's memory, gone with the VM. */
  | { readonly kind: 'memory' }
  /**
   * A folder in the browser (workers/host/9p/handle-tree.ts): the VM's folder in the Origin Private File
   * System, or one the user picked with showDirectoryPicker, whose permission the page has asked for.
   */
  | { readonly kind: 'handle'; readonly handle: FileSystemDirectoryHandle };

export interface VmShareRequest {
  /** The mount tag (`mount -t 9p -o trans=virtio TAG DIR`). */
  readonly tag: string;
  readonly source: VmShareSource;
  /** The guest may not write (every change gets EROFS). */
  readonly readOnly?: boolean;
}

export interface VmDiskRequest {
  readonly source: VmDiskSource;
  /**
   * The VM's copy-on-write overlay as saved before: block index → OVERLAY_BLOCK_BYTES (4 KiB) bytes.
   * The guest's writes add blocks, sent to the host over the VM's `disks` channel (disk-channel.ts).
   */
  readonly overlay: ReadonlyMap<number, Uint8Array>;
  /** The guest may not write (the virtio-blk RO feature). */
  readonly readOnly?: boolean;
  /**
   * The identity of the source's image (disk-image.ts: chunkedDiskIdentity, rawDiskIdentity): snapshots
   * record it, and restoring one refuses a disk with another.
   */
  readonly image?: string;
}

export interface VmSnapshotRequest {
  /** The new snapshot's id. */
  readonly id: string;
  /**
   * Store only the pages and disk blocks changed since this snapshot, if it is the last of its series
   * this worker took (or the one it was restored from); the worker keeps those fingerprints. Otherwise
   * the snapshot is full.
   */
  readonly parent?: string;
  /**
   * Which series this snapshot continues (default "default"): the person's snapshots and the automatic
   * ones are separate series, so automatic snapshots do not make the person's next one full.
   */
  readonly series?: string;
}

export interface VmSnapshotResult {
  /** The snapshot file (workers/protocol/snapshot-format.ts), transferred. */
  readonly bytes: Uint8Array<ArrayBuffer>;
  readonly id: string;
  /** The parent it is a child of, or null for a full snapshot. */
  readonly parent: string | null;
  /** Milliseconds the guest stood still for the capture. */
  readonly pausedMs: number;
}

/** What the worker's run loop is doing. */
export type VmRunState = 'running' | 'idle' | 'paused' | 'halted';

export interface VmStats {
  readonly state: VmRunState;
  /** Guest instructions retired since power-on (all boots of this worker). */
  readonly instructions: number;
  /** Milliseconds this worker has run guests, pauses excluded (the interval for instructions per second). */
  readonly uptimeMs: number;
  /**
   * The guest's clock (mtime) in milliseconds: how long the machine has run since it was powered on,
   * pauses excluded. It continues from a restored snapshot's time and across the guest's own reboots
   * (mtime does), and starts again at 0 when the host resets the machine.
   */
  readonly guestTimeMs: number;
  /**
   * Milliseconds of host CPU this worker's threads spent running the guest since it booted (all harts
   * summed; sleeps in WFI and pauses excluded): the page's CPU figure is its rate.
   */
  readonly cpuMs: number;
  /** Guest-initiated reboots so far. */
  readonly reboots: number;
  /** Whether guest RAM is a shared WebAssembly.Memory. */
  readonly sharedMemory: boolean;
  /** The guest's CPUs (harts): one without a shared memory, whatever the boot request asked for. */
  readonly harts: number;
}

export type VmHalt =
  | { readonly reason: 'poweroff'; readonly exitCode: number }
  | { readonly reason: 'host' }
  | { readonly reason: 'error'; readonly message: string }
  /** The guest kernel panicked (workers/host/panic-watch.ts); `message` is its panic line. */
  | { readonly reason: 'panic'; readonly message: string };

/**
 * Calls from the worker to the page (passed to boot() as a Comlink proxy; results are not awaited).
 * Only control: the disks' writes and status travel over the `disks` channel.
 */
export interface VmEvents {
  /** The guest rebooted itself (SBI system reset → the SiFive test device). */
  rebooted(): unknown;
  /** The run loop ended: guest poweroff, powerOff() from the page, a guest kernel panic, or an emulator error. */
  halted(halt: VmHalt): unknown;
}

export interface VmWorkerApi {
  /** Builds the machine from the images (or the snapshot) and starts running it; resolves once it runs. */
  boot(request: VmBootRequest, events: VmEvents): Promise<void>;
  /** Pauses the guest, captures it, resumes it (unless it was paused), then compresses the capture. */
  snapshot(request: VmSnapshotRequest): Promise<VmSnapshotResult>;
  pause(): void;
  resume(): void;
  /** Block requests in flight complete and every disk's held-back writes reach the host; rejects if one cannot. */
  flushDisks(): Promise<void>;
  /** The console's terminal now has `cols` × `rows` cells: the guest is told (a virtio console config change). */
  resize(cols: number, rows: number): void;
  /** A hardware reset: the images are reloaded and the hart starts again at the boot ROM. */
  reset(): Promise<void>;
  /** Pulls the plug: the run loop ends and `halted({ reason: 'host' })` follows. */
  powerOff(): void;
  stats(): VmStats;
}
