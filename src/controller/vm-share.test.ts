import { describe, expect, it } from 'vitest';
import { SharedFileError, sharePath, VmShare } from './vm-share.ts';

describe('sharePath', () => {
  it('gives the names of a path inside the shared folder', () => {
    expect(sharePath('poem.txt')).toEqual(['poem.txt']);
    expect(sharePath('out/deep/count.txt')).toEqual(['out', 'deep', 'count.txt']);
    expect(sharePath('dir/')).toEqual(['dir']);
    expect(sharePath('')).toEqual([]);
    expect(sharePath('.')).toEqual([]);
  });

  it('refuses every path that could leave the folder, in one sentence', () => {
    for (const path of ['..', '../x', 'a/../../x', 'a/./b', 'a//b', '/etc/passwd', '/mnt/shared/x', 'a\0b']) {
      expect(() => sharePath(path), path).toThrow(SharedFileError);
    }
    expect(() => sharePath('/etc/passwd')).toThrow(/"\/etc\/passwd" is absolute: give a path inside the shared folder/);
    expect(() => sharePath('a/../../x')).toThrow('"a/../../x" must name a place inside the shared folder');
  });
});

describe('VmShare without an OPFS (Node, or a page without a secure context)', () => {
  it("boots with /mnt/shared in the VM's memory, says so, and refuses the page's file calls", async () => {
    const notes: string[] = [];
    const share = new VmShare('vm-1', (text) => notes.push(text));
    expect(await share.requests()).toEqual([{ tag: 'shared', source: { kind: 'memory' } }]);
    expect(notes).toEqual([
      "this page has no Origin Private File System, so it cannot reach the shared folder: /mnt/shared is a folder in the VM's memory for this run",
    ]);
    await expect(share.readFile('poem.txt')).rejects.toThrow(SharedFileError);
    await expect(share.writeFile('poem.txt', 'x')).rejects.toThrow('no Origin Private File System');
  });
});
