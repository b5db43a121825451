/**
 * The browser profile's certificate authority for guest HTTPS (docs/networking.md, "HTTPS"): made once
 * with WebCrypto, kept in IndexedDB (idb-keyval, a database of its own) with its private key
 * non-extractable, so it signs in this browser profile and never leaves it. The guest trusts it by
 * installing `profileCaPem()`.
 */
import { createStore, get, update, type UseStore } from 'idb-keyval';
import { z } from 'zod';
import { CertificateAuthority, createCaRecord, type CaRecord } from '../../workers/host/net/browser-network.ts';

const KEY = 'ca';
const caRecord = z.object({
  v: z.literal(1),
  privateKey: z.instanceof(CryptoKey),
  publicKey: z.instanceof(CryptoKey),
  certificate: z.instanceof(Uint8Array),
});

let defaultStore: UseStore | undefined;
const loaded = new WeakMap<UseStore, Promise<CertificateAuthority>>();

async function load(store: UseStore): Promise<CertificateAuthority> {
  const stored = caRecord.safeParse(await get(KEY, store));
  if (stored.success) return new CertificateAuthority(stored.data);
  const made = await createCaRecord();
  // Two tabs may make one at once: the first stored wins, and both use it.
  await update<CaRecord>(KEY, (old) => (caRecord.safeParse(old).success ? old! : made), store);
  return new CertificateAuthority(caRecord.parse(await get(KEY, store)));
}

/** The profile's CA, made and stored on first use; `store` is for tests. */
export function profileCa(store?: UseStore): Promise<CertificateAuthority> {
  const from = store ?? (defaultStore ??= createStore('tabvm-profile-ca', 'ca'));
  let authority = loaded.get(from);
  if (!authority) {
    authority = load(from);
    loaded.set(from, authority);
    authority.catch(() => loaded.delete(from));
  }
  return authority;
}

/** The CA's certificate in PEM, for the guest's trust store (e.g. /usr/local/share/ca-certificates/). */
export async function profileCaPem(store?: UseStore): Promise<string> {
  return (await profileCa(store)).pem;
}
