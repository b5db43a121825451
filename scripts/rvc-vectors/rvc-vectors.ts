/**
 * Builds workers/cpu/rvc-vectors.bin.gz, the oracle for workers/cpu/rvc.test.ts: for every 16-bit RVC
 * parcel the 32-bit instruction it expands to on RV64GC, or 0 where the parcel is illegal or reserved.
 *
 * The expectation comes from GNU binutils, not from our expander: objdump disassembles every parcel
 * (`-M no-aliases` so the c.* mnemonic is kept), each c.* line is rewritten as the base instruction the
 * RVC chapter of the unprivileged spec (Table "RVC instruction listing") says it expands to, and gas
 * assembles those with `.option norvc`. The only knowledge in this file is that mnemonic-to-mnemonic
 * table; immediates and register numbers go through objdump's decoder and gas's encoder.
 *
 * Where objdump and the spec disagree the spec wins; the cases are in specOverride() below and are
 * counted at the end so a different binutils version that changes them is noticed. With binutils 2.40:
 *   - 0x0000: objdump prints `c.unimp`; the spec makes the all-zero parcel illegal → 0 (they agree; it
 *     just has no expansion).
 *   - 0x6101: objdump prints `c.addi16sp sp,0`; the spec reserves nzimm=0 → 0.
 *   - Every other reserved code point (c.addi4spn nzuimm=0, c.lui nzimm=0, c.addiw/c.lwsp/c.ldsp rd=x0,
 *     c.jr x0, quadrant-0 funct3=100, quadrant-1 100-1-11-1x) objdump already prints as `.2byte`, and
 *     every HINT (c.addi/c.li/c.lui/c.mv/c.add/c.slli with rd=x0, c.addi rd,0, c.slli64/c.srli64/
 *     c.srai64, c.nop with imm≠0) it decodes as its c.* form, which this table expands like any other.
 *
 * Fixture layout: gzip of 49152 little-endian u32, one per parcel p with (p & 3) != 3, in increasing
 * order of p (index = (p >> 2) * 3 + (p & 3)).
 *
 * Run through scripts/rvc-vectors/generate.sh (needs binutils-riscv64-linux-gnu).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const OBJDUMP = 'riscv64-linux-gnu-objdump';
const AS = 'riscv64-linux-gnu-as';
const OBJCOPY = 'riscv64-linux-gnu-objcopy';
const LD = 'riscv64-linux-gnu-ld';
const OUT = 'workers/cpu/rvc-vectors.bin.gz';

const parcels: number[] = [];
for (let p = 0; p < 0x10000; p++) if ((p & 3) !== 3) parcels.push(p);

const work = mkdtempSync(join(tmpdir(), 'rvc-vectors-'));
try {
  const input = Buffer.alloc(parcels.length * 2);
  parcels.forEach((p, i) => input.writeUInt16LE(p, i * 2));
  writeFileSync(join(work, 'parcels.bin'), input);
  const listing = execFileSync(
    OBJDUMP,
    ['-D', '-b', 'binary', '-m', 'riscv:rv64', '-M', 'no-aliases', join(work, 'parcels.bin')],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );

  // "   1a2:	0b0c                	c.addi4spn	a1,sp,400"
  const lineRe = /^\s*([0-9a-f]+):\t([0-9a-f]{4})\s+\t(\S+)(?:\t(.*))?$/;
  const decoded = new Map<number, { address: number; mnemonic: string; operands: string[] }>();
  for (const line of listing.split('\n')) {
    const m = lineRe.exec(line);
    if (!m) continue;
    const address = parseInt(m[1]!, 16);
    const parcel = parseInt(m[2]!, 16);
    if (address !== ((parcel >> 2) * 3 + (parcel & 3)) * 2) throw new Error(`objdump out of step at ${line}`);
    decoded.set(parcel, { address, mnemonic: m[3]!, operands: m[4] ? m[4].split(',') : [] });
  }
  if (decoded.size !== parcels.length) throw new Error(`objdump listed ${decoded.size} of ${parcels.length} parcels`);

  const overrideCounts = new Map<string, number>();
  const asmLines: string[] = ['.option norvc', '.option norelax', '.text'];
  for (const p of parcels) {
    const d = decoded.get(p)!;
    const reason = specOverride(d.mnemonic, d.operands);
    if (reason) overrideCounts.set(reason, (overrideCounts.get(reason) ?? 0) + 1);
    asmLines.push(reason ? '.4byte 0' : expansion(d.mnemonic, d.operands, d.address));
  }
  writeFileSync(join(work, 'expanded.s'), asmLines.join('\n') + '\n');
  execFileSync(AS, ['-march=rv64gc', '-o', join(work, 'expanded.o'), join(work, 'expanded.s')]);
  // gas keeps R_RISCV_JAL/BRANCH relocations even for `.+n`; linking applies them.
  execFileSync(LD, ['--no-relax', '-Ttext=0x10000000', '-e', '0', '-o', join(work, 'expanded.elf'), join(work, 'expanded.o')]);
  execFileSync(OBJCOPY, ['-O', 'binary', '-j', '.text', join(work, 'expanded.elf'), join(work, 'expanded.bin')]);
  const expanded = readFileSync(join(work, 'expanded.bin'));
  if (expanded.length !== parcels.length * 4) throw new Error(`gas produced ${expanded.length} bytes`);

  writeFileSync(OUT, gzipSync(expanded, { level: 9 }));
  let illegal = 0;
  for (let i = 0; i < parcels.length; i++) if (expanded.readUInt32LE(i * 4) === 0) illegal++;
  console.log(`${OUT}: ${parcels.length} parcels, ${parcels.length - illegal} legal, ${illegal} illegal/reserved`);
  for (const [reason, n] of overrideCounts) console.log(`  spec over objdump: ${n} × ${reason}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/**
 * Parcels objdump decodes that the spec says are illegal or reserved. Returns why, or undefined.
 */
