// Rough speed of the F/D arithmetic (workers/cpu/assembly/fpu.ts): nanoseconds per operation in a
// tight loop inside wasm (the interpreter's situation), and per call from JavaScript.
// After `npm run build:core`:  npx tsx scripts/fpu-vectors/bench.ts
import { readFileSync } from 'node:fs';

type Fn = (...args: (number | bigint)[]) => number | bigint;
const wasm = readFileSync(new URL('../../workers/cpu/build/fpu.wasm', import.meta.url));
const { instance } = await WebAssembly.instantiate(wasm, {});
const e = instance.exports as Record<string, Fn>;
const bench = e['bench']!;
const N = 5_000_000;

/** Best of five runs, in ns per operation. */
function time(fn: () => void): number {
  fn(); // warm up
  let best = Infinity;
  for (let k = 0; k < 5; k++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  return best / N;
}

const ops = ['f64_add', 'f64_mul', 'f64_div', 'f64_sqrt', 'f64_fma', 'f32_add', 'f32_mul', 'f32_fma', 'f64_to_i32'];
console.log('in-wasm loop, ns/op      rne     rtz     rmm');
console.log(
  `host f64.add (floor) ${time(() => bench(9, N, 0))
    .toFixed(2)
    .padStart(7)}`,
);
ops.forEach((name, op) => {
  const row = [0, 1, 4].map((rm) =>
    time(() => bench(op, N, rm))
      .toFixed(2)
      .padStart(7),
  );
  console.log(`${name.padEnd(20)} ${row.join(' ')}`);
});

const a = 0x3ff1_2345_6789_0abcn;
const b = 0x4009_8765_4321_0fedn;
const perCall = (name: string): string => {
  const f = e[name]!;
  return time(() => {
    for (let i = 0; i < N; i++) f(a, b, 0);
  }).toFixed(1);
};
console.log(`from JS (BigInt args and result), ns/call: f64_add ${perCall('f64_add')}, f64_mul ${perCall('f64_mul')}`);
