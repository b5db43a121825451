/**
 * `npm run bench:debian [-- --runs N]`: the Debian image (public/images/debian, `npm run image:debian`)
 * booted to its shell prompt, under tabvm and under QEMU on the same disk in the same run.
 *
 * tabvm reads the disk as the browser does: a ChunkedDisk that fetches each chunk when the guest first
 * reads it (here from the files in public/images/debian instead of over HTTP), under a copy-on-write
 * OverlayDisk, so "downloaded" is exactly the compressed bytes a browser would fetch before the prompt.
 * QEMU boots a raw copy of the same disk (virtio-blk-device) with tabvm's ISA. Prints wall and CPU seconds
 * to the prompt, medians of the rounds. A benchmark, not a test: it asserts nothing about speed.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchRuns, hostLine, median } from './lib/bench-common.ts';
import { qemuAvailable } from './lib/qemu.ts';
import { cpuSeconds } from './lib/cpu-time.ts';
import { coreModule, repoRoot } from './lib/in-process.ts';
import { TextConsole } from './lib/console-session.ts';
import {
  DEBIAN_PROMPT,
  debianImageDir,
  qemuDebianSession,
  rawDebianDisk,
  readDebianManifest,
  type DebianManifest,
} from './lib/debian-scenario.ts';
import { buildMachine } from '../workers/machine/build.ts';
import { RunLoop } from '../workers/machine/run-loop.ts';
import type { ByteStream } from '../workers/protocol/channels.ts';
import { createVmChannels, openVmChannels } from '../workers/protocol/vm-channels.ts';
import { ConsolePort, StreamSink } from '../workers/runtime/console-port.ts';
import { ChunkedDisk } from '../workers/host/block/chunked-disk.ts';
import { OverlayDisk } from '../workers/host/block/overlay-disk.ts';

interface Boot {
  readonly wall: number;
  readonly cpu: number;
  /** tabvm only: compressed bytes and chunks fetched before the prompt. */
  readonly downloaded?: { bytes: number; chunks: number };
}

/** The console of a machine that runs on this thread: the host end of its console channel. */
class StreamConsole extends TextConsole {
  readonly #decoder = new TextDecoder('latin1');
  ended = false;
  constructor(readonly stream: ByteStream) {
    super();
    stream.listen((bytes) => this.append(this.#decoder.decode(bytes)));
  }
  get exited(): boolean {
    return this.ended;
  }
  type(text: string): void {
    this.stream.write(new TextEncoder().encode(text));
  }
}

async function bootTabvm(manifest: DebianManifest): Promise<Boot> {
  const dir = debianImageDir(repoRoot);
  const chunked = new ChunkedDisk({
    manifest: manifest.disk,
    baseUrl: `file://${dir}`,
    fetch: async (url) => new Response(readFileSync(join(dir, url.slice(url.indexOf('/disk/') + 1)))),
  });
  // Channels in the message mode: the loop then awaits instead of blocking this thread in Atomics.wait,
  // so the console is read as soon as the guest prints.
  const host = createVmChannels('message');
  const vm = openVmChannels(host.wires);
  const sink = new StreamSink(vm.console);
  const con = new StreamConsole(host.console);
  const wall0 = performance.now();
  const cpu0 = cpuSeconds();
  const machine = buildMachine(
    {
      ramBytes: manifest.memory.default * 1024 * 1024,
      bootargs: manifest.bootargs,
      bios: readFileSync(join(dir, manifest.files.bios.path)),
      kernel: readFileSync(join(dir, manifest.files.kernel.path)),
      coreModule: coreModule(),
      sharedMemory: true,
      disks: [{ backend: new OverlayDisk(chunked) }],
    },
    { console: sink },
  );
  const loop = new RunLoop(machine, { ports: [new ConsolePort(machine.uart, vm.console, sink)], doorbell: vm.doorbell });
  const running = loop.run().finally(() => {
    con.ended = true;
  });
  try {
    await con.waitFor(DEBIAN_PROMPT, 900_000);
    return {
      wall: (performance.now() - wall0) / 1000,
      cpu: cpuSeconds() - cpu0,
      downloaded: { bytes: chunked.status.downloadedBytes, chunks: chunked.status.fetchedChunks },
    };
  } finally {
    loop.stop();
    await running;
    host.close();
    vm.console.end.close();
  }
}

async function bootQemu(manifest: DebianManifest, diskPath: string): Promise<Boot> {
  rawDebianDisk(repoRoot, manifest, diskPath);
  const wall0 = performance.now();
  const qemu = qemuDebianSession(repoRoot, manifest, diskPath);
  try {
    await qemu.waitFor(DEBIAN_PROMPT, 300_000);
    return { wall: (performance.now() - wall0) / 1000, cpu: cpuSeconds(qemu.pid) };
  } finally {
    qemu.kill();
  }
}

const runs = benchRuns('npm run bench:debian --');

const manifest = readDebianManifest(repoRoot);
const diskBytes = manifest.disk.chunks.reduce((sum, chunk) => sum + chunk.compressedSize, 0);
console.log(hostLine('tabvm Debian boot benchmark'));
console.log(
  `disk ${(manifest.disk.size / 2 ** 20).toFixed(0)} MiB in ${manifest.disk.chunks.length} chunks of ${manifest.disk.chunkSize / 1024} KiB ` +
    `(${(diskBytes / 2 ** 20).toFixed(1)} MiB compressed), ${manifest.memory.default} MiB RAM, bootargs "${manifest.bootargs}"`,
);
const haveQemu = qemuAvailable();
const tmp = mkdtempSync(join(tmpdir(), 'tabvm-bench-debian-'));
const tabvm: Boot[] = [];
const qemu: Boot[] = [];
try {
  for (let round = 0; round < runs; round++) {
    tabvm.push(await bootTabvm(manifest));
    if (haveQemu) qemu.push(await bootQemu(manifest, join(tmp, 'disk.img')));
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const t = { wall: median(tabvm.map((b) => b.wall)), cpu: median(tabvm.map((b) => b.cpu)) };
const q = haveQemu ? { wall: median(qemu.map((b) => b.wall)), cpu: median(qemu.map((b) => b.cpu)) } : undefined;
const downloaded = tabvm[0]!.downloaded!;
console.log(
  `${runs} rounds; medians. Wall: host seconds from machine start to the prompt. CPU: the emulator's CPU seconds.\n`,
);
console.log('| measure | tabvm | QEMU | ratio |');
console.log('|---|---:|---:|---:|');
const ratio = (a: number, b: number | undefined): string => (b === undefined ? 'n/a' : `${(a / b).toFixed(2)}×`);
console.log(
  `| boot to prompt, wall (s) | ${t.wall.toFixed(2)} | ${q?.wall.toFixed(2) ?? 'not installed'} | ${ratio(t.wall, q?.wall)} |`,
);
console.log(`| boot to prompt, CPU (s) | ${t.cpu.toFixed(2)} | ${q?.cpu.toFixed(2) ?? ''} | ${ratio(t.cpu, q?.cpu)} |`);
console.log(
  `| downloaded before the prompt | ${(downloaded.bytes / 2 ** 20).toFixed(1)} MiB (${downloaded.chunks} chunks, ` +
    `${((100 * downloaded.bytes) / diskBytes).toFixed(0)} % of the disk) | local file | |`,
);
process.exit(0);
