/**
 * A certificate authority of one browser profile and the server certificates it makes for the names the
 * guest asks for (X.509 v3, RFC 5280), all ECDSA P-256 with SHA-256 on WebCrypto. The CA's private key
 * is made non-extractable: it signs in this browser and never leaves it. Leaf certificates share one key
 * pair (made per CA object, in memory) and are made once per name.
 *
 * What the guest's verifiers check, and so what is here: OpenSSL 3 (curl, wget, Python's ssl) wants a CA
 * with basicConstraints cA (critical) and keyCertSign; Python 3.13's default context adds
 * VERIFY_X509_STRICT, which also wants the CA's subjectKeyIdentifier and the leaf's
 * authorityKeyIdentifier (RFC 5280 §4.2.1.1–2). A leaf names its host in subjectAltName (dNSName, or
 * iPAddress for an address), which is what clients match (RFC 6125 §6.4.4; the CN is not read).
 *
 * Validity: the guest's clock may be anything a snapshot left it at, and no browser reads these
 * certificates, so both the CA and its leaves run from 2020 to 2049 rather than a web server's months.
 */
import {
  bitString,
  boolean,
  certificatePem,
  ecdsaSignatureToDer,
  explicit,
  implicit,
  integer,
  objectIdentifier,
  octetString,
  sequence,
  set,
  time,
  unsignedInteger,
  utf8String,
} from './der.ts';

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const NOT_BEFORE = new Date(Date.UTC(2020, 0, 1));
const NOT_AFTER = new Date(Date.UTC(2049, 11, 31, 23, 59, 59));
/** CN's upper bound (RFC 5280 Appendix A, ub-common-name). */
const MAX_COMMON_NAME = 64;

const OID = {
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** What a profile keeps of its CA (IndexedDB stores CryptoKeys, the private one non-extractable). */
export interface CaRecord {
  readonly v: 1;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** The CA's self-signed certificate (DER). */
  readonly certificate: Uint8Array;
}

/** A server's certificate chain (DER, leaf first) and the private key of its leaf. */
export interface ServerCertificate {
  readonly chain: readonly Uint8Array[];
  readonly privateKey: CryptoKey;
}

const signatureAlgorithm = (): Uint8Array => sequence(objectIdentifier(OID.ecdsaWithSha256));

function name(attributes: readonly (readonly [string, string])[]): Uint8Array {
  return sequence(...attributes.map(([oid, value]) => set(sequence(objectIdentifier(oid), utf8String(value)))));
}

function extension(oid: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? sequence(objectIdentifier(oid), boolean(true), octetString(value))
    : sequence(objectIdentifier(oid), octetString(value));
}

function serialNumber(): Uint8Array {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x40; // positive, and 16 bytes long
  return unsignedInteger(bytes);
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey's bits. */
async function keyIdentifier(publicKey: CryptoKey): Promise<Uint8Array> {
  const point = await crypto.subtle.exportKey('raw', publicKey);
  return new Uint8Array(await crypto.subtle.digest('SHA-1', point));
}

async function signCertificate(tbs: Uint8Array, issuerKey: CryptoKey): Promise<Uint8Array> {
  const signature = new Uint8Array(await crypto.subtle.sign(SIGN_SHA256, issuerKey, tbs as BufferSource));
  return sequence(tbs, signatureAlgorithm(), bitString(ecdsaSignatureToDer(signature)));
}

/** An IPv4 literal's four bytes, or undefined for a DNS name. */
function ipv4Bytes(host: string): Uint8Array | undefined {
  const parts = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!parts) return undefined;
  const bytes = parts.slice(1).map(Number);
  return bytes.every((byte) => byte <= 255) ? Uint8Array.from(bytes) : undefined;
}

/** A new CA for a profile: its key pair (the private key not extractable) and self-signed certificate. */
export async function createCaRecord(): Promise<CaRecord> {
  const { privateKey, publicKey } = await crypto.subtle.generateKey(ECDSA_P256, false, ['sign', 'verify']);
  const id = Array.from(crypto.getRandomValues(new Uint8Array(4)), (byte) => byte.toString(16).padStart(2, '0')).join(
    '',
  );
  const subject = name([
    [OID.organizationName, 'tabvm'],
    [OID.commonName, `tabvm browser profile CA ${id}`],
  ]);
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey));
  const tbs = sequence(
    explicit(0, integer(2)),
    serialNumber(),
    signatureAlgorithm(),
    subject,
    sequence(time(NOT_BEFORE), time(NOT_AFTER)),
    subject,
    spki,
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence(boolean(true))),
        extension(OID.keyUsage, true, bitString(Uint8Array.of(0x06), 1)), // keyCertSign, cRLSign
        extension(OID.subjectKeyIdentifier, false, octetString(await keyIdentifier(publicKey))),
      ),
    ),
  );
  return { v: 1, privateKey, publicKey, certificate: await signCertificate(tbs, privateKey) };
}

