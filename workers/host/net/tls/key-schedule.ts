/**
 * TLS 1.3's key schedule (RFC 8446 §7.1) for its one cipher suite here, TLS_AES_128_GCM_SHA256: HKDF
 * (RFC 5869) with SHA-256 on WebCrypto's HMAC, the traffic keys (§7.3) and Finished's verify_data
 * (§4.4.4). Every secret is 32 bytes (the hash's length).
 */
import { concat } from './der.ts';

export const HASH_LENGTH = 32;
const KEY_LENGTH = 16;
const IV_LENGTH = 12;
const encoder = new TextEncoder();

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const hmacKey = await crypto.subtle.importKey('raw', key as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  return new Uint8Array(await crypto.subtle.sign('HMAC', hmacKey, data as BufferSource));
}

export async function sha256(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data as BufferSource));
}

/** HKDF-Extract(salt, IKM) = HMAC-Hash(salt, IKM) (RFC 5869 §2.2). */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return hmac(salt, ikm);
}

/** HKDF-Expand-Label (RFC 8446 §7.1): HKDF-Expand with the HkdfLabel structure as its info. */
export async function hkdfExpandLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const fullLabel = encoder.encode(`tls13 ${label}`);
  const info = concat([
    Uint8Array.of(length >> 8, length & 0xff, fullLabel.length),
    fullLabel,
    Uint8Array.of(context.length),
    context,
  ]);
  // HKDF-Expand (RFC 5869 §2.3): T(n) = HMAC(PRK, T(n-1) | info | n).
  const blocks: Uint8Array[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  for (let n = 1; n * HASH_LENGTH < length + HASH_LENGTH; n++) {
    previous = await hmac(secret, concat([previous, info, Uint8Array.of(n)]));
    blocks.push(previous);
  }
  return concat(blocks).slice(0, length);
}

/** Derive-Secret(Secret, Label, Messages), given Transcript-Hash(Messages). */
export function deriveSecret(
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  return hkdfExpandLabel(secret, label, transcriptHash, HASH_LENGTH);
}

const ZEROS = new Uint8Array(HASH_LENGTH);

/** Early Secret with no PSK, and the salt it gives the Handshake Secret. */
export async function handshakeSecret(sharedSecret: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const early = await hkdfExtract(ZEROS, ZEROS);
  const salt = await deriveSecret(early, 'derived', await sha256(new Uint8Array(0)));
  return hkdfExtract(salt, sharedSecret);
}

export async function masterSecret(handshake: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const salt = await deriveSecret(handshake, 'derived', await sha256(new Uint8Array(0)));
  return hkdfExtract(salt, ZEROS);
}

/** The raw write key and IV of a traffic secret (§7.3). */
export async function trafficKeyBytes(secret: Uint8Array): Promise<{ key: Uint8Array; iv: Uint8Array }> {
  const empty = new Uint8Array(0);
  return {
    key: await hkdfExpandLabel(secret, 'key', empty, KEY_LENGTH),
    iv: await hkdfExpandLabel(secret, 'iv', empty, IV_LENGTH),
  };
}

/** One direction's record protection: the AES-128-GCM key and the IV. */
export interface TrafficKeys {
  readonly key: CryptoKey;
  readonly iv: Uint8Array;
}

export async function trafficKeys(secret: Uint8Array): Promise<TrafficKeys> {
  const { key, iv } = await trafficKeyBytes(secret);
  return {
    key: await crypto.subtle.importKey('raw', key as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']),
    iv,
  };
}

/** verify_data = HMAC(finished_key, Transcript-Hash(...)) (§4.4.4). */
export async function finishedVerifyData(
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const finishedKey = await hkdfExpandLabel(baseKey, 'finished', new Uint8Array(0), HASH_LENGTH);
  return hmac(finishedKey, transcriptHash);
}

/** application_traffic_secret_N+1 (§7.2). */
export function nextTrafficSecret(secret: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  return hkdfExpandLabel(secret, 'traffic upd', new Uint8Array(0), HASH_LENGTH);
}

/**
 * TLS 1.2's PRF with SHA-256 (RFC 5246 §5): P_SHA256(secret, label | seed), where A(0) = seed and
 * A(i) = HMAC(secret, A(i-1)), the output being HMAC(secret, A(1) | seed) | HMAC(secret, A(2) | seed) | …
 */
export async function tls12Prf(
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const labelled = concat([encoder.encode(label), seed]);
  const blocks: Uint8Array[] = [];
  let a: Uint8Array = labelled;
  for (let made = 0; made < length; made += HASH_LENGTH) {
    a = await hmac(secret, a);
    blocks.push(await hmac(secret, concat([a, labelled])));
  }
  return concat(blocks).slice(0, length);
}
