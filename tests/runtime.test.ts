// The VM runtime hosted on this thread as a runner hosts it, with its channels in the message mode (the
// browser's compatibility mode; the Node runner's tests cover the shared one): the default image boots
// with two disks, a full and a child snapshot are taken, and a second runtime restored from the chain
// has the child's files, the same disks and a live shell, and reports the guest's poweroff.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultImage, repoRoot } from '../scripts/lib/in-process.ts';
import { TextConsole } from '../scripts/lib/console-session.ts';
import { VmRuntime } from '../workers/runtime/vm-runtime.ts';
import { createVmChannels } from '../workers/protocol/vm-channels.ts';
import { serveDisks, type DiskHost } from '../workers/protocol/disk-channel.ts';
import type { ByteStream } from '../workers/protocol/channels.ts';
import type { VmDiskRequest, VmEvents, VmHalt } from '../workers/protocol/vm-api.ts';
import { decodeChain } from '../workers/protocol/snapshot-container.ts';

const PROMPT = 'root@tabvm:~# ';
const { bios, kernel, initrd, bootargs } = defaultImage();
// Guest RAM is not shared in the message mode, so the core is the build whose memory import is not.
const coreModule = new WebAssembly.Module(readFileSync(resolve(repoRoot, 'workers/cpu/build/core-unshared.wasm')));

class ChannelConsole extends TextConsole {
  ended = false;
  constructor(readonly stream: ByteStream) {
    super();
    const decoder = new TextDecoder('latin1');
    stream.listen((bytes) => this.append(decoder.decode(bytes)));
  }
  get exited(): boolean {
    return this.ended;
  }
  type(text: string): void {
    expect(this.stream.write(new TextEncoder().encode(text))).toBe(text.length);
  }
  /** Types a command and returns the lines it printed (the marker is computed by the shell). */
  async command(line: string): Promise<string[]> {
    const from = this.output.length;
    this.type(`${line}; echo END-$((20+1))\n`);
    const end = await this.waitFor('END-21', 120_000, from);
    const lines = this.output.slice(from, end - 'END-21'.length).split(/\r?\n/);
    return lines
      .slice(1)
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }
}

function rawDisk(bytes: number, text: string): VmDiskRequest {
  const data = new Uint8Array(bytes);
  data.set(new TextEncoder().encode(text));
  return { source: { kind: 'raw', bytes: data }, overlay: new Map() };
}

const acknowledge: DiskHost = { writes: () => Promise.resolve(), status() {} };

async function boot(disks: VmDiskRequest[], snapshot?: Uint8Array[], diskHost = acknowledge) {
  const channels = createVmChannels('message');
  const console = new ChannelConsole(channels.console);
  let halted!: (halt: VmHalt) => void;
  const halt = new Promise<VmHalt>((r) => (halted = r));
  const events: VmEvents = {
    rebooted() {},
    halted: (h) => {
      console.ended = true;
      halted(h);
    },
  };
  // The overlays live in the runtime's memory; their writes come over the disks channel to `diskHost`.
  serveDisks(channels.disks, diskHost);
  const runtime = await VmRuntime.boot(
    {
      ramBytes: 128 << 20,
      bootargs,
      bios,
      kernel,
      initrd,
      channels: channels.wires,
      disks,
      // The page's half of a restore: the chain flattened into one unpacked snapshot.
      ...(snapshot ? { snapshot: await decodeChain(snapshot) } : {}),
    },
    { coreModule, events, log: () => {} },
  );
  return { runtime, console, halt, close: () => channels.close() };
}

describe('the VM runtime in the message mode', () => {
  it('boots with two disks, snapshots a child, and restores the chain into a new runtime', async () => {
    const disks = [rawDisk(64 << 10, 'FIRST'), rawDisk(128 << 10, 'SECOND')];
    const a = await boot(disks);
    try {
      await a.console.waitFor(PROMPT, 300_000);
      expect(await a.console.command('cat /sys/block/vda/size /sys/block/vdb/size')).toEqual(['128', '256']);
      expect(await a.console.command('head -c 6 /dev/vdb; echo')).toEqual(['SECOND']);
      await a.console.command('echo full > /tmp/f');
      const full = await a.runtime.snapshot({ id: 'full' });
      expect(full.parent).toBeNull();
      await a.console.command('echo child > /tmp/f');
      const child = await a.runtime.snapshot({ id: 'child', parent: 'full' });
      expect(child.parent).toBe('full');
      expect(child.bytes.length).toBeLessThan(full.bytes.length);
      expect(a.runtime.stats()).toMatchObject({ sharedMemory: false, reboots: 0 });
      a.runtime.powerOff();
      expect(await a.halt).toEqual({ reason: 'host' });

      const b = await boot(disks, [full.bytes, child.bytes]);
      try {
        expect(await b.console.command('cat /tmp/f')).toEqual(['child']);
        expect(await b.console.command('head -c 5 /dev/vda; echo')).toEqual(['FIRST']);
        expect(b.runtime.stats().state).not.toBe('halted');
        b.console.type('poweroff\n');
        expect(await b.halt).toEqual({ reason: 'poweroff', exitCode: 0 });
        expect(b.runtime.stats().state).toBe('halted');
      } finally {
        b.runtime.powerOff();
        b.close();
      }
    } finally {
      a.runtime.powerOff();
      a.close();
    }
  }, 900_000);

  it("sends the guest's disk writes to the host over the disks channel; a refusal is the guest's I/O error", async () => {
    const kept = new Map<number, Uint8Array>();
    let refusing = false;
    const vm = await boot([rawDisk(64 << 10, 'FIRST'), rawDisk(1 << 20, 'SECOND')], undefined, {
      async writes(disk, blocks) {
        expect(disk).toBe(1);
        if (refusing) throw new Error('the quota has been exceeded');
        for (const [index, bytes] of blocks) kept.set(index, bytes);
      },
      status() {},
    });
    try {
      await vm.console.waitFor(PROMPT, 300_000);
      // 512 KiB written and synced: more than one request of the channel, all of it kept, in place.
      await vm.console.command('yes tabvm | head -c 524288 | dd of=/dev/vdb bs=4096 conv=fsync 2>/dev/null');
      expect([...kept.keys()].sort((x, y) => x - y)).toEqual(Array.from({ length: 128 }, (_, i) => i));
      expect(new TextDecoder().decode(kept.get(0)!.subarray(0, 12))).toBe('tabvm\ntabvm\n');
      refusing = true;
      expect(
        (await vm.console.command('echo again | dd of=/dev/vdb bs=4096 seek=200 conv=fsync 2>&1 || echo REFUSED')).join(
          '\n',
        ),
      ).toMatch(/REFUSED/);
      expect(kept.has(200)).toBe(false);
      // Storage has room again: the guest's next flush keeps the block the refused one held back too.
      refusing = false;
      await vm.console.command('echo more | dd of=/dev/vdb bs=4096 seek=250 conv=fsync 2>/dev/null');
      expect(new TextDecoder().decode(kept.get(250)!.subarray(0, 5))).toBe('more\n');
      expect(new TextDecoder().decode(kept.get(200)!.subarray(0, 6))).toBe('again\n');
    } finally {
      vm.runtime.powerOff();
      vm.close();
    }
  }, 900_000);
});