function specOverride(mnemonic: string, operands: string[]): string | undefined {
  // Spec, RVC chapter: the all-zero parcel is a defined illegal instruction; objdump
  // names it c.unimp (the canonical illegal encoding), which is consistent, but it expands to nothing.
  if (mnemonic === 'c.unimp') return 'c.unimp (0x0000): defined illegal';
  // Spec, C.ADDI16SP: "the code point with nzimm=0 is reserved"; binutils 2.40 decodes 0x6101 as `c.addi16sp sp,0`.
  if (mnemonic === 'c.addi16sp' && operands[1] === '0') return 'c.addi16sp sp,0 (0x6101): reserved by the spec';
  return undefined;
}

/** The base instruction a c.* line expands to, in gas syntax; `.4byte 0` for what objdump could not decode. */
function expansion(mnemonic: string, ops: string[], address: number): string {
  const [a, b] = ops;
  const target = (t: string | undefined): string => {
    const off = parseInt(t!, 16) - address;
    return off < 0 ? `.-${-off}` : `.+${off}`;
  };
  switch (mnemonic) {
    case '.2byte':
      return '.4byte 0';
    // quadrant 0
    case 'c.addi4spn': // addi rd', x2, nzuimm
      return `addi ${ops.join(',')}`;
    case 'c.fld':
    case 'c.lw':
    case 'c.ld':
    case 'c.fsd':
    case 'c.sw':
    case 'c.sd':
    case 'c.fldsp': // quadrant 2 stack-relative forms: objdump already writes the base `off(sp)` operand
    case 'c.lwsp':
    case 'c.ldsp':
    case 'c.fsdsp':
    case 'c.swsp':
    case 'c.sdsp':
      return `${mnemonic.slice(2).replace(/sp$/, '')} ${ops.join(',')}`;
    // quadrant 1
    case 'c.addi': // addi rd, rd, nzimm (c.nop and HINTs included)
    case 'c.addiw': // addiw rd, rd, imm
    case 'c.andi':
    case 'c.srli':
    case 'c.srai':
    case 'c.slli':
    case 'c.addi16sp': // addi x2, x2, nzimm
      return `${mnemonic.slice(2).replace('16sp', '')} ${a},${a},${b}`;
    case 'c.srli64': // RV64 shamt=0 HINT forms
    case 'c.srai64':
    case 'c.slli64':
      return `${mnemonic.slice(2, -2)} ${a},${a},0`;
    case 'c.li': // addi rd, x0, imm
      return `addi ${a},zero,${b}`;
    case 'c.lui': // lui rd, nzimm (objdump prints the 20-bit field)
      return `lui ${a},${b}`;
    case 'c.sub':
    case 'c.xor':
    case 'c.or':
    case 'c.and':
    case 'c.subw':
    case 'c.addw':
    case 'c.add': // add rd, rd, rs2
      return `${mnemonic.slice(2)} ${a},${a},${b}`;
    case 'c.j': // jal x0, offset
      return `jal zero,${target(a)}`;
    case 'c.beqz': // beq rs1', x0, offset
      return `beq ${a},zero,${target(b)}`;
    case 'c.bnez':
      return `bne ${a},zero,${target(b)}`;
    // quadrant 2
    case 'c.jr': // jalr x0, 0(rs1)
      return `jalr zero,0(${a})`;
    case 'c.jalr': // jalr x1, 0(rs1)
      return `jalr ra,0(${a})`;
    case 'c.mv': // add rd, x0, rs2
      return `add ${a},zero,${b}`;
    case 'c.ebreak':
      return 'ebreak';
    default:
      throw new Error(`no expansion rule for ${mnemonic} ${ops.join(',')}`);
  }
}
