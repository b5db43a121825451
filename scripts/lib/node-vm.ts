/**
 * A VM in a Node worker thread, as the headless runner and the benchmark use it: the worker hosts the
 * VM runtime; this side sends it the same boot request the browser's worker gets, holds the host ends
 * of its channels (shared mode) and a small stats block the worker keeps current (instructions
 * retired), and learns of the guest's halt by message.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { ByteRing } from '../../workers/protocol/ring.ts';
import { createVmChannels, type HostVmChannels } from '../../workers/protocol/vm-channels.ts';
import { serveDisks } from '../../workers/protocol/disk-channel.ts';
import { plugNetwork, withLease, type NetworkHook, type PluggedNetwork } from '../../workers/protocol/net-link.ts';
import { restoredCard } from '../../workers/protocol/snapshot-records.ts';
import { GuestAgent } from '../../workers/protocol/guest-agent.ts';
import type { ConsoleSize, VmBootRequest, VmDiskRequest } from '../../workers/protocol/vm-api.ts';
import type { SnapshotContents } from '../../workers/protocol/snapshot-container.ts';
import { TextConsole } from './console-session.ts';
import type { DiskSpec, VmFiles } from './vm-options.ts';
import type { NodeVmWorkerData, NodeVmWorkerMessage } from '../vm-node-worker.ts';

const root = resolve(fileURLToPath(import.meta.url), '../../..');

export type VmEnd =
  | { readonly kind: 'halted'; readonly exitCode: number }
  | { readonly kind: 'error'; readonly message: string }
  /** The guest kernel panicked; `message` is its panic line. */
  | { readonly kind: 'panicked'; readonly message: string };

/** A `--disk`: a raw file in place, or a chunked image's directory under an overlay kept in memory. */
function diskRequest(disk: DiskSpec): VmDiskRequest {
  if (!disk.chunked) return { source: { kind: 'file', path: disk.path }, overlay: new Map(), readOnly: disk.readOnly };
  return {
    source: { kind: 'chunked', baseUrl: pathToFileURL(disk.path).href, manifest: disk.chunked },
    overlay: new Map(),
    readOnly: disk.readOnly || disk.chunked.readOnly === true,
  };
}

export interface NodeVmOptions {
  readonly harts?: number;
  readonly consoleSize?: ConsoleSize;
  readonly onNetwork?: NetworkHook;
}

export class NodeVm {
  readonly #channels: HostVmChannels;
  readonly #stats = new Float64Array(new SharedArrayBuffer(8));
  readonly #snapshotRequests = new Int32Array(new SharedArrayBuffer(4));
  /** [resizes so far, cols, rows] (NodeVmWorkerData.consoleSize). */
  readonly #consoleSize = new Int32Array(new SharedArrayBuffer(12));
  readonly #worker: Worker;
  /** Set by terminate(): the worker's exit is then ours, not a failure. */
  #terminated = false;
  readonly ended: Promise<VmEnd>;

  readonly #network: PluggedNetwork | undefined;
  /** The guest agent (docs/guest-agent.md): the guest's listening ports, its clock, address and CA. */
  readonly agent: GuestAgent;

  #snapshotWaiters: { resolve: (bytes: Uint8Array) => void; reject: (error: Error) => void }[] = [];

