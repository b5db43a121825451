// Snapshot and restore of a booted Linux guest (issue 4): the default image runs in-process, a shell
// job counts seconds into a file, the machine is captured, changed, and a fresh machine restored from
// the snapshot must show the old file contents, a counter that carries on, and a live shell.
import { describe, expect, it } from 'vitest';
import { coreModule as loadCore, defaultImage } from '../scripts/lib/in-process.ts';
import { Machine, type MachineStatus } from '../workers/machine/machine.ts';
import { SnapshotError, captureSnapshot, encodeSnapshot, restoreSnapshot } from '../workers/machine/snapshot.ts';
import { readSnapshotHeader } from '../workers/protocol/snapshot-container.ts';
import { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_PREAMBLE_BYTES } from '../workers/protocol/snapshot-format.ts';

const { bios, kernel, initrd, bootargs } = defaultImage();
const images = { bios, kernel, initrd };
const coreModule = loadCore();
const PROMPT = 'root@tabvm:~# ';
const restoreOptions = { ...images, sharedMemory: true, coreModule };

/** A guest console collected in a string. */
class ConsoleText {
  text = '';
  readonly sink = { write: (b: number): void => void (this.text += String.fromCharCode(b)) };
}

/** A machine and its console, driven slice by slice in this thread. */
class Guest {
  constructor(
    readonly machine: Machine,
    readonly console: ConsoleText,
  ) {}

  get output(): string {
    return this.console.text;
  }

  /** Runs until `text` appears after `from`; returns the offset just past it. */
  waitFor(text: string, from: number, timeoutMs: number): number {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const i = this.output.indexOf(text, from);
      if (i >= 0) return i + text.length;
      if (performance.now() > deadline)
        throw new Error(
          `timed out waiting for ${JSON.stringify(text)}; got ${JSON.stringify(this.output.slice(from))}`,
        );
      this.#step();
    }
  }

  /** Runs for `ms` of host (and so guest) time. */
  runFor(ms: number): void {
    const end = performance.now() + ms;
    while (performance.now() < end) this.#step();
  }

  /** Types a command line and returns the lines it printed (the marker is computed by the shell, so its echo cannot match). */
  command(line: string, timeoutMs = 30_000): string[] {
    const from = this.output.length;
    // After `&` a `;` would be a syntax error: the job separator already ends the command.
    this.#type(`${line}${line.endsWith('&') ? ' ' : '; '}echo END-$((20+1))\n`);
    const end = this.waitFor('END-21', from, timeoutMs);
    this.waitFor(PROMPT, end, timeoutMs);
    const lines = this.output
      .slice(from, end - 'END-21'.length)
      .split(/\r?\n/)
      .map((l) => l.trim());
    return lines.slice(1).filter((l) => l !== '');
  }

  #type(text: string): void {
    const deadline = performance.now() + 30_000;
    for (const byte of new TextEncoder().encode(text)) {
      while (this.machine.receiveInput(Uint8Array.of(byte)) === 0) {
        if (performance.now() > deadline) throw new Error('the guest stopped reading its console');
        this.#step();
      }
    }
  }

  #step(): void {
    const status: MachineStatus = this.machine.runSlice();
    if (status.kind === 'halted') throw new Error(`guest halted: ${JSON.stringify(status)}`);
  }
}

const counter = (g: Guest): number => {
  const lines = g.command('cat /tmp/c');
  const value = Number(lines.at(-1));
  expect(Number.isInteger(value), `counter file holds ${JSON.stringify(lines)}`).toBe(true);
  return value;
};

/** Seconds since the guest booted, by its own clock. */
const uptime = (g: Guest): number => {
  const lines = g.command("cut -d' ' -f1 /proc/uptime");
  const value = Number(lines.at(-1));
  expect(value, `uptime ${JSON.stringify(lines)}`).toBeGreaterThan(0);
  return value;
};

