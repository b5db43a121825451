import 'fake-indexeddb/auto';
import { X509Certificate } from 'node:crypto';
import { createStore, set } from 'idb-keyval';
import { describe, expect, it } from 'vitest';
import { profileCa, profileCaPem } from './profile-ca.ts';

describe('the profile CA in IndexedDB', () => {
  it('is made once and found again by a later page', async () => {
    const first = await profileCa(createStore('ca-once', 'ca'));
    // A later page: a new store object on the same database reads what the first stored.
    const again = createStore('ca-once', 'ca');
    expect(await profileCaPem(again)).toBe(first.pem);
    const leaf = new X509Certificate(Buffer.from((await (await profileCa(again)).certificateFor('a.test')).chain[0]!));
    expect(leaf.verify(new X509Certificate(first.pem).publicKey)).toBe(true);
  });

  it('replaces a stored record that is not a CA', async () => {
    const store = createStore('ca-bad', 'ca');
    await set('ca', { v: 1, certificate: 'not bytes' }, store);
    const authority = await profileCa(store);
    expect(new X509Certificate(authority.pem).ca).toBe(true);
  });
});
