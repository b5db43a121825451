import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_SMP, parseShareOption, parseSmp, resolveNetCard, resolveVmFiles } from './vm-options.ts';
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

describe('--net user|none and --mac', () => {
  const plugged = { userNetwork: true };
  const unplugged = { userNetwork: false };

  it('gives a card on the user network by default when there is one, with a random QEMU-style address', () => {
    const a = resolveNetCard({}, plugged);
    const b = resolveNetCard({ net: 'user' }, plugged);
    expect(a?.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(b?.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(resolveNetCard({ mac: '52:54:00:AB:cd:01' }, plugged)).toEqual({ mac: '52:54:00:ab:cd:01' });
    expect(resolveNetCard({ net: 'none' }, plugged)).toBeUndefined();
  });

  it('gives none by default without a user network', () => {
    expect(resolveNetCard({}, unplugged)).toBeUndefined();
  });

  it('refuses what cannot be in one line each', () => {
    expect(() => resolveNetCard({ net: 'tap' }, plugged)).toThrow(/^--net tap: user or none$/);
    expect(() => resolveNetCard({ net: 'user' }, unplugged)).toThrow(/no user-mode network yet/);
    expect(() => resolveNetCard({ net: 'none', mac: '52:54:00:00:00:01' }, plugged)).toThrow(/--mac: the VM has no/);
    expect(() => resolveNetCard({ mac: '52:54:00:00:01' }, plugged)).toThrow(/--mac 52:54:00:00:01: .* is not a MAC/);
    expect(() => resolveNetCard({ mac: '01:00:5e:00:00:01' }, plugged)).toThrow(/multicast/);
  });

  it("follows a snapshot: its card and address, or none, whatever the defaults say", () => {
    const mac = '52:54:00:12:34:56';
    expect(resolveNetCard({}, { ...unplugged, snapshotMac: mac })).toEqual({ mac });
    expect(resolveNetCard({}, { ...plugged, snapshotMac: null })).toBeUndefined();
    expect(() => resolveNetCard({ net: 'none' }, { ...plugged, snapshotMac: mac })).toThrow(/has a network card/);
    expect(() => resolveNetCard({ net: 'user' }, { ...plugged, snapshotMac: null })).toThrow(/had no network card/);
    expect(() => resolveNetCard({ mac: '52:54:00:00:00:09' }, { ...plugged, snapshotMac: mac })).toThrow(mac);
  });
});
