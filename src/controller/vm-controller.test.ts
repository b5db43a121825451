/**
 * VmController with a disk image, against an in-process stand-in for the VM worker (Comlink over a
 * MessageChannel) and fake-indexeddb: the boot request carries the image's disk and the VM's saved
 * overlay, the guest's writes land in IndexedDB, download status and failures reach the view, an
 * overlay written over another image is refused, and resetDisk() forgets it. A restore unpacks the
 * snapshot once and writes the overlay once; a snapshot whose machine records are bad never reaches
 * the worker.
 */
import 'fake-indexeddb/auto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { MessageChannel } from 'node:worker_threads';
import * as Comlink from 'comlink';
import type { VmBootRequest, VmEvents, VmStats, VmWorkerApi } from '../../workers/protocol/vm-api.ts';
import { VmController } from './vm-controller.ts';
import { loadOverlay, saveOverlayBlocks } from '../storage/disk-overlay.ts';
import { brokenSnapshots, testSnapshotDisk, testSnapshotFile } from '../../workers/test-support/test-snapshot-file.ts';
import { chunkedDiskIdentity, type DiskImageManifest } from '../../workers/protocol/disk-image.ts';
import { MIB } from '../../workers/protocol/machine-limits.ts';
import { ByteStream, RequestChannel, openChannel, vmDoorbell } from '../../workers/protocol/channels.ts';
import { DiskClient } from '../../workers/protocol/disk-channel.ts';
import { countDecompressions } from '../../workers/test-support/count-decompressions.ts';

const bios = new Uint8Array(1024).fill(1);
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const disk = {
  format: 'tabvm-chunked-disk-v1',
  size: 2 * 65536,
  chunkSize: 65536,
  chunks: [{ index: 1, sha256: sha(bios), compressedSize: 4321 }],
};
const manifest = {
  name: 'default',
  title: 'Test image with a disk',
  files: { bios: { path: 'fw.bin', size: bios.length, sha256: sha(bios) } },
  bootargs: 'console=ttyS0',
  memory: { default: 64, minimum: 32 },
  disk,
};

/** What the stand-in worker saw, the events it was given, and its ends of the disks and agent channels. */
let booted:
  | { request: VmBootRequest; events: Comlink.Remote<VmEvents>; disks: DiskClient; agent: ByteStream }
  | undefined;
/** The guest clock the stand-in worker reports. */
let guestTimeMs = 0;
/** Whether the stand-in worker's stats calls never answer (a worker whose event loop is stuck). */
let statsHang = false;

class FakeWorker {
  readonly #port;
  constructor() {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const api: Partial<VmWorkerApi> = {
      boot: async (request, events) => {
        const disks = new RequestChannel(openChannel(request.channels.disks));
        disks.listen();
        booted = {
          request,
          events: events as unknown as Comlink.Remote<VmEvents>,
          disks: new DiskClient(disks),
          agent: new ByteStream(openChannel(request.channels.agent!, vmDoorbell(undefined))),
        };
      },
      stats: () => {
        // Comlink answers when what the call returned settles: a stuck worker's answer never comes.
        if (statsHang) return new Promise<never>(() => {}) as unknown as VmStats;
        return {
          state: 'idle',
          instructions: 0,
          uptimeMs: 0,
          guestTimeMs,
          cpuMs: 0,
          reboots: 0,
          sharedMemory: false,
          harts: 1,
        };
      },
    };
    Comlink.expose(api, port2 as unknown as Comlink.Endpoint);
  }
  postMessage(message: unknown, transfer?: Transferable[]): void {
    this.#port.postMessage(message, transfer as never);
  }
  addEventListener(type: string, listener: (event: unknown) => void): void {
    if (type === 'message') this.#port.on('message', (data: unknown) => listener({ data }));
  }
  removeEventListener(): void {}
  terminate(): void {
    this.#port.close();
  }
}

