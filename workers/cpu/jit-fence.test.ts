// FENCE in translated code (docs/harts.md "Memory model"): with one hart the JIT emits nothing for it;
// with several, the same sequentially consistent atomic as the interpreter (i64.atomic.rmw.add of 0 to
// x0's slot), so that a fence in a hot loop orders memory for the other harts' threads too.
import { afterEach, describe, expect, it } from 'vitest';
import * as A from './test-support/asm.ts';
import type { Item } from './test-support/asm.ts';
import { DATA, Machine } from './test-support/machine.ts';

// i64.atomic.rmw.add with its memarg (alignment 2^3, offset 0).
const ATOMIC_ADD = [0xfe, 0x1f, 0x03, 0x00];

const loop: Item[] = [A.ld('a1', 's0', 0), A.addi('a1', 'a1', 1), A.sd('a1', 's0', 0), A.fence(), A.addi('s1', 's1', -1)];
const program: Item[] = [...A.li('s0', DATA), ...A.li('s1', 200), ...loop, A.bne('s1', 'zero', -A.sizeOf(loop)), A.ebreak()];

/** Every wasm module compiled while `run` runs (the JIT's translations among them). */
async function modulesCompiled(run: () => Promise<void>): Promise<Uint8Array[]> {
  const Original = WebAssembly.Module;
  const seen: Uint8Array[] = [];
  class Recording extends Original {
    constructor(bytes: BufferSource) {
      super(bytes);
      seen.push(new Uint8Array(bytes instanceof ArrayBuffer ? bytes : bytes.buffer));
    }
  }
  WebAssembly.Module = Recording;
  try {
    await run();
  } finally {
    WebAssembly.Module = Original;
  }
  return seen;
}

function contains(bytes: Uint8Array, pattern: readonly number[]): boolean {
  outer: for (let i = 0; i + pattern.length <= bytes.length; i++) {
    for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
    return true;
  }
  return false;
}

async function translate(harts: number): Promise<{ modules: Uint8Array[]; count: bigint; blocks: number }> {
  let m: Machine | undefined;
  const modules = await modulesCompiled(async () => {
    m = await Machine.boot(program, { jitThreshold: 1, harts });
    m.runToEbreak();
  });
  return { modules, count: m!.read64(DATA), blocks: m!.hart.jit.blocks };
}

describe('FENCE in the JIT', () => {
  afterEach(() => expect(WebAssembly.Module.name).toBe('Module'));

  it('is a sequentially consistent atomic in translated code when several harts share the memory', async () => {
    const { modules, count, blocks } = await translate(2);
    expect(count).toBe(200n);
    expect(blocks).toBeGreaterThan(0);
    expect(modules.some((bytes) => contains(bytes, ATOMIC_ADD))).toBe(true);
  });

  it('costs nothing with one hart', async () => {
    const { modules, count, blocks } = await translate(1);
    expect(count).toBe(200n);
    expect(blocks).toBeGreaterThan(0);
    expect(modules.length).toBeGreaterThan(0);
    expect(modules.some((bytes) => contains(bytes, ATOMIC_ADD))).toBe(false);
  });
});