describe('snapshot of a booted Linux guest', () => {
  it('restores files, a running background job and the shell into a fresh machine; refuses bad files', async () => {
    const consoleA = new ConsoleText();
    const a = new Guest(
      new Machine(
        { ramSize: 128 << 20, ...images, bootargs: bootargs, sharedMemory: true, coreModule },
        { console: consoleA.sink },
      ),
      consoleA,
    );
    a.waitFor(PROMPT, 0, 240_000);
    a.command('i=0; while true; do i=$((i+1)); echo $i > /tmp/c; sleep 1; done &');
    a.command('echo before-snapshot > /tmp/f');
    a.runFor(2500);
    const atSnapshot = counter(a);
    expect(atSnapshot).toBeGreaterThanOrEqual(2);
    const uptimeAtSnapshot = uptime(a);

    const capture = captureSnapshot(a.machine);
    const file = await encodeSnapshot(capture);

    // Change the original after the capture, so a restore that showed its state would be caught.
    a.command('echo after-snapshot > /tmp/f; kill %1');
    expect(a.command('cat /tmp/f')).toEqual(['after-snapshot']);
    a.machine.clock.pause();
    // Host time passes before the restore; the restored guest must not see it.
    await new Promise((resolve) => setTimeout(resolve, 3000));

    const consoleC = new ConsoleText();
    const restoreStarted = performance.now();
    const restored = await restoreSnapshot(file, restoreOptions, { console: consoleC.sink });
    const c = new Guest(restored.machine, consoleC);
    // The restored machine is a different one: it saw none of the original's console output.
    expect(consoleC.text).toBe('');

    // Guest time continues from the capture: neither back to boot nor forward by the host's pause. It
    // runs at host speed, so it may have moved on by at most the host time since the restore began (plus
    // the moments between reading the uptime and the capture), which excludes the 3 s pause before it.
    const uptimeRestored = uptime(c);
    const sinceRestore = (performance.now() - restoreStarted) / 1000;
    expect(uptimeRestored).toBeGreaterThanOrEqual(uptimeAtSnapshot);
    expect(uptimeRestored).toBeLessThan(uptimeAtSnapshot + sinceRestore + 0.5);
    expect(c.command('cat /tmp/f')).toEqual(['before-snapshot']);
    const first = counter(c);
    expect(first).toBeGreaterThanOrEqual(atSnapshot);
    expect(first).toBeLessThanOrEqual(atSnapshot + 1);
    c.runFor(3000);
    const later = counter(c);
    expect(later).toBeGreaterThanOrEqual(first + 2);
    expect(c.command('echo $((6*7))')).toEqual(['42']);

    // Files that are not this snapshot are refused, each with one clear line.
    const refuse = async (bytes: Uint8Array, message: RegExp): Promise<void> => {
      const error: unknown = await restoreSnapshot(bytes, restoreOptions, { console: { write() {} } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SnapshotError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    };
    const corrupted = file.slice();
    corrupted[corrupted.length >> 1]! ^= 0x40;
    await refuse(corrupted, /corrupted/);
    await refuse(file.subarray(0, file.length - 1000), /truncated/);
    const foreign = file.slice();
    foreign.set(new TextEncoder().encode('NOTASNAP'), 0);
    await refuse(foreign, /not a tabvm snapshot/);
    const newer = file.slice();
    new DataView(newer.buffer).setUint32(8, SNAPSHOT_FORMAT_VERSION + 1, true);
    await refuse(newer, /newer/);
    const otherKernel = images.kernel.slice();
    otherKernel[1000]! ^= 1;
    const error: unknown = await restoreSnapshot(
      file,
      { ...restoreOptions, kernel: otherKernel },
      { console: { write() {} } },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SnapshotError);
    expect((error as Error).message).toMatch(/different kernel/);
    const header = await readSnapshotHeader(file);
    expect(header.machine).toEqual({ ramSize: 128 << 20, harts: 1, bootargs: bootargs });
    expect(header.images.kernel?.size).toBe(images.kernel.length);
    // Compressed, and far smaller than the RAM it holds.
    expect(file.length).toBeLessThan(capture.pageData.length);
    expect(file.length).toBeGreaterThan(SNAPSHOT_PREAMBLE_BYTES);

    // Incremental: a child of the restored snapshot holds only what changed since, and its chain
    // restores the later state with the counter still going.
    c.command('echo in-child > /tmp/g');
    const atChild = counter(c);
    const childCapture = captureSnapshot(c.machine, { parent: restored.fingerprint });
    expect(childCapture.parent).toBe(header.id);
    const childFile = await encodeSnapshot(childCapture);
    expect(childCapture.pages.length).toBeLessThan(capture.pages.length / 4);
    expect(childFile.length).toBeLessThan(file.length / 4);
    c.command('rm /tmp/g /tmp/f');
    c.machine.clock.pause();

    const consoleD = new ConsoleText();
    const d = new Guest(
      (await restoreSnapshot([file, childFile], restoreOptions, { console: consoleD.sink })).machine,
      consoleD,
    );
    expect(d.command('cat /tmp/g /tmp/f')).toEqual(['in-child', 'before-snapshot']);
    const firstD = counter(d);
    expect(firstD).toBeGreaterThanOrEqual(atChild);
    d.runFor(3000);
    expect(counter(d)).toBeGreaterThanOrEqual(firstD + 2);
  }, 400_000);
});
