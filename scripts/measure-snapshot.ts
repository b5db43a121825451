/**
 * `npm run measure:snapshot [-- RAM-MiB …]` (default 128 256 512): boots the default image in-process,
 * lets it idle at its prompt, then for several rounds takes a full snapshot, lets the guest idle 5 s
 * more, takes a child (incremental) snapshot, and restores both. Prints sizes and the time of each
 * phase (median and range): capture (the VM stands still: page fingerprints, copy of the stored pages
 * and device state), compress + checksum, the two together (until the file is ready), restore (decode
 * + a fresh machine), and the restored shell's first answer; capture and compression also in CPU time,
 * which other load on the machine does not inflate. Each round also compresses the same capture with
 * its image pages stored as ordinary pages (the format-2 way), in alternating order, to compare.
 * Also times a bare zero-page scan of RAM, which is what a full capture would cost without
 * fingerprints. Then, with an ext4 disk (mke2fs) under a copy-on-write overlay: the disk sections of a
 * full snapshot after writing a 1 MiB file and of a child after writing a small one. A measurement,
 * not a test: it asserts nothing about speed.
 */
import { median } from './lib/bench-common.ts';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { coreModule as loadCore, defaultImage } from './lib/in-process.ts';
import { cpuSeconds } from './lib/cpu-time.ts';
import { Machine } from '../workers/machine/machine.ts';
import {
  captureSnapshot,
  encodeSnapshot,
  imageIdentity,
  restoreSnapshot,
  type CapturedSnapshot,
} from '../workers/machine/snapshot.ts';
import { decodeSnapshotFile } from '../workers/protocol/snapshot-container.ts';
import { SNAPSHOT_PAGE_SIZE } from '../workers/protocol/snapshot-format.ts';
import { MemoryDisk } from '../workers/host/block/memory-disk.ts';
import { OverlayDisk } from '../workers/host/block/overlay-disk.ts';

const { bios, kernel, initrd, bootargs } = defaultImage();
const images = { bios, kernel, initrd };
const coreModule = loadCore();
const PROMPT = 'root@tabvm:~# ';
const ROUNDS = 5;

function runUntil(machine: Machine, output: () => string, text: string): void {
  while (!output().includes(text)) machine.runSlice();
}

function runFor(machine: Machine, ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) machine.runSlice();
}

/** The non-zero page scan alone (a word at a time), for comparison with the fingerprinting capture. */
function zeroScan(ram: Uint8Array): number {
  const words = new Int32Array(ram.buffer, ram.byteOffset, ram.length >>> 2);
  let nonZero = 0;
  for (let page = 0; page < words.length; page += 1024) {
    for (let i = page; i < page + 1024; i++) {
      if (words[i] !== 0) {
        nonZero++;
        break;
      }
    }
  }
  return nonZero;
}

