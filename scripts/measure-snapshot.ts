/**
 * `npm run measure:snapshot [-- RAM-MiB …]` (default 128 256 512): boots the default image in-process,
 * lets it idle at its prompt, then for several rounds takes a full snapshot, lets the guest idle 5 s
 * more, takes a child (incremental) snapshot, and restores both. Prints sizes and the time of each
 * phase: capture (the VM stands still: page fingerprints, copy of the stored pages and device state),
 * compress + checksum, restore (decode + a fresh machine), and the restored shell's first answer.
 * Also times a bare zero-page scan of RAM, which is what a full capture would cost without
 * fingerprints. A measurement, not a test: it asserts nothing about speed.
 */
import { coreModule as loadCore, defaultImage } from './lib/in-process.ts';
import { Machine } from '../workers/machine/machine.ts';
import { captureSnapshot, encodeSnapshot, imageIdentity, restoreSnapshot } from '../workers/machine/snapshot.ts';

const { bios, kernel, initrd, bootargs } = defaultImage();
const images = { bios, kernel, initrd };
const coreModule = loadCore();
const PROMPT = 'root@tabvm:~# ';
const ROUNDS = 3;

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

const ms = (t: number): string => `${t.toFixed(0)} ms`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

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

const sizes = process.argv.slice(2).length ? process.argv.slice(2).map(Number) : [128, 256, 512];
for (const ramMiB of sizes) {
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
    'encode',
    'restore',
    'answer',
    'childCapture',
    'childEncode',
    'chainRestore',
    'chainAnswer',
  ] as const;
  const times = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<(typeof keys)[number], number[]>;
  let size = 0;
  let pages = 0;
  let childSize = 0;
  let childPages = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let t = performance.now();
    zeroScan(machine.ram);
    times.scan.push(performance.now() - t);
    t = performance.now();
    const capture = captureSnapshot(machine);
    times.capture.push(performance.now() - t);
    t = performance.now();
    const file = await encodeSnapshot(capture);
    times.encode.push(performance.now() - t);
    size = file.length;
    pages = capture.pages.length;
    const full = await timeRestore([file]);
    times.restore.push(full.restore);
    times.answer.push(full.answer);

    runFor(machine, 5000); // the guest idles at its prompt: timers, the shell waiting
    t = performance.now();
    const child = captureSnapshot(machine, { parent: capture.fingerprint });
    times.childCapture.push(performance.now() - t);
    t = performance.now();
    const childFile = await encodeSnapshot(child);
    times.childEncode.push(performance.now() - t);
    childSize = childFile.length;
    childPages = child.pages.length + child.zeroed.length;
    const chain = await timeRestore([file, childFile]);
    times.chainRestore.push(chain.restore);
    times.chainAnswer.push(chain.answer);
  }
  const m = (k: (typeof keys)[number]): string => ms(median(times[k]));
  console.log(
    `${ramMiB} MiB RAM, median of ${ROUNDS}:\n` +
      `  full:        ${pages} non-zero pages (${mib(pages * 4096)}), file ${mib(size)}; capture ${m('capture')} ` +
      `(zero scan alone ${m('scan')}), compress+checksum ${m('encode')}, restore ${m('restore')}, first answer ${m('answer')}\n` +
      `  incremental: ${childPages} changed pages after 5 s idle, file ${mib(childSize)}; capture ${m('childCapture')}, ` +
      `compress+checksum ${m('childEncode')}, restore of the chain ${m('chainRestore')}, first answer ${m('chainAnswer')}`,
  );
}
