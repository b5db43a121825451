/**
 * The disks' host traffic over the VM's declared `disks` channel, in both modes: a flush larger than the
 * ring goes in requests that fit it, in order, never more in flight than the ring holds (the host's
 * acknowledgements pace it); a refusal reaches the writer as the host's sentence and an overlay's flush
 * as an I/O error that loses nothing; the download status arrives; a malformed request is refused before
 * anything is allocated for it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelMode } from './channels.ts';
import { RemoteRequestError } from './channels.ts';
import { createVmChannels, openVmChannels, DISK_REQUESTS_BYTES } from './vm-channels.ts';
import {
  DISK_REQUEST_BLOCKS,
  DiskClient,
  OVERLAY_BLOCK_BYTES,
  decodeDiskMessage,
  diskWriteRequestBytes,
  encodeDiskWrites,
  serveDisks,
  type DiskHost,
} from './disk-channel.ts';
import type { DiskStatus } from './disk-image.ts';
import { OverlayDisk } from '../host/block/overlay-disk.ts';
import { MemoryDisk } from '../host/block/memory-disk.ts';
import { BlockIoError } from '../host/block/backend.ts';

const block = (index: number): Uint8Array => new Uint8Array(OVERLAY_BLOCK_BYTES).fill(index & 0xff);
const tick = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers) close();
  closers = [];
});

/** A VM's declared channels with both ends on this thread: the VM's DiskClient, and the host serving `host`. */
function disksOver(mode: ChannelMode, host: DiskHost): DiskClient {
  const channels = createVmChannels(mode);
  const stop = serveDisks(channels.disks, host);
  const vm = openVmChannels(channels.wires);
  closers.push(() => {
    stop();
    vm.disks.end.close();
    channels.close();
  });
  return new DiskClient(vm.disks);
}

/** A host that records each request's blocks and answers when told to (or at once). */
function recordingHost() {
  const requests: number[][] = [];
  const kept = new Map<number, number>();
  const statuses: DiskStatus[] = [];
  let gate: Promise<void> = Promise.resolve();
  let open = (): void => {};
  let refuse: ((request: number) => string | undefined) | undefined;
  const host: DiskHost = {
    async writes(disk, blocks) {
      expect(disk).toBe(1);
      const request = requests.push([...blocks.keys()]) - 1;
      await gate;
      const refusal = refuse?.(request);
      if (refusal !== undefined) throw new Error(refusal);
      for (const [index, bytes] of blocks) {
        expect(bytes.buffer.byteLength).toBe(OVERLAY_BLOCK_BYTES);
        kept.set(index, bytes[0]!);
      }
    },
    status(disk, status) {
      expect(disk).toBe(1);
      statuses.push(status);
    },
  };
  return {
    host,
    requests,
    kept,
    statuses,
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => open(),
    refuseWith(rule: (request: number) => string | undefined) {
      refuse = rule;
    },
  };
}

