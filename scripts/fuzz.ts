/**
 * `npm run fuzz -- [--seconds 60] [--seed N] [--target snapshot,manifest,chunk,instructions]`
 *
 * Mutates untrusted inputs (snapshot files, image manifests, disk chunks) and runs random instruction
 * streams, checking the properties of scripts/fuzz/check.ts for each: a known refusal with a plain
 * sentence or acceptance, bounded time, bounded peak memory, no crash. The targets take turns until the
 * time is up. Each finding is written to tests/fuzz/regressions/<target>/<sha256>.bin, which the
 * regression test replays; the exit code is 1 when there was any. The same seed repeats the same inputs.
 */
import { Command } from 'commander';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkInput, DEFAULT_LIMITS, peakRss } from './fuzz/check.ts';
import { Random } from './fuzz/random.ts';
import { FUZZ_TARGETS, type FuzzTarget } from './fuzz/targets.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');

const options = new Command()
  .name('npm run fuzz --')
  .option('--seconds <n>', 'how long to run', '60')
  .option('--seed <n>', 'the random seed (the same seed gives the same inputs)', String(Date.now() % 2 ** 31))
  .option('--target <names>', `targets, comma-separated (${FUZZ_TARGETS.map((t) => t.name).join(', ')})`)
  .option('--out <dir>', 'where findings are written', resolve(root, 'tests/fuzz/regressions'))
  .parse()
  .opts<{ seconds: string; seed: string; target?: string; out: string }>();

const seconds = Number(options.seconds);
const seed = Number(options.seed);
if (!(seconds > 0) || !Number.isInteger(seed)) {
  process.stderr.write('fuzz: --seconds must be positive and --seed an integer\n');
  process.exit(2);
}
const names = options.target?.split(',') ?? FUZZ_TARGETS.map((t) => t.name);
const targets = names.map((name) => {
  const target = FUZZ_TARGETS.find((t) => t.name === name);
  if (!target) {
    process.stderr.write(`fuzz: no target ${name}\n`);
    process.exit(2);
  }
  return target;
});

interface Tally {
  inputs: number;
  outcomes: Map<string, number>;
  findings: number;
  slowestMs: number;
  slowestCpuMs: number;
}

/**
 * Collects garbage when the process was started with --expose-gc (npm run fuzz does): the instruction
 * target builds a machine per input, and V8 would otherwise keep dead guest memories long enough to
 * read as growth.
 */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
const random = new Random(seed);
collect();
const baseline = process.memoryUsage().rss;
const tallies = new Map<FuzzTarget, Tally>();
const seeds = new Map<FuzzTarget, Uint8Array[]>();
for (const target of targets) {
  seeds.set(target, await target.seeds());
  tallies.set(target, { inputs: 0, outcomes: new Map(), findings: 0, slowestMs: 0, slowestCpuMs: 0 });
}
const deadline = performance.now() + seconds * 1000;
let findings = 0;
for (let turn = 0; performance.now() < deadline; turn++) {
  const target = targets[turn % targets.length]!;
  const pool = seeds.get(target)!;
  const input = await target.mutate(random, random.pick(pool), pool);
  const outcome = await checkInput(target, input, baseline, DEFAULT_LIMITS);
  if (target.name === 'instructions') collect();
  const tally = tallies.get(target)!;
  tally.inputs++;
  tally.slowestMs = Math.max(tally.slowestMs, outcome.ms);
  tally.slowestCpuMs = Math.max(tally.slowestCpuMs, outcome.cpuMs);
  const key =
    outcome.kind === 'accepted'
      ? `accepted (${outcome.what})`
      : outcome.kind === 'refused'
        ? `refused: ${outcome.message.replace(/\d+/g, 'N').slice(0, 70)}`
        : 'FINDING';
  tally.outcomes.set(key, (tally.outcomes.get(key) ?? 0) + 1);
  if (outcome.kind === 'finding') {
    tally.findings++;
    findings++;
    const dir = resolve(options.out, target.name);
    mkdirSync(dir, { recursive: true });
    const file = resolve(dir, `${createHash('sha256').update(input).digest('hex').slice(0, 16)}.bin`);
    writeFileSync(file, input);
    if (tally.findings <= 10) process.stderr.write(`fuzz: ${target.name}: ${outcome.problem} (input: ${file})\n`);
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
process.stdout.write(`fuzz: seed ${seed}, ${seconds} s, peak RSS ${mib(peakRss())} (started at ${mib(baseline)})\n`);
for (const [target, tally] of tallies) {
  process.stdout.write(
    `  ${target.name}: ${tally.inputs} inputs, ${tally.findings} findings, slowest ${tally.slowestCpuMs.toFixed(0)} ms of CPU (${tally.slowestMs.toFixed(0)} ms wall)\n`,
  );
  const sorted = [...tally.outcomes].sort((a, b) => b[1] - a[1]);
  for (const [what, n] of sorted.slice(0, 12)) process.stdout.write(`    ${String(n).padStart(6)}  ${what}\n`);
  if (sorted.length > 12) process.stdout.write(`    ${sorted.length - 12} other kinds of outcome\n`);
}
process.exit(findings > 0 ? 1 : 0);