/** The subject field of a certificate: the DER of tbsCertificate's sixth element. */
function subjectOf(certificate: Uint8Array): Uint8Array {
  // Our own CA's certificate: every length here is in the form tlv() writes.
  const element = (at: number): { start: number; content: number; end: number } => {
    const first = certificate[at + 1]!;
    const lengthBytes = first & 0x80 ? first & 0x7f : 0;
    let length = lengthBytes ? 0 : first;
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + certificate[at + 2 + i]!;
    const content = at + 2 + lengthBytes;
    return { start: at, content, end: content + length };
  };
  const tbs = element(element(0).content);
  let at = tbs.content;
  for (let i = 0; i < 5; i++) at = element(at).end;
  return certificate.subarray(at, element(at).end);
}

export class CertificateAuthority {
  readonly #record: CaRecord;
  readonly #issuer: Uint8Array;
  #leafKeys: Promise<CryptoKeyPair> | undefined;
  #authorityKeyId: Promise<Uint8Array> | undefined;
  readonly #leaves = new Map<string, Promise<ServerCertificate>>();

  constructor(record: CaRecord) {
    this.#record = record;
    this.#issuer = subjectOf(record.certificate);
  }

  /** The CA's certificate in PEM, for the guest's trust store. */
  get pem(): string {
    return certificatePem(this.#record.certificate);
  }

  get certificate(): Uint8Array {
    return this.#record.certificate;
  }

  /** The certificate for `host` (a DNS name or an IPv4 literal), made on first use. */
  certificateFor(host: string): Promise<ServerCertificate> {
    const key = host.toLowerCase();
    let leaf = this.#leaves.get(key);
    if (!leaf) {
      leaf = this.#makeLeaf(key);
      this.#leaves.set(key, leaf);
      leaf.catch(() => this.#leaves.delete(key));
    }
    return leaf;
  }

  async #makeLeaf(host: string): Promise<ServerCertificate> {
    this.#leafKeys ??= crypto.subtle.generateKey(ECDSA_P256, false, ['sign', 'verify']);
    this.#authorityKeyId ??= keyIdentifier(this.#record.publicKey);
    const { privateKey, publicKey } = await this.#leafKeys;
    const address = ipv4Bytes(host);
    const altName = address ? implicit(7, address) : implicit(2, new TextEncoder().encode(host));
    const shortName = host.length <= MAX_COMMON_NAME;
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey));
    const tbs = sequence(
      explicit(0, integer(2)),
      serialNumber(),
      signatureAlgorithm(),
      this.#issuer,
      sequence(time(NOT_BEFORE), time(NOT_AFTER)),
      // With no subject, subjectAltName must be critical (RFC 5280 §4.2.1.6).
      shortName ? name([[OID.commonName, host]]) : sequence(),
      spki,
      explicit(
        3,
        sequence(
          extension(OID.basicConstraints, true, sequence()),
          extension(OID.keyUsage, true, bitString(Uint8Array.of(0x80), 7)), // digitalSignature
          extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.serverAuth))),
          extension(OID.subjectAltName, !shortName, sequence(altName)),
          extension(OID.subjectKeyIdentifier, false, octetString(await keyIdentifier(publicKey))),
          extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, await this.#authorityKeyId))),
        ),
      ),
    );
    return { chain: [await signCertificate(tbs, this.#record.privateKey)], privateKey };
  }
}
