/**
 * The programs `npm run bench` times at a guest's shell prompt, the same commands under tabvm (Node and
 * Chromium) and QEMU. Each says what a working guest prints, so that a broken guest fails the run instead of
 * producing a fast figure: the expected values are computed here, on the host, from the same inputs.
 */
import { createHash } from 'node:crypto';

export interface Workload {
  readonly name: string;
  /** Untimed, before `command`: makes the input, warms the page cache with the programs it runs. */
  readonly setup?: string;
  /** The command timed, from the moment it is typed until its shell prompts again. */
  readonly command: string;
  /** Untimed, after `command`: prints what shows the command's result was right. */
  readonly verify?: string;
  /** What `setup`, `command` and `verify` together print on a working guest. */
  readonly expect: RegExp;
  /** False: the browser's VM cannot run it (see the docs). */
  readonly inBrowser: boolean;
}

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex');

const GZIP_INPUT_BYTES = 16 * 2 ** 20;
const GZIP_SEQ_END = 100_000;
const GZIP_REPEATS = 29;
/**
 * The gzip input: `seq 1 100000` (575 KiB of decimal numbers, one a line) 29 times, cut at 16 MiB. Cheap to
 * make in the guest, and to gzip as good as 16 MiB of distinct numbers: a repeat is further back than its
 * 32 KiB window can see.
 */
function gzipInput(): string {
  const lines: string[] = [];
  for (let i = 1; i <= GZIP_SEQ_END; i++) lines.push(String(i));
  return `${lines.join('\n')}\n`.repeat(GZIP_REPEATS).slice(0, GZIP_INPUT_BYTES);
}

const PYTHON_LOOP = 300_000;
/** Σ i² for i < n, as Python's integers compute it. */
function sumOfSquares(n: number): bigint {
  const m = BigInt(n);
  return ((m - 1n) * m * (2n * m - 1n)) / 6n;
}

/** A small C program (sieve, xorshift, qsort, checksum) for gcc to compile; its output is fixed. */
const C_PROGRAM = `#include <stdio.h>
#include <stdlib.h>

#define N 100000

static int compare(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return (x > y) - (x < y);
}

static unsigned primes_below(unsigned n) {
  char *composite = calloc(n, 1);
  unsigned count = 0;
  for (unsigned i = 2; i < n; i++) {
    if (composite[i]) continue;
    count++;
    for (unsigned long j = (unsigned long)i * i; j < n; j += i) composite[j] = 1;
  }
  free(composite);
  return count;
}

int main(void) {
  static unsigned values[N];
  unsigned x = 2463534242u;
  for (int i = 0; i < N; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    values[i] = x;
  }
  qsort(values, N, sizeof values[0], compare);
  unsigned long sum = 0;
  for (int i = 0; i < N; i++) sum = sum * 31 + values[i];
  printf("primes below %d: %u, checksum %lu\\n", N, primes_below(N), sum);
  return 0;
}
`;
/** The program's output (64-bit unsigned long, as on riscv64 and x86-64 alike). */
const C_PROGRAM_OUTPUT = 'primes below 100000: 9592, checksum 17346396548125304297';

/** At the default image's busybox prompt. */
export function defaultImageWorkloads(): Workload[] {
  return [
    {
      name: 'shell loop, 20000 iterations',
      command: "time sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo loop=$i'",
      expect: /^loop=20000$/m,
      inBrowser: true,
    },
    {
      // The bar is escaped for the Markdown table the benchmark prints.
      name: '`dd … bs=1M count=8 \\| sha256sum`',
      command: 'dd if=/dev/zero bs=1M count=8 2>/dev/null | time sha256sum',
      expect: new RegExp(`^${sha256(new Uint8Array(8 * 2 ** 20))}  -$`, 'm'),
      inBrowser: true,
    },
    {
      name: 'gzip of 16 MiB (busybox, default level)',
      // No pipe into head: under QEMU, `cat … | head -c` took minutes (waiting, not computing).
      setup:
        `seq 1 ${GZIP_SEQ_END} >/tmp/seq; cat $(for i in $(seq ${GZIP_REPEATS}); do echo /tmp/seq; done) >/tmp/in; ` +
        `truncate -s ${GZIP_INPUT_BYTES} /tmp/in; rm /tmp/seq; sha256sum /tmp/in`,
      command: 'gzip -c </tmp/in >/tmp/in.gz',
      verify: 'gunzip -c </tmp/in.gz | sha256sum; echo gz-bytes=$(wc -c </tmp/in.gz); rm /tmp/in /tmp/in.gz',
      expect: new RegExp(
        `^${sha256(gzipInput())}  /tmp/in$[\\s\\S]*^${sha256(gzipInput())}  -$\\s+^gz-bytes=\\d+$`,
        'm',
      ),
      inBrowser: true,
    },
  ];
}

/** At the Debian image's bash prompt, with gcc installed (bench-debian-disk.ts). */
export function debianWorkloads(): Workload[] {
  const source = Buffer.from(C_PROGRAM).toString('base64');
  return [
    {
      name: `Python loop, ${PYTHON_LOOP.toLocaleString('en')} iterations (python3 -c)`,
      setup: "python3 -c 'print(6*7)'",
      command: `python3 -c 'exec("s = 0\\nfor i in range(${PYTHON_LOOP}):\\n    s += i * i\\nprint(s)")'`,
      expect: new RegExp(`^42$[\\s\\S]*^${sumOfSquares(PYTHON_LOOP)}$`, 'm'),
      inBrowser: true,
    },
    {
      name: 'gcc -O2 of a 40-line C file',
      // One compile first, untimed: gcc, cc1, as and ld are read from the disk into the page cache.
      setup: `echo ${source} | base64 -d >/root/bench.c && gcc -O2 -o /root/bench /root/bench.c && rm /root/bench && echo source-ok`,
      command: 'gcc -O2 -o /root/bench /root/bench.c',
      verify: '/root/bench; rm /root/bench /root/bench.c',
      expect: new RegExp(`^source-ok$[\\s\\S]*^${C_PROGRAM_OUTPUT}$`, 'm'),
      inBrowser: false,
    },
  ];
}