/** The same capture with its image pages stored as ordinary pages, as format 2 stored them. */
function withoutImagePages(capture: CapturedSnapshot, ram: Uint8Array): CapturedSnapshot {
  const pages = Uint32Array.from([...capture.pages, ...capture.imagePages].sort((a, b) => a - b));
  const pageData = new Uint8Array(pages.length * SNAPSHOT_PAGE_SIZE);
  pages.forEach((page, i) =>
    pageData.set(ram.subarray(page * SNAPSHOT_PAGE_SIZE, (page + 1) * SNAPSHOT_PAGE_SIZE), i * SNAPSHOT_PAGE_SIZE),
  );
  return { ...capture, pages, pageData, imagePages: new Uint32Array(0), imageLoads: [] };
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
/** Median and range in ms. */
const spread = (xs: number[]): string =>
  `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;

/** Runs `f`, returning its result, wall ms and CPU ms. */
async function timed<T>(f: () => T | Promise<T>): Promise<{ value: T; wall: number; cpu: number }> {
  const cpu = cpuSeconds();
  const wall = performance.now();
  const value = await f();
  return { value, wall: performance.now() - wall, cpu: (cpuSeconds() - cpu) * 1000 };
}

async function timeRestore(files: Uint8Array[]): Promise<{ restore: number; answer: number }> {
  let t = performance.now();
  let out = '';
  const { machine } = await restoreSnapshot(
    files,
    { ...images, sharedMemory: true, coreModule },
    { console: { write: (b) => void (out += String.fromCharCode(b)) } },
  );
  const restore = performance.now() - t;
  t = performance.now();
  for (const byte of new TextEncoder().encode('echo R-$((2+3))\n')) {
    while (machine.receiveInput(Uint8Array.of(byte)) === 0) machine.runSlice();
  }
  runUntil(machine, () => out, 'R-5');
  return { restore, answer: performance.now() - t };
}

async function measureRam(ramMiB: number): Promise<void> {
  let out = '';
  const machine = new Machine(
    { ramSize: ramMiB << 20, ...images, bootargs: bootargs, sharedMemory: true, coreModule },
    { console: { write: (b) => void (out += String.fromCharCode(b)) } },
  );
  runUntil(machine, () => out, PROMPT);
  runFor(machine, 1000);
  // Image hashes are computed once per image and cached; do it outside the timed rounds.
  await Promise.all([imageIdentity(images.bios), imageIdentity(images.kernel), imageIdentity(images.initrd)]);

  const keys = [
    'scan',
    'capture',
    'captureCpu',
    'encode',
    'encodeCpu',
    'ready',
    'encodeStored',
    'encodeStoredCpu',
    'restore',
    'answer',
    'childCapture',
    'childEncode',
    'chainRestore',
    'chainAnswer',
  ] as const;
  const times = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<(typeof keys)[number], number[]>;
  let size = 0;
  let storedSize = 0;
  let pages = 0;
  let imagePages = 0;
  const childSizes: number[] = [];
  const childPages: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    times.scan.push((await timed(() => zeroScan(machine.ram))).wall);
    const capture = await timed(() => captureSnapshot(machine));
    times.capture.push(capture.wall);
    times.captureCpu.push(capture.cpu);
    const b = withoutImagePages(capture.value, machine.ram);
    // A/B in alternating order, so that neither always runs on a warmer or quieter machine.
    const encodeStored = async (): Promise<void> => {
      const e = await timed(() => encodeSnapshot(b));
      times.encodeStored.push(e.wall);
      times.encodeStoredCpu.push(e.cpu);
      storedSize = e.value.length;
    };
    if (round % 2 === 1) await encodeStored();
    const encoded = await timed(() => encodeSnapshot(capture.value));
    if (round % 2 === 0) await encodeStored();
    times.encode.push(encoded.wall);
    times.encodeCpu.push(encoded.cpu);
    times.ready.push(capture.wall + encoded.wall);
    const file = encoded.value;
    size = file.length;
    pages = capture.value.pages.length;
    imagePages = capture.value.imagePages.length;
    const full = await timeRestore([file]);
    times.restore.push(full.restore);
    times.answer.push(full.answer);

    runFor(machine, 5000); // the guest idles at its prompt: timers, the shell waiting
    const child = await timed(() => captureSnapshot(machine, { parent: capture.value.fingerprint }));
    times.childCapture.push(child.wall);
    const childFile = await timed(() => encodeSnapshot(child.value));
    times.childEncode.push(childFile.wall);
    childSizes.push(childFile.value.length);
    childPages.push(child.value.pages.length + child.value.zeroed.length);
    const chain = await timeRestore([file, childFile.value]);
    times.chainRestore.push(chain.restore);
    times.chainAnswer.push(chain.answer);
  }
  const m = (k: (typeof keys)[number]): string => spread(times[k]);
  console.log(
    `${ramMiB} MiB RAM, median (range) of ${ROUNDS}:\n` +
      `  full:        ${pages} stored + ${imagePages} image pages (${mib((pages + imagePages) * 4096)} non-zero), file ${mib(size)}\n` +
      `               capture ${m('capture')}, CPU ${m('captureCpu')}; zero scan alone ${m('scan')}\n` +
      `               compress+checksum ${m('encode')}, CPU ${m('encodeCpu')}; file ready ${m('ready')}\n` +
      `               image pages stored instead: file ${mib(storedSize)}, compress+checksum ${m('encodeStored')}, CPU ${m('encodeStoredCpu')}\n` +
      `               restore ${m('restore')}, first answer ${m('answer')}\n` +
      `  incremental: ${childPages.join(', ')} changed pages after 5 s idle, file up to ${mib(Math.max(...childSizes))}; capture ${m('childCapture')}, ` +
      `compress+checksum ${m('childEncode')}, restore of the chain ${m('chainRestore')}, first answer ${m('chainAnswer')}`,
  );
}

/** The disk sections of a full snapshot and of a child, with an ext4 disk the guest writes files to. */
async function measureDisk(): Promise<void> {
  const dir = mkdtempSync(resolve(tmpdir(), 'tabvm-measure-'));
  mkdirSync(resolve(dir, 'content'));
  const image = resolve(dir, 'disk.img');
  execFileSync(
    'mke2fs',
    [
      '-q',
      '-t',
      'ext4',
      '-b',
      '4096',
      '-E',
      'lazy_itable_init=0,lazy_journal_init=0',
      '-d',
      resolve(dir, 'content'),
    ].concat(['-F', image, '64M']),
    { env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } },
  );
  const overlay = new OverlayDisk(new MemoryDisk(new Uint8Array(readFileSync(image)), true));
  rmSync(dir, { recursive: true });
  let out = '';
  const machine = new Machine(
    { ramSize: 256 << 20, ...images, bootargs, sharedMemory: true, coreModule, disks: [{ backend: overlay }] },
    { console: { write: (b) => void (out += String.fromCharCode(b)) } },
  );
  /** Runs the guest, letting block requests complete, until `text` appears after `from`. */
  const until = async (text: string, from: number): Promise<void> => {
    while (!out.includes(text, from)) {
      const status = machine.runSlice();
      if (machine.io.pending > 0) await machine.io.nextCompletion();
      else if (status.kind === 'idle') await new Promise((r) => setImmediate(r));
    }
  };
  const command = async (line: string): Promise<void> => {
    const from = out.length;
    for (const byte of new TextEncoder().encode(`${line}; echo DONE-$((1+1))\n`)) {
      while (machine.receiveInput(Uint8Array.of(byte)) === 0) machine.runSlice();
    }
    await until('DONE-2', from);
    await until(PROMPT, out.indexOf('DONE-2', from));
    await machine.io.quiescent();
  };
  await until(PROMPT, 0);
  await command('mount /dev/vda /mnt && dd if=/dev/urandom of=/mnt/a bs=4096 count=256 2>/dev/null && sync');
  const parent = captureSnapshot(machine);
  const parentFile = await encodeSnapshot(parent);
  await command('echo a small file > /mnt/b && sync');
  const child = captureSnapshot(machine, { parent: parent.fingerprint });
  const childFile = await encodeSnapshot(child);
  const [p, c] = await Promise.all([decodeSnapshotFile(parentFile), decodeSnapshotFile(childFile)]);
  const section = (d: (typeof p.disks)[number]): string =>
    `${d.indices.length} blocks (${mib(d.data.length)})` + (d.removed.length ? `, ${d.removed.length} removed` : '');
  console.log(
    `disk (64 MiB ext4, 256 MiB RAM): full snapshot after writing a 1 MiB file: disk section ${section(p.disks[0]!)}, ` +
      `file ${mib(parentFile.length)}; child after writing a small file: disk section ${section(c.disks[0]!)}, ` +
      `file ${mib(childFile.length)}`,
  );
}

const sizes = process.argv.slice(2).length ? process.argv.slice(2).map(Number) : [128, 256, 512];
for (const ramMiB of sizes) await measureRam(ramMiB);
await measureDisk();