beforeEach(() => {
  booted = undefined;
  guestTimeMs = 0;
  statsHang = false;
  vi.stubGlobal('Worker', FakeWorker);
  vi.stubGlobal('location', { href: 'http://host.test/' });
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: string | URL | Request) => {
      const url = String(input);
      if (url.endsWith('manifest.json')) return new Response(JSON.stringify(manifest));
      if (url.endsWith('/fw.bin')) return new Response(bios);
      return new Response('missing', { status: 404 });
    }),
  );
});

afterEach(() => vi.unstubAllGlobals());

async function startedController(id: string): Promise<VmController> {
  const controller = new VmController({ id, image: 'default', ramMiB: 64, shared: false });
  await controller.start();
  await vi.waitFor(() => expect(booted).toBeDefined());
  return controller;
}

describe('VmController with a disk image', () => {
  it('boots with the image disk and the saved overlay, and keeps what the guest writes', async () => {
    const first = await startedController('vm-1');
    expect(first.getView().phase).toBe('running');
    const request = booted!.request;
    expect(request.disks[0]?.source).toEqual({
      kind: 'chunked',
      baseUrl: 'http://host.test/images/default/',
      manifest: disk,
    });
    expect(request.disks[0]?.overlay.size).toBe(0);
    expect(first.getView().disk).toEqual({ downloadedBytes: 0, totalBytes: 4321, fetchedChunks: 0 });

    await booted!.disks.writes(0, new Map([[5, new Uint8Array(4096).fill(9)]]));
    await booted!.disks.status(0, { downloadedBytes: 4321, fetchedChunks: 1, totalBytes: 4321 });
    // The saved write counts as bytes written.
    expect(first.getView().disk).toEqual({
      downloadedBytes: 4321,
      fetchedChunks: 1,
      totalBytes: 4321,
      writtenBytes: 4096,
    });
    await booted!.disks.status(0, {
      downloadedBytes: 4321,
      fetchedChunks: 1,
      totalBytes: 4321,
      error: 'disk chunk 1 could not be read: HTTP 503',
    });
    expect(first.getView().disk?.error).toMatch(/HTTP 503/);
    first.powerOff();

    // The next start (a reload would do the same) hands the saved block to the worker.
    const second = await startedController('vm-1');
    expect([...booted!.request.disks[0]!.overlay.keys()]).toEqual([5]);
    expect(booted!.request.disks[0]!.overlay.get(5)![0]).toBe(9);
    second.powerOff();
  });

  it('refuses resetDisk while running; after power-off it forgets the overlay', async () => {
    const controller = await startedController('vm-2');
    await booted!.disks.writes(0, new Map([[0, new Uint8Array(4096)]]));
    await expect(controller.resetDisk()).rejects.toThrow(/power the VM off/);
    const late = booted!.disks;
    controller.powerOff();
    await controller.resetDisk();
    expect((await loadOverlay('vm-2')).blocks.size).toBe(0);
    // Writes the powered-off worker sends after the disk was reset do not come back (nobody answers them).
    void late.writes(0, new Map([[1, new Uint8Array(4096)]]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await loadOverlay('vm-2')).blocks.size).toBe(0);
  });

  it('refuses an overlay written over another version of the image, until Reset disk', async () => {
    await saveOverlayBlocks('vm-3', 'default:some-older-disk', new Map([[0, new Uint8Array(4096)]]));
    const controller = new VmController({ id: 'vm-3', image: 'default', ramMiB: 64, shared: false });
    await controller.start();
    expect(controller.getView().phase).toBe('error');
    expect(controller.getView().error).toEqual({
      kind: 'disk',
      message: expect.stringMatching(/another version of image default; Reset disk/),
    });
    expect(booted).toBeUndefined();
    await controller.resetDisk();
    expect(controller.getView().phase).toBe('stopped');
    await controller.start();
    await vi.waitFor(() => expect(booted).toBeDefined());
    controller.powerOff();
  });

  it('reports a save that the browser refuses (storage full), fails it for the guest, and keeps what was saved', async () => {
    const controller = await startedController('vm-4');
    await booted!.disks.writes(0, new Map([[1, new Uint8Array(4096).fill(1)]]));
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('the quota has been exceeded', 'QuotaExceededError');
    });
    await expect(booted!.disks.writes(0, new Map([[1, new Uint8Array(4096).fill(2)]]))).rejects.toThrow(
      /could not be saved/,
    );
    expect(controller.getView().disk?.saveError).toMatch(
      /could not be saved in the browser \(the quota has been exceeded\)/,
    );
    put.mockRestore();
    expect((await loadOverlay('vm-4')).blocks.get(1)![0]).toBe(1);
    await booted!.disks.writes(0, new Map([[1, new Uint8Array(4096).fill(3)]]));
    expect(controller.getView().disk?.saveError).toBeUndefined();
    controller.powerOff();
  });

  it('restoring a snapshot boots with its disk overlay, makes the stored overlay exactly that, and shows its guest time as uptime', async () => {
    const controller = await startedController('vm-5');
    await booted!.disks.writes(
      0,
      new Map([
        [5, new Uint8Array(4096).fill(9)],
        [7, new Uint8Array(4096).fill(7)],
      ]),
    );
    const snapshot = await testSnapshotFile({
      id: 'snap-1',
      ramSize: 64 * MIB,
      bios: { size: bios.length, sha256: sha(bios) },
      disks: [testSnapshotDisk(disk.size, await chunkedDiskIdentity(disk as DiskImageManifest))],
    });
    booted = undefined;
    // The restored worker's guest clock continues from the snapshot's time: the pane's uptime shows it.
    guestTimeMs = 3_723_000;
    await controller.restore([snapshot]);
    expect(controller.getView().uptimeMs).toBe(3_723_000);
    await vi.waitFor(() => expect(booted).toBeDefined());
    // The worker gets the snapshot unpacked, and puts its overlay in itself: the disk comes without one.
    const restored = booted!.request.snapshot!;
    expect(restored.header.id).toBe('snap-1');
    expect(booted!.request.disks[0]!.image).toBe(await chunkedDiskIdentity(disk as DiskImageManifest));
    expect(booted!.request.disks[0]!.overlay.size).toBe(0);
    expect([...restored.disks[0]!.indices]).toEqual([5]);
    expect(restored.disks[0]!.data[0]).toBe(1);
    // Block 7 was written after the snapshot: it is gone from storage, block 5 is the snapshot's.
    const stored = await loadOverlay('vm-5');
    expect([...stored.blocks.keys()]).toEqual([5]);
    expect(stored.blocks.get(5)![0]).toBe(1);
    // The restored VM's own writes are kept on top.
    await booted!.disks.writes(0, new Map([[6, new Uint8Array(4096).fill(6)]]));
    expect([...(await loadOverlay('vm-5')).blocks.keys()]).toEqual([5, 6]);
    controller.powerOff();
  });

  it('refuses a snapshot taken on another build of the disk image; the VM runs on and storage keeps its overlay', async () => {
    const controller = await startedController('vm-6');
    const running = booted!;
    await running.disks.writes(0, new Map([[7, new Uint8Array(4096).fill(7)]]));
    const snapshot = await testSnapshotFile({
      id: 'snap-other-build',
      ramSize: 64 * MIB,
      bios: { size: bios.length, sha256: sha(bios) },
      // The same size and chunking, another chunk: a rebuilt image.
      disks: [testSnapshotDisk(disk.size, await chunkedDiskIdentity({ ...(disk as DiskImageManifest), chunks: [] }))],
    });
    booted = undefined;
    await expect(controller.restore([snapshot])).rejects.toThrow(
      /^this snapshot was taken on a different build of the Test image with a disk disk image than this VM runs on \(snapshot: chunks-sha256:[0-9a-f]{12}…, this VM: chunks-sha256:[0-9a-f]{12}…\)$/,
    );
    expect(booted).toBeUndefined();
    expect(controller.getView().phase).toBe('running');
    const stored = await loadOverlay('vm-6');
    expect([...stored.blocks.keys()]).toEqual([7]);
    expect(stored.blocks.get(7)![0]).toBe(7);
    // The running VM's writes still reach storage.
    await running.disks.writes(0, new Map([[8, new Uint8Array(4096).fill(8)]]));
    expect([...(await loadOverlay('vm-6')).blocks.keys()]).toEqual([7, 8]);
    controller.powerOff();
  });

  it('restores in one pass: each file of the chain decompressed once, the overlay written once', async () => {
    const controller = await startedController('vm-7');
    await booted!.disks.writes(0, new Map([[9, new Uint8Array(4096).fill(9)]]));
    const image = await chunkedDiskIdentity(disk as DiskImageManifest);
    const common = { ramSize: 64 * MIB, bios: { size: bios.length, sha256: sha(bios) } };
    const parent = await testSnapshotFile({ ...common, id: 'p', disks: [testSnapshotDisk(disk.size, image, 5, 1)] });
    const child = await testSnapshotFile({
      ...common,
      id: 'c',
      parent: 'p',
      disks: [{ ...testSnapshotDisk(disk.size, image, 6, 2), whole: false }],
    });
    const decompressions = countDecompressions();
    const transaction = vi.spyOn(IDBDatabase.prototype, 'transaction');
    booted = undefined;
    await controller.restore([parent, child]);
    await vi.waitFor(() => expect(booted).toBeDefined());
    expect(decompressions()).toBe(2);
    const writes = transaction.mock.calls.filter(([, mode]) => mode === 'readwrite');
    expect(writes).toHaveLength(1);
    // That one write made the stored overlay the chain's: both blocks, and nothing the VM wrote after.
    const stored = await loadOverlay('vm-7');
    expect([...stored.blocks.keys()]).toEqual([5, 6]);
    expect([stored.blocks.get(5)![0], stored.blocks.get(6)![0]]).toEqual([1, 2]);
    expect(booted!.request.snapshot!.header).toMatchObject({ id: 'c', parent: null });
    controller.powerOff();
  });

  it('refuses at Restore, with one sentence, a snapshot whose machine this tabvm could not build', async () => {
    const controller = await startedController('vm-8');
    const running = booted!;
    await running.disks.writes(0, new Map([[3, new Uint8Array(4096).fill(3)]]));
    booted = undefined;
    const cases = await brokenSnapshots({ bios: { size: bios.length, sha256: sha(bios) } });
    expect(cases).toHaveLength(7);
    for (const { defect, file, refusal } of cases) {
      await expect(controller.restore([file]), defect).rejects.toThrow(refusal);
    }
    expect(booted).toBeUndefined();
    expect(controller.getView().phase).toBe('running');
    expect([...(await loadOverlay('vm-8')).blocks.keys()]).toEqual([3]);
    controller.powerOff();
  });
});