  /**
   * `snapshot`: start from this full snapshot, decoded and checked against the images, instead of powering
   * on. Options: `harts`, the guest's CPUs, each beyond one in a worker thread of its own; `consoleSize`, the
   * terminal's size at power-on (or after the restore), for the guest's virtio console; `onNetwork`, what the
   * network card (files.net) is plugged into (the user-mode network, a test's peer) — without it the card's
   * link is up but its frames go nowhere and none come.
   */
  constructor(files: VmFiles, snapshot?: SnapshotContents, options: NodeVmOptions = {}) {
    const { harts = 1, consoleSize, onNetwork } = options;
    // A restored card takes this run's address only if the guest's agent re-addresses the guest (restoredCard).
    const card = snapshot && restoredCard(snapshot.header, files.net?.mac);
    const mac = files.net && (card?.mac ?? files.net.mac);
    this.#channels = createVmChannels('shared', { net: files.net !== undefined });
    const request: VmBootRequest = {
      ramBytes: files.ramSize,
      bootargs: files.bootargs,
      bios: files.bios,
      ...(files.kernel ? { kernel: files.kernel } : {}),
      ...(files.initrd ? { initrd: files.initrd } : {}),
      channels: this.#channels.wires,
      disks: (files.disks ?? []).map(diskRequest),
      ...(files.shares
        ? {
            shares: files.shares.map((share) => ({
              tag: share.tag,
              source: { kind: 'directory' as const, path: share.path },
              readOnly: share.readOnly,
            })),
          }
        : {}),
      ...(mac ? { net: { mac } } : {}),
      ...(snapshot ? { snapshot } : {}),
      ...(harts > 1 ? { harts } : {}),
      ...(consoleSize ? { consoleSize } : {}),
    };
    const workerData: NodeVmWorkerData = {
      request,
      corePath: resolve(root, 'workers/cpu/build/core.wasm'),
      stats: this.#stats.buffer as SharedArrayBuffer,
      snapshotRequests: this.#snapshotRequests.buffer as SharedArrayBuffer,
      consoleSize: this.#consoleSize.buffer as SharedArrayBuffer,
    };
    this.#worker = new Worker(new URL('../vm-node-worker.mjs', import.meta.url), { workerData });
    // The overlays of chunked images live in the worker's memory for the run (disk files are written in
    // place): their writes come over the disks channel as in the browser, and are acknowledged.
    const stopDisks = serveDisks(this.#channels.disks, { writes: () => Promise.resolve(), status() {} });
    // Without a network the card's frames are read and dropped, as by a cable into nothing.
    // A restored card's record may carry its guest's address: the network is told it is taken.
    const hook = card ? withLease(onNetwork, card) : onNetwork;
    if (this.#channels.net) this.#network = plugNetwork(this.#channels.net, hook ?? (() => ({ receive() {} })));
    this.ended = new Promise((resolveEnd) => {
      this.#worker.on('message', (message: NodeVmWorkerMessage) => {
        if (message.kind === 'snapshot') this.#snapshotWaiters.shift()?.resolve(message.bytes);
        else if (message.kind === 'snapshot-failed') this.#snapshotWaiters.shift()?.reject(new Error(message.message));
        else resolveEnd(message.kind === 'halted' ? { kind: 'halted', exitCode: message.exitCode } : message);
      });
      this.#worker.on('error', (error: Error) => {
        resolveEnd({ kind: 'error', message: `the VM worker crashed: ${error.stack ?? error.message}` });
      });
      // After a halt this changes nothing; before one it is a worker that ended with nothing left to do,
      // which a console waiting for output would otherwise wait on for ever.
      this.#worker.on('exit', (code: number) => {
        if (!this.#terminated)
          resolveEnd({ kind: 'error', message: `the VM worker exited (code ${code}) while its guest ran` });
      });
    });
    // The runtime settles its disks before it reports the halt: nothing more comes.
    void this.ended.then(stopDisks);
    this.agent = new GuestAgent(this.#channels.agent, { wake: () => this.#channels.doorbell.ring() });
    // A restored guest's clock is the snapshot's, and its eth0 has the snapshot's address: the agent, if
    // the guest has one, sets both to this run's. Without an agent nothing answers; nothing waits on it.
    if (snapshot) {
      this.agent.setTime().catch(() => {});
      if (mac) this.agent.setNet(mac).catch(() => {});
    }
  }

  /** The console's guest→host ring, read directly (the shared mode needs no listener). */
  get output(): ByteRing {
    return this.#channels.console.end.rx;
  }

  /** Guest instructions retired so far. */
  get instructions(): number {
    return this.#stats[0]!;
  }

  /** Console input; bytes the ring cannot take now are dropped, as on a serial line without flow control. */
  send(bytes: Uint8Array): void {
    this.#channels.console.write(bytes);
  }

  /** The terminal now has `cols` × `rows` cells: the guest's virtio console is told. */
  resize(cols: number, rows: number): void {
    Atomics.store(this.#consoleSize, 1, cols);
    Atomics.store(this.#consoleSize, 2, rows);
    Atomics.add(this.#consoleSize, 0, 1);
    this.#channels.doorbell.ring();
  }

  /** A full snapshot file of the running VM (the guest stands still only for the capture). */
  snapshot(): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.#snapshotWaiters.push({ resolve, reject });
      Atomics.add(this.#snapshotRequests, 0, 1);
      this.#channels.doorbell.ring();
    });
  }

  /** Frames for the guest the host's end dropped (the guest read none for a while), with a network plugged. */
  get netDropped(): number {
    return this.#network?.dropped ?? 0;
  }

  terminate(): Promise<number> {
    this.#terminated = true;
    this.agent.close();
    this.#network?.unplug();
    this.#channels.close();
    return this.#worker.terminate();
  }
}

/** A NodeVm's console as text, for scripts that wait for output and type commands. */
export class NodeVmConsole extends TextConsole {
  #ended = false;

  constructor(readonly vm: NodeVm) {
    super();
    void vm.ended.then(() => {
      this.#ended = true;
      this.append(new TextDecoder('latin1').decode(vm.output.read()));
    });
    void this.#pump();
  }

  get exited(): boolean {
    return this.#ended;
  }

  type(text: string): void {
    this.vm.send(new TextEncoder().encode(text));
  }

  async #pump(): Promise<void> {
    const decoder = new TextDecoder('latin1');
    while (!this.#ended) {
      const seen = this.vm.output.writeCount();
      const bytes = this.vm.output.read();
      if (bytes.length > 0) this.append(decoder.decode(bytes));
      else await this.vm.output.waitForData(seen, 50);
    }
  }
}