describe.each(['shared', 'message'] as const)('the disks channel in the %s mode', (mode) => {
  it('sends a flush larger than the ring in requests that fit it, in order, paced by the host', async () => {
    const recorder = recordingHost();
    const client = disksOver(mode, recorder.host);
    // 300 blocks (1.2 MiB) against a 512 KiB ring; the indices out of numeric order, to see the map's order kept.
    const indices = Array.from({ length: 300 }, (_, i) => (i * 7919) % 1000);
    const blocks = new Map(indices.map((index) => [index, block(index)]));
    expect(diskWriteRequestBytes(blocks.size)).toBeGreaterThan(DISK_REQUESTS_BYTES);

    recorder.hold();
    let done = false;
    const written = client.writes(1, blocks).then(() => (done = true));
    await tick(300);
    // Held by the host, the writer has no more requests out than the ring holds.
    // The host keeps one request at a time, in order.
    expect(recorder.requests.length).toBe(1);
    expect(done).toBe(false);
    recorder.release();
    await written;

    expect(recorder.requests.every((r) => r.length <= DISK_REQUEST_BLOCKS)).toBe(true);
    expect(recorder.requests.length).toBe(Math.ceil(300 / DISK_REQUEST_BLOCKS));
    expect(recorder.requests.flat()).toEqual(indices);
    expect([...recorder.kept]).toEqual(indices.map((index) => [index, index & 0xff]));
  });

  it('keeps at most a ringful of write requests out, however large the flush', async () => {
    const channels = createVmChannels(mode);
    const vm = openVmChannels(channels.wires);
    closers.push(() => {
      vm.disks.end.close();
      channels.close();
    });
    // A bare host end that counts the requests as they arrive and answers none until told to.
    let arrived = 0;
    let open = (): void => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    channels.disks.serve(async () => {
      arrived++;
      await gate;
      return new Uint8Array(0);
    });
    closers.push(channels.disks.listen());
    const written = new DiskClient(vm.disks).writes(1, new Map(Array.from({ length: 400 }, (_, i) => [i, block(i)])));
    await tick(300);
    const window = Math.floor(DISK_REQUESTS_BYTES / diskWriteRequestBytes(DISK_REQUEST_BLOCKS));
    expect(window).toBe(3);
    expect(arrived).toBe(window);
    expect(vm.disks.pending).toBe(window);
    open();
    await written;
    expect(arrived).toBe(Math.ceil(400 / DISK_REQUEST_BLOCKS));
    expect(vm.disks.pending).toBe(0);
  });

  it("gives the writer the host's refusal, after the requests already sent are answered, and sends no more", async () => {
    const recorder = recordingHost();
    const client = disksOver(mode, recorder.host);
    recorder.refuseWith((request) => (request === 1 ? 'the quota has been exceeded' : undefined));
    const blocks = new Map(Array.from({ length: 10 * DISK_REQUEST_BLOCKS }, (_, i) => [i, block(i)] as const));
    const refusal = await client.writes(1, blocks).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RemoteRequestError);
    expect((refusal as Error).message).toBe('the quota has been exceeded');
    // The first request was kept; the writer stopped sending once it heard of the refusal.
    expect(recorder.kept.has(0)).toBe(true);
    expect(recorder.kept.has(DISK_REQUEST_BLOCKS)).toBe(false);
    expect(recorder.requests.length).toBeLessThan(10);
  });

  it("fails an overlay's flush with an I/O error that loses nothing, and the next flush keeps the blocks", async () => {
    const recorder = recordingHost();
    const client = disksOver(mode, recorder.host);
    const overlay = new OverlayDisk(new MemoryDisk(new Uint8Array(256 * OVERLAY_BLOCK_BYTES), true, 'base'), {
      persistence: { persist: (blocks) => client.writes(1, blocks) },
    });
    await overlay.write(0, new Uint8Array(100 * OVERLAY_BLOCK_BYTES).fill(5));
    await overlay.flush();
    expect(recorder.kept.size).toBe(100);

    recorder.refuseWith(() => 'the quota has been exceeded');
    await overlay.write(200 * OVERLAY_BLOCK_BYTES, new Uint8Array(50 * OVERLAY_BLOCK_BYTES).fill(6));
    const failed = await overlay.flush().catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(BlockIoError);
    expect((failed as Error).message).toBe("the disk's changes could not be saved: the quota has been exceeded");
    expect(overlay.dirtyCount).toBe(50);
    expect(recorder.kept.size).toBe(100);

    recorder.refuseWith(() => undefined);
    await overlay.flush();
    expect(overlay.dirtyCount).toBe(0);
    expect(recorder.kept.size).toBe(150);
    expect(recorder.kept.get(249)).toBe(6);
  });

  it('delivers a disk status', async () => {
    const recorder = recordingHost();
    const client = disksOver(mode, recorder.host);
    const status = { downloadedBytes: 10, fetchedChunks: 1, totalBytes: 20, error: 'HTTP 503' };
    await client.status(1, status);
    expect(recorder.statuses).toEqual([status]);
  });
});

describe('a disk request', () => {
  it('round-trips its blocks', () => {
    const message = decodeDiskMessage(encodeDiskWrites(3, [[9, block(9)]]));
    expect(message).toEqual({ kind: 'writes', disk: 3, blocks: new Map([[9, block(9)]]) });
  });

  it('is refused with one sentence when its length does not hold the blocks it claims', () => {
    const bytes = encodeDiskWrites(0, [[1, block(1)]]);
    new DataView(bytes.buffer).setUint32(4, 0xffff_ffff, true);
    expect(() => decodeDiskMessage(bytes)).toThrow(/does not hold the 4294967295 blocks it claims/);
    expect(() => decodeDiskMessage(new Uint8Array([7, 0, 0, 0]))).toThrow(/unknown operation 7/);
    expect(() => decodeDiskMessage(new Uint8Array([2, 0, 0, 0, 123]))).toThrow(/not one/);
  });
});