describe('VmController when the guest kernel panics', () => {
  it('shows the VM as crashed with the panic line, its worker ended, and Restart boots it again', async () => {
    const controller = await startedController('vm-panic');
    const panicked = booted!;
    await panicked.events.halted({
      reason: 'panic',
      message: 'Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    });
    expect(controller.getView().phase).toBe('error');
    expect(controller.getView().error).toEqual({
      kind: 'panic',
      message:
        'the guest kernel panicked: Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)',
    });
    expect(controller.running).toBe(false);
    booted = undefined;
    await controller.restart();
    await vi.waitFor(() => expect(booted).toBeDefined());
    expect(booted).not.toBe(panicked);
    expect(controller.getView().phase).toBe('running');
    controller.powerOff();
  });
});

describe("VmController's watchdog", () => {
  afterEach(() => vi.useRealTimers());

  it('counts only the time the page saw pass: a stall of the page is no hang, 15 s of its ticks unanswered are', async () => {
    // The page's clock and its watchdog's ticks, driven by the test; the worker's messages stay real.
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const controller = await startedController('vm-watchdog');
    const tick = async (ms: number) => {
      now += ms;
      vi.advanceTimersByTime(1000);
      // A real moment for the stats call's messages to go and come back.
      await new Promise((r) => setTimeout(r, 20));
    };
    // Answered stats calls keep it running.
    for (let i = 0; i < 3; i++) await tick(1000);
    expect(controller.getView().phase).toBe('running');
    statsHang = true;
    await tick(1000); // a stats call that will not be answered
    // The page itself stood still for a minute (a suspended machine, a frozen tab): that counts as 2 s.
    await tick(60_000);
    for (let i = 0; i < 12; i++) await tick(1000);
    expect(controller.getView().phase).toBe('running');
    // 14 s of the page's own ticks so far; past 15 s the worker is stuck.
    await tick(1000);
    await tick(1000);
    expect(controller.getView().phase).toBe('error');
    expect(controller.getView().error).toEqual({
      kind: 'hang',
      message: 'the VM has not answered for 15 s: its worker is stuck',
    });
    expect(controller.running).toBe(false);
  });
});

describe('VmController with an image that has a pre-booted snapshot', () => {
  async function serveSnapshot(file: Uint8Array<ArrayBuffer> | undefined, sha256 = file ? sha(file) : '0'.repeat(64)) {
    const withSnapshot = {
      ...manifest,
      snapshot: { path: 'booted.tabvm', size: file?.length ?? 10, sha256, memory: 64 },
    };
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: string | URL | Request) => {
        const url = String(input);
        if (url.endsWith('manifest.json')) return new Response(JSON.stringify(withSnapshot));
        if (url.endsWith('/fw.bin')) return new Response(bios);
        if (url.endsWith('/booted.tabvm') && file) return new Response(file);
        return new Response('missing', { status: 404 });
      }),
    );
  }

  async function bootedSnapshot(): Promise<Uint8Array<ArrayBuffer>> {
    return testSnapshotFile({
      id: 'image-booted',
      ramSize: 64 * MIB,
      bios: { size: bios.length, sha256: sha(bios) },
      disks: [testSnapshotDisk(disk.size, await chunkedDiskIdentity(disk as DiskImageManifest), 3, 4)],
    });
  }

  it('starts a VM with an unwritten disk from it, RTC at the wall clock; later starts and other RAM sizes boot', async () => {
    await serveSnapshot(await bootedSnapshot());
    const now = Date.UTC(2031, 0, 2, 3, 4, 5);
    vi.spyOn(Date, 'now').mockReturnValue(now);
    const controller = await startedController('vm-snap-1');
    const restored = booted!.request.snapshot!;
    expect(restored.header.id).toBe('image-booted');
    // The test snapshot's clock stands at tick 0: the RTC reads the wall clock at the restore.
    expect((restored.header.devices.rtc as { offsetNs: string }).offsetNs).toBe(String(BigInt(now) * 1_000_000n));
    expect(controller.getView().phase).toBe('running');
    expect([...(await loadOverlay('vm-snap-1')).blocks.keys()]).toEqual([3]);
    controller.powerOff();
    vi.mocked(Date.now).mockRestore();

    // Its disk holds the snapshot's blocks now: the next Start boots on them.
    booted = undefined;
    await controller.start();
    await vi.waitFor(() => expect(booted).toBeDefined());
    expect(booted!.request.snapshot).toBeUndefined();
    expect([...booted!.request.disks[0]!.overlay.keys()]).toEqual([3]);
    controller.powerOff();

    booted = undefined;
    const bigger = new VmController({ id: 'vm-snap-2', image: 'default', ramMiB: 128, shared: false });
    await bigger.start();
    await vi.waitFor(() => expect(booted).toBeDefined());
    expect(booted!.request.snapshot).toBeUndefined();
    bigger.powerOff();
  });

  it('boots, saying why, when the snapshot file cannot be used', async () => {
    await serveSnapshot(undefined);
    const notes: string[] = [];
    const controller = new VmController({ id: 'vm-snap-3', image: 'default', ramMiB: 64, shared: false });
    controller.console.subscribe((bytes) => notes.push(new TextDecoder().decode(bytes)));
    await controller.start();
    await vi.waitFor(() => expect(booted).toBeDefined());
    expect(booted!.request.snapshot).toBeUndefined();
    expect(notes.join('')).toMatch(
      /pre-booted snapshot cannot be used \(booted\.tabvm: the server answered HTTP 404\); booting/,
    );
    controller.powerOff();
  });
});

