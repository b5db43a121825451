// Exhaustive check of the RVC expander (assembly/rvc.ts) against GNU binutils: every one of the 49152
// 16-bit parcels whose low bits are not 0b11, compared with the expansion in rvc-vectors.bin.gz, which
// scripts/rvc-vectors/generate.sh builds with objdump + gas (see rvc-vectors.ts there for how, and for
// the two parcels where the spec overrides objdump).
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';

const here = new URL('.', import.meta.url);
let expandCompressed: (c: number) => number;
let expected: Uint32Array;

const PARCEL_COUNT = 49152;
const parcelAt = (i: number): number => Math.floor(i / 3) * 4 + (i % 3);
const hex = (v: number, digits: number): string => '0x' + (v >>> 0).toString(16).padStart(digits, '0');

beforeAll(async () => {
  const wasm = readFileSync(new URL('build/rvc.wasm', here));
  const { instance } = await WebAssembly.instantiate(wasm, {});
  expandCompressed = instance.exports.expandCompressed as (c: number) => number;
  const bytes = gunzipSync(readFileSync(new URL('rvc-vectors.bin.gz', here)));
  expected = new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
});

describe('expandCompressed', () => {
  it('the fixture holds one expansion per compressed parcel', () => {
    expect(expected.length).toBe(PARCEL_COUNT);
  });

  it('matches binutils for all 49152 compressed parcels', () => {
    const mismatches: string[] = [];
    for (let i = 0; i < PARCEL_COUNT; i++) {
      const parcel = parcelAt(i);
      const got = expandCompressed(parcel) >>> 0;
      const want = expected[i]!;
      if (got !== want) mismatches.push(`${hex(parcel, 4)}: got ${hex(got, 8)}, want ${hex(want, 8)}`);
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(mismatches.length).toBe(0);
  });

  // Spot checks written from the spec by hand, so a regenerated fixture cannot silently drift on the
  // cases the spec singles out.
  it.each([
    [0x0000, 0, 'all-zero parcel is illegal'],
    [0x0010, 0, 'c.addi4spn nzuimm=0 reserved'],
    [0x6101, 0, 'c.addi16sp nzimm=0 reserved'],
    [0x6001, 0, 'c.lui x0 nzimm=0 reserved'],
    [0x6081, 0, 'c.lui x1 nzimm=0 reserved'],
    [0x2001, 0, 'c.addiw rd=x0 reserved'],
    [0x4002, 0, 'c.lwsp rd=x0 reserved'],
    [0x6002, 0, 'c.ldsp rd=x0 reserved'],
    [0x8002, 0, 'c.jr rs1=x0 reserved'],
    [0x8000, 0, 'quadrant 0 funct3=100 reserved'],
    [0x9c41, 0, 'quadrant 1 100-1-11-10 reserved'],
    [0x9c61, 0, 'quadrant 1 100-1-11-11 reserved'],
    [0x0001, 0x0000_0013, 'c.nop → addi x0,x0,0'],
    [0x0005, 0x0010_0013, 'c.nop HINT with imm=1 → addi x0,x0,1'],
    [0x4005, 0x0010_0013, 'c.li x0,1 HINT → addi x0,x0,1'],
    [0x6005, 0x0000_1037, 'c.lui x0,1 HINT → lui x0,1'],
    [0x8006, 0x0010_0033, 'c.mv x0,ra HINT → add x0,x0,ra'],
    [0x0006, 0x0010_1013, 'c.slli x0,1 HINT → slli x0,x0,1'],
    [0x9002, 0x0010_0073, 'c.ebreak → ebreak'],
    [0x8082, 0x0000_8067, 'c.jr ra → jalr x0,0(ra) (ret)'],
    [0x1141, 0xff01_0113, 'c.addi sp,-16 → addi sp,sp,-16'],
    [0x2501, 0x0005_051b, 'c.addiw a0,0 → addiw a0,a0,0 (sext.w)'],
    [0x9001, 0x0204_5413, 'c.srli s0,32 → srli s0,s0,32 (shamt[5] legal on RV64)'],
  ])('%s', (parcel, want, _why) => {
    expect(hex(expandCompressed(parcel), 8)).toBe(hex(want, 8));
  });

  it('ignores bits above the parcel and rejects quadrant 3', () => {
    expect(expandCompressed(0xdead_0001) >>> 0).toBe(0x13);
    expect(expandCompressed(0x0003)).toBe(0);
    expect(expandCompressed(0xffff)).toBe(0);
  });
});
