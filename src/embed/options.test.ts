import { describe, expect, it } from 'vitest';
import { AllowListSchema, describeIssue, VmOptionsSchema } from './options.ts';

describe('the iframe allow list', () => {
  it('takes comma-separated origins', () => {
    expect(AllowListSchema.parse(' https://a.example, http://localhost:8080 ,')).toEqual([
      'https://a.example',
      'http://localhost:8080',
    ]);
    expect(AllowListSchema.parse('')).toEqual([]);
  });

  it('refuses anything that is not exactly an origin: a path, a wildcard, a bare host', () => {
    for (const value of ['https://a.example/tutorial', '*', 'a.example', 'https://a.example/']) {
      const parsed = AllowListSchema.safeParse(value);
      expect(parsed.success, value).toBe(false);
      if (!parsed.success) expect(describeIssue(parsed.error, 'embed.html')).toContain('must be an origin');
    }
  });
});

describe('createVM options', () => {
  it('defaults the memory, the CPUs, the prompt and the network', () => {
    expect(VmOptionsSchema.parse({ image: 'm.json' })).toEqual({
      image: 'm.json',
      memory: 256,
      cpus: 1,
      prompt: /[#$] $/,
      network: true,
    });
    expect(VmOptionsSchema.parse({ image: 'm.json', network: false }).network).toBe(false);
    expect(VmOptionsSchema.safeParse({ image: 'm.json', network: 'yes' }).success).toBe(false);
    expect(VmOptionsSchema.parse({ image: 'm.json', snapshotUrl: 's.tabvm' })).toMatchObject({
      snapshotUrl: 's.tabvm',
    });
  });

  it('takes 1 to 8 CPUs and names the option otherwise', () => {
    expect(VmOptionsSchema.parse({ image: 'm.json', cpus: 8 }).cpus).toBe(8);
    const tooMany = VmOptionsSchema.safeParse({ image: 'm.json', cpus: 9 });
    expect(tooMany.success).toBe(false);
    expect(describeIssue(tooMany.error!, 'createVM')).toMatch(/^createVM option "cpus": /);
    expect(VmOptionsSchema.safeParse({ image: 'm.json', cpus: 1.5 }).success).toBe(false);
  });

  it('names the option that is wrong', () => {
    const tooSmall = VmOptionsSchema.safeParse({ image: 'm.json', memory: 8 });
    expect(!tooSmall.success && describeIssue(tooSmall.error, 'createVM')).toMatch(/^createVM option "memory": .*16/);
    const noImage = VmOptionsSchema.safeParse({ image: '' });
    expect(!noImage.success && describeIssue(noImage.error, 'createVM')).toBe(
      'createVM option "image": the URL of an image manifest',
    );
    const snapshotOnly = VmOptionsSchema.safeParse({ snapshotUrl: 'booted.tabvm' });
    expect(!snapshotOnly.success && describeIssue(snapshotOnly.error, 'createVM')).toMatch(
      /^createVM option "image": the URL of an image manifest is required, also with a snapshot/,
    );
    const notANumber = VmOptionsSchema.safeParse({ image: 'm.json', memory: Number('lots') });
    expect(notANumber.success).toBe(false);
  });

  it('takes a relay’s ws:// or wss:// URL and refuses anything else with the option’s name', () => {
    expect(VmOptionsSchema.parse({ image: 'm.json', relay: 'ws://127.0.0.1:8765/' }).relay).toBe(
      'ws://127.0.0.1:8765/',
    );
    expect(VmOptionsSchema.parse({ image: 'm.json', relay: 'wss://relay.example/wisp/' }).relay).toBe(
      'wss://relay.example/wisp/',
    );
    const http = VmOptionsSchema.safeParse({ image: 'm.json', relay: 'http://relay.example/' });
    expect(!http.success && describeIssue(http.error, 'createVM')).toBe(
      'createVM option "relay": a relay\'s URL starts with ws:// or wss://, not http://',
    );
    const garbage = VmOptionsSchema.safeParse({ image: 'm.json', relay: 'not a url' });
    expect(!garbage.success && describeIssue(garbage.error, 'createVM')).toBe(
      'createVM option "relay": not a url is not a URL',
    );
  });
});