describe('VmController and the guest agent', () => {
  /** The guest agent's end of the stand-in worker: lines the host sent, and lines it sends. */
  const agentEnd = () => {
    const stream = booted!.agent;
    let received = '';
    return {
      async lines(count: number): Promise<string[]> {
        await vi.waitFor(() => {
          received += new TextDecoder().decode(stream.read());
          expect(received.split('\n').length).toBeGreaterThan(count);
        });
        const lines = received.split('\n');
        received = lines.slice(count).join('\n');
        return lines.slice(0, count);
      },
      say(text: string): void {
        stream.write(new TextEncoder().encode(text));
        stream.end.flush();
      },
    };
  };

  it("shows the guest's listening ports and memory, installs a CA now and at every later start, and sets a restored guest's clock", async () => {
    const controller = await startedController('vm-agent');
    let guest = agentEnd();
    expect(await guest.lines(1)).toEqual(['hello 2']);
    expect(controller.getView().guestPorts).toEqual([]);
    expect(controller.getView().guestMemory).toBeUndefined();
    guest.say('hello 2\nports 8000 22\nmemory 60000 45000\n');
    await vi.waitFor(() => expect(controller.getView().guestPorts).toEqual([22, 8000]));
    await vi.waitFor(() =>
      expect(controller.getView().guestMemory).toEqual({ totalBytes: 61_440_000, availableBytes: 46_080_000 }),
    );

    await expect(controller.installGuestCa('no certificate')).rejects.toThrow(/not a PEM certificate/);
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const installed = controller.installGuestCa(pem);
    expect(await guest.lines(1)).toEqual([`ca ${btoa(pem)}`]);
    guest.say('ok ca\n');
    await installed;

    // A restored worker: the host says hello, sets the clock, and installs the CA again.
    const snapshot = await testSnapshotFile({
      id: 'snap-agent',
      ramSize: 64 * MIB,
      bios: { size: bios.length, sha256: sha(bios) },
      disks: [testSnapshotDisk(disk.size, await chunkedDiskIdentity(disk as DiskImageManifest))],
    });
    booted = undefined;
    const before = Date.now();
    await controller.restore([snapshot]);
    await vi.waitFor(() => expect(booted).toBeDefined());
    expect(controller.getView().guestPorts).toEqual([]);
    expect(controller.getView().guestMemory).toBeUndefined();
    guest = agentEnd();
    const [hello, time, ca] = await guest.lines(3);
    expect(hello).toBe('hello 2');
    expect(time).toMatch(/^time \d+$/);
    const ns = BigInt(time!.slice(5));
    expect(ns >= BigInt(before) * 1_000_000n && ns <= BigInt(Date.now()) * 1_000_000n).toBe(true);
    expect(ca).toBe(`ca ${btoa(pem)}`);
    guest.say('ports 80\n');
    await vi.waitFor(() => expect(controller.getView().guestPorts).toEqual([80]));
    controller.powerOff();
    expect(controller.getView().guestPorts).toEqual([]);
    expect(controller.getView().guestMemory).toBeUndefined();
  });
});
