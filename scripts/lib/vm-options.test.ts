import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_SMP, parseShareOption, parseSmp, resolveVmFiles } from './vm-options.ts';
import { MAX_CPUS } from '../../workers/protocol/machine-limits.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tabvm-share-option-'));
const file = path.join(dir, 'file');
fs.writeFileSync(file, 'x');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('--share DIR[,ro][,tag=NAME]', () => {
  it('reads the directory, ro and the tag (default "shared")', () => {
    expect(parseShareOption(dir)).toEqual({ path: dir, readOnly: false, tag: 'shared' });
    expect(parseShareOption(`${dir},ro,tag=data.1`)).toEqual({ path: dir, readOnly: true, tag: 'data.1' });
    expect(parseShareOption(`${dir},tag=x`)).toEqual({ path: dir, readOnly: false, tag: 'x' });
  });

  it('refuses what cannot be shared with one line each', () => {
    expect(() => parseShareOption(',ro')).toThrow(/--share ,ro: no directory named/);
    expect(() => parseShareOption(path.join(dir, 'missing'))).toThrow(/no such directory/);
    expect(() => parseShareOption(file)).toThrow(/not a directory/);
    expect(() => parseShareOption(`${dir},rw`)).toThrow(/unknown option "rw"/);
    expect(() => parseShareOption(`${dir},tag=`)).toThrow(/a tag has 1 to 64/);
    expect(() => parseShareOption(`${dir},tag=a b`)).toThrow(/a tag has 1 to 64/);
    const bios = path.join(dir, 'bios');
    fs.writeFileSync(bios, new Uint8Array(64));
    expect(() => resolveVmFiles({ bios, share: [dir, dir] }, dir)).toThrow(/two shares have the tag shared/);
    expect(resolveVmFiles({ bios, share: [dir, `${dir},tag=b`] }, dir).shares).toHaveLength(2);
  });
});

describe('--smp N', () => {
  it('takes QEMU\'s spellings, 1 to the most CPUs the page and the snapshot reader accept too', () => {
    expect(parseSmp(undefined)).toBe(1);
    expect(parseSmp('3')).toBe(3);
    expect(parseSmp('cpus=8')).toBe(8);
    expect(MAX_SMP).toBe(MAX_CPUS);
    expect(() => parseSmp(String(MAX_CPUS + 1))).toThrow(`--smp ${MAX_CPUS + 1}: 1 to ${MAX_CPUS} CPUs`);
  });
});
