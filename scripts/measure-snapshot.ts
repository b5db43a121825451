/**
 * `npx tsx scripts/measure-snapshot.ts [RAM MiB …]`: boots the default image in-process, lets it idle at
 * its prompt for a second, then snapshots and restores it several times and prints the snapshot's size
 * and the time of each phase (capture with the VM stopped, compress + checksum, decode, restore, and the
 * restored shell's first answer). A measurement, not a test: it asserts nothing about speed.
 */
import { coreModule as loadCore, defaultImage } from './lib/in-process.ts';
import { Machine } from '../workers/machine/machine.ts';
import {
  captureSnapshot,
  decodeSnapshot,
  encodeSnapshot,
  imageIdentity,
  restoreSnapshot,
} from '../workers/machine/snapshot.ts';

const { bios, kernel, initrd, bootargs } = defaultImage();
const images = { bios, kernel, initrd };
const coreModule = loadCore();
const PROMPT = 'root@tabvm:~# ';
const ROUNDS = 3;

function runUntil(machine: Machine, output: () => string, text: string): void {
  while (!output().includes(text)) machine.runSlice();
}

const ms = (t: number): string => `${t.toFixed(0)} ms`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

for (const mib of process.argv.slice(2).length ? process.argv.slice(2).map(Number) : [128, 256]) {
  let out = '';
  const machine = new Machine(
    { ramSize: mib << 20, ...images, bootargs: bootargs, sharedMemory: true, coreModule },
    { console: { write: (b) => void (out += String.fromCharCode(b)) } },
  );
  runUntil(machine, () => out, PROMPT);
  const idleUntil = performance.now() + 1000;
  while (performance.now() < idleUntil) machine.runSlice();
  // Image hashes are computed once per image and cached; do it outside the timed rounds.
  await Promise.all([imageIdentity(images.bios), imageIdentity(images.kernel), imageIdentity(images.initrd)]);

  const times: Record<'capture' | 'encode' | 'decode' | 'restore' | 'answer', number[]> = {
    capture: [],
    encode: [],
    decode: [],
    restore: [],
    answer: [],
  };
  let size = 0;
  let pages = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let t = performance.now();
    const capture = captureSnapshot(machine);
    times.capture.push(performance.now() - t);
    t = performance.now();
    const file = await encodeSnapshot(capture);
    times.encode.push(performance.now() - t);
    size = file.length;
    pages = capture.pages.length;
    t = performance.now();
    const decoded = await decodeSnapshot(file);
    times.decode.push(performance.now() - t);
    t = performance.now();
    let restoredOut = '';
    const restored = await restoreSnapshot(
      decoded,
      { ...images, sharedMemory: true, coreModule },
      { console: { write: (b) => void (restoredOut += String.fromCharCode(b)) } },
    );
    times.restore.push(performance.now() - t);
    t = performance.now();
    for (const byte of new TextEncoder().encode('echo R-$((2+3))\n')) {
      while (restored.receiveInput(Uint8Array.of(byte)) === 0) restored.runSlice();
    }
    runUntil(restored, () => restoredOut, 'R-5');
    times.answer.push(performance.now() - t);
  }
  console.log(
    `${mib} MiB RAM: ${pages} non-zero pages (${((pages * 4096) / 2 ** 20).toFixed(1)} MiB), snapshot ${(size / 2 ** 20).toFixed(2)} MiB; ` +
      `median of ${ROUNDS}: capture ${ms(median(times.capture))}, compress+checksum ${ms(median(times.encode))}, ` +
      `decode ${ms(median(times.decode))}, restore ${ms(median(times.restore))}, first command answered ${ms(median(times.answer))}`,
  );
}
