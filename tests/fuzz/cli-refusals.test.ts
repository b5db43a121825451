// Issue 12 parts 1 and 3 through the command line: a 2 MiB snapshot bomb is refused at once with one
// line and exit code 2, costing no more memory than a file refused for its magic bytes; a damaged
// chunked-disk manifest is refused by the shared schema, naming the field.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DISK_IMAGE_FORMAT } from '../../workers/protocol/disk-image.ts';
import { frameSnapshot, snapshotHeader, zerosBomb } from './snapshot-frame.ts';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const scratch = mkdtempSync(resolve(tmpdir(), 'tabvm-fuzz-cli-'));
const MIB = 1024 * 1024;

/** Runs the CLI under /usr/bin/time: its exit code, stderr, peak RSS and wall time. */
function run(args: string[]): { code: number | null; stderr: string; peakBytes: number; seconds: number } {
  const result = spawnSync(
    '/usr/bin/time',
    ['-f', 'TIME %M %e', process.execPath, '--import', 'tsx', 'scripts/vm.ts', ...args],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  const match = /TIME (\d+) ([\d.]+)\s*$/.exec(result.stderr);
  expect(match).not.toBeNull();
  return {
    code: result.status,
    // time(1) adds a line of its own for a non-zero exit.
    stderr: result.stderr
      .slice(0, match!.index)
      .replace(/^Command exited with non-zero status \d+$/m, '')
      .trim(),
    peakBytes: Number(match![1]) * 1024,
    seconds: Number(match![2]),
  };
}

describe('npm run vm refuses untrusted files within bounds', () => {
  it('a 2 MiB snapshot bomb: one line, exit 2, under 64 MiB and 0.5 s more than a file with wrong magic', () => {
    const bomb = resolve(scratch, 'bomb.tabvm');
    writeFileSync(bomb, frameSnapshot(snapshotHeader({ ramSize: MIB, pages: 2 ** 19 }), zerosBomb()));
    const junk = resolve(scratch, 'junk.tabvm');
    writeFileSync(junk, new Uint8Array(2 * MIB));
    // Interleaved, the best of three each: the machine is shared, and startup (1.5 s) dominates both.
    const runs = [junk, bomb, junk, bomb, junk, bomb].map((file) => run(['--snapshot', file]));
    const [baseline, refused] = [runs.filter((_, i) => i % 2 === 0), runs.filter((_, i) => i % 2 === 1)];
    for (const r of baseline) expect(r.stderr).toMatch(/not a tabvm snapshot/);
    for (const r of refused) {
      expect(r.code).toBe(2);
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/--snapshot .*bomb\.tabvm: snapshot header lists more pages than its 1 MiB of RAM hold/);
    }
    const least = (list: typeof runs, key: 'peakBytes' | 'seconds'): number => Math.min(...list.map((r) => r[key]));
    expect(least(refused, 'peakBytes') - least(baseline, 'peakBytes')).toBeLessThan(64 * MIB);
    expect(least(refused, 'seconds') - least(baseline, 'seconds')).toBeLessThan(0.5);
  }, 240_000);

  it.each([
    ['a fractional chunk index', { index: 0.5 }, /disk\.chunks\.0\.index/],
    ['a size given as a string', { size: '1048576' }, /disk\.size/],
  ])(
    'a chunked disk whose manifest has %s',
    (_what, change, field) => {
      const dir = resolve(scratch, `disk-${Math.random().toString(36).slice(2)}`);
      mkdirSync(dir);
      const chunk = { index: 0, sha256: 'a'.repeat(64), compressedSize: 100, ...('index' in change ? change : {}) };
      const disk = {
        format: DISK_IMAGE_FORMAT,
        size: MIB,
        chunkSize: 65536,
        chunks: [chunk],
        ...('size' in change ? change : {}),
      };
      writeFileSync(resolve(dir, 'manifest.json'), JSON.stringify({ disk }));
      const r = run(['--disk', dir]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(field);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    },
    60_000,
  );
});
