/**
 * A minimal TLS 1.3 server (RFC 8446) on WebCrypto, for the guest's HTTPS connections, which the page
 * terminates with a certificate of the browser profile's CA (certificates.ts), and TLS 1.2 (RFC 5246)
 * for the clients that have no 1.3 (busybox's wget).
 *
 * What it speaks: TLS 1.3 with the mandatory cipher suite TLS_AES_128_GCM_SHA256 (§9.1); key exchange
 * over x25519 (when WebCrypto has it) or secp256r1, with a HelloRetryRequest when the client's key
 * shares hold neither but it supports one (§4.1.4); an ECDSA P-256 certificate signed with
 * ecdsa_secp256r1_sha256; SNI (RFC 6066 §3) to pick the certificate; ALPN (RFC 7301) for http/1.1;
 * KeyUpdate (§4.6.3). A client without 1.3 gets TLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
 * (RFC 5289, GCM records as RFC 5288 has them) over the same groups and certificate, the extended
 * master secret (RFC 7627) when it offers it, and secure renegotiation's empty answer (RFC 5746) though
 * no renegotiation is taken. Not: PSK or resumption (no NewSessionTicket or session id is given, so no
 * client has one to offer), 0-RTT, client certificates, TLS 1.1 and older.
 *
 * Bounds: a record longer than 2^14 + 256 bytes (2^14 in plaintext) is a record_overflow (§5.1, §5.2)
 * before anything is allocated for it; a handshake message longer than MAX_HANDSHAKE_BYTES is refused;
 * every field is read through `Reader`, whose overrun is a decode_error. Bad input gets a fatal alert
 * (§6.2) and one sentence to `failed`, never a throw out of this class.
 */
import type { ServerCertificate } from './certificates.ts';
import { concat, ecdsaSignatureToDer } from './der.ts';
import {
  deriveSecret,
  finishedVerifyData,
  handshakeSecret,
  masterSecret,
  nextTrafficSecret,
  sha256,
  tls12Prf,
  trafficKeys,
  type TrafficKeys,
} from './key-schedule.ts';

const ContentType = {
  ChangeCipherSpec: 20,
  Alert: 21,
  Handshake: 22,
  ApplicationData: 23,
} as const;

const HandshakeType = {
  ClientHello: 1,
  ServerHello: 2,
  EncryptedExtensions: 8,
  Certificate: 11,
  ServerKeyExchange: 12,
  ServerHelloDone: 14,
  CertificateVerify: 15,
  ClientKeyExchange: 16,
  Finished: 20,
  KeyUpdate: 24,
  MessageHash: 254,
} as const;

const Extension = {
  ServerName: 0,
  SupportedGroups: 10,
  EcPointFormats: 11,
  SignatureAlgorithms: 13,
  Alpn: 16,
  ExtendedMasterSecret: 23,
  EarlyData: 42,
  SupportedVersions: 43,
  KeyShare: 51,
  RenegotiationInfo: 0xff01,
} as const;

/** Alert descriptions (§6), with the words a person reads in the VM's pane. */
export const ALERTS: Readonly<Record<number, string>> = {
  0: 'close_notify',
  10: 'unexpected_message',
  20: 'bad_record_mac',
  22: 'record_overflow',
  40: 'handshake_failure',
  42: 'bad_certificate',
  43: 'unsupported_certificate',
  44: 'certificate_revoked',
  45: 'certificate_expired',
  46: 'certificate_unknown',
  47: 'illegal_parameter',
  48: 'unknown_ca',
  50: 'decode_error',
  51: 'decrypt_error',
  70: 'protocol_version',
  80: 'internal_error',
  90: 'user_canceled',
  109: 'missing_extension',
  110: 'unsupported_extension',
  112: 'unrecognized_name',
  120: 'no_application_protocol',
};

const Alert = {
  CloseNotify: 0,
  UnexpectedMessage: 10,
  BadRecordMac: 20,
  RecordOverflow: 22,
  HandshakeFailure: 40,
  IllegalParameter: 47,
  DecodeError: 50,
  DecryptError: 51,
  ProtocolVersion: 70,
  InternalError: 80,
  UserCanceled: 90,
  MissingExtension: 109,
} as const;

const TLS13 = 0x0304;
const TLS12 = 0x0303;
const TLS_AES_128_GCM_SHA256 = 0x1301;
const TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xc02b;
/** RFC 5746 §3.3: the cipher suite value that signals secure renegotiation. */
const TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;
/** RFC 8446 §4.1.3: the last 8 bytes of a TLS 1.3 server's random when it negotiates TLS 1.2. */
const DOWNGRADE_TLS12 = Uint8Array.of(0x44, 0x4f, 0x57, 0x4e, 0x47, 0x52, 0x44, 0x01);
/** RFC 5288 §3: the nonce_explicit that leads a TLS 1.2 AES-GCM record. */
const EXPLICIT_NONCE = 8;
/** RFC 8422 §5.4: ServerECDHParams' curve_type for a named curve. */
const NAMED_CURVE = 3;
const ECDSA_SECP256R1_SHA256 = 0x0403;
const GROUP_SECP256R1 = 0x0017;
const GROUP_X25519 = 0x001d;
const MAX_PLAINTEXT = 1 << 14;
const MAX_CIPHERTEXT = MAX_PLAINTEXT + 256;
const RECORD_HEADER = 5;
const TAG_LENGTH = 16;
/** A ClientHello with post-quantum key shares is about 2 KiB; certificates are not accepted from clients. */
const MAX_HANDSHAKE_BYTES = 1 << 16;
/** 0-RTT records a client may send before it learns we refused early data (§4.2.10), skipped. */
const MAX_SKIPPED_EARLY_DATA = 1 << 16;
/** §4.1.3: the random of a HelloRetryRequest, SHA-256("HelloRetryRequest"). */
const HELLO_RETRY_RANDOM = Uint8Array.from(
  'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c'.match(/../g)!,
  (hex) => parseInt(hex, 16),
);
const encoder = new TextEncoder();

/** A fatal alert to send, and why, for the VM's pane. */
class TlsFailure extends Error {
  constructor(
    readonly alert: number,
    message: string,
  ) {
    super(message);
  }
}

/** Bounded reads of TLS's presentation language (§3); an overrun is a decode_error. */
class Reader {
  #at = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {}

  get done(): boolean {
    return this.#at === this.bytes.length;
  }

  bytesOf(length: number): Uint8Array {
    if (this.#at + length > this.bytes.length) throw new TlsFailure(Alert.DecodeError, `the ${this.what} is truncated`);
    const out = this.bytes.subarray(this.#at, this.#at + length);
    this.#at += length;
    return out;
  }

  u8(): number {
    return this.bytesOf(1)[0]!;
  }

  u16(): number {
    const bytes = this.bytesOf(2);
    return (bytes[0]! << 8) | bytes[1]!;
  }

  vector8(): Uint8Array {
    return this.bytesOf(this.u8());
  }

  vector16(): Uint8Array {
    return this.bytesOf(this.u16());
  }

  /** The rest must be empty: trailing bytes are a decode_error too. */
  end(): void {
    if (!this.done) throw new TlsFailure(Alert.DecodeError, `the ${this.what} has bytes after its end`);
  }
}

function u16s(bytes: Uint8Array, what: string): number[] {
  if (bytes.length % 2) throw new TlsFailure(Alert.DecodeError, `the ${what} has an odd length`);
  const out: number[] = [];
  for (let at = 0; at < bytes.length; at += 2) out.push((bytes[at]! << 8) | bytes[at + 1]!);
  return out;
}

const u16 = (value: number): Uint8Array => Uint8Array.of(value >> 8, value & 0xff);
const u24 = (value: number): Uint8Array => Uint8Array.of(value >> 16, (value >> 8) & 0xff, value & 0xff);
const vector8 = (bytes: Uint8Array): Uint8Array => concat([Uint8Array.of(bytes.length), bytes]);
const vector16 = (bytes: Uint8Array): Uint8Array => concat([u16(bytes.length), bytes]);
const vector24 = (bytes: Uint8Array): Uint8Array => concat([u24(bytes.length), bytes]);
const handshakeMessage = (type: number, body: Uint8Array): Uint8Array =>
  concat([Uint8Array.of(type), u24(body.length), body]);
const extension = (type: number, data: Uint8Array): Uint8Array => concat([u16(type), vector16(data)]);

interface ClientHello {
  /** 13, or 12 for a client that does not offer TLS 1.3. */
  readonly version: 12 | 13;
  readonly random: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly serverName: string | undefined;
  readonly keyShares: ReadonlyMap<number, Uint8Array>;
  readonly groups: readonly number[];
  readonly alpn: readonly string[];
  readonly earlyData: boolean;
  /** TLS 1.2: the client sent ec_point_formats, which is then answered (RFC 8422 §5.2). */
  readonly pointFormats: boolean;
  /** TLS 1.2: the client offers the extended master secret (RFC 7627). */
  readonly extendedMasterSecret: boolean;
  /** TLS 1.2: the client signals secure renegotiation (RFC 5746), which is then answered. */
  readonly secureRenegotiation: boolean;
}

function parseClientHello(body: Uint8Array): ClientHello {
  const reader = new Reader(body, 'ClientHello');
  const legacyVersion = reader.u16();
  const random = reader.bytesOf(32);
  const sessionId = reader.vector8();
  if (sessionId.length > 32) throw new TlsFailure(Alert.IllegalParameter, 'the ClientHello’s session id is too long');
  const suites = u16s(reader.vector16(), 'cipher suite list');
  const compression = reader.vector8();
  const extensionBytes = reader.vector16();
  reader.end();
  const extensions = new Map<number, Uint8Array>();
  const extensionReader = new Reader(extensionBytes, 'ClientHello’s extensions');
  while (!extensionReader.done) {
    const type = extensionReader.u16();
    const data = extensionReader.vector16();
    if (extensions.has(type)) throw new TlsFailure(Alert.IllegalParameter, `the ClientHello repeats extension ${type}`);
    extensions.set(type, data);
  }
  const versions = extensions.get(Extension.SupportedVersions);
  const tls13 =
    versions !== undefined &&
    u16s(new Reader(versions, 'supported_versions').vector8(), 'supported_versions').includes(TLS13);
  if (!tls13 && legacyVersion < TLS12)
    throw new TlsFailure(Alert.ProtocolVersion, 'the client speaks neither TLS 1.3 nor TLS 1.2');
  if (tls13) {
    // §4.1.2: a TLS 1.3 ClientHello's compression methods are exactly "null".
    if (compression.length !== 1 || compression[0] !== 0)
      throw new TlsFailure(Alert.IllegalParameter, 'the ClientHello offers compression');
    if (!suites.includes(TLS_AES_128_GCM_SHA256))
      throw new TlsFailure(Alert.HandshakeFailure, 'the client does not offer TLS_AES_128_GCM_SHA256');
  } else {
    // RFC 5246 §7.4.1.2: the list must include "null".
    if (!compression.includes(0))
      throw new TlsFailure(Alert.IllegalParameter, 'the ClientHello does not offer "no compression"');
    if (!suites.includes(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256))
      throw new TlsFailure(
        Alert.HandshakeFailure,
        'the client offers neither TLS 1.3 nor TLS 1.2’s ECDHE-ECDSA-AES128-GCM-SHA256',
      );
  }
  const signatures = extensions.get(Extension.SignatureAlgorithms);
  // RFC 5246 §7.4.1.4.1: a TLS 1.2 client may leave signature_algorithms out (it then takes any hash).
  if (!signatures && tls13) throw new TlsFailure(Alert.MissingExtension, 'the ClientHello has no signature_algorithms');
  if (
    signatures &&
    !u16s(new Reader(signatures, 'signature_algorithms').vector16(), 'signature_algorithms').includes(
      ECDSA_SECP256R1_SHA256,
    )
  )
    throw new TlsFailure(Alert.HandshakeFailure, 'the client does not accept ECDSA P-256 signatures');
  const groupsBytes = extensions.get(Extension.SupportedGroups);
  const shareBytes = extensions.get(Extension.KeyShare);
  if (tls13 && (!groupsBytes || !shareBytes))
    throw new TlsFailure(Alert.MissingExtension, 'the ClientHello has no supported_groups or key_share');
  const groups = groupsBytes ? u16s(new Reader(groupsBytes, 'supported_groups').vector16(), 'supported_groups') : [];
  const keyShares = new Map<number, Uint8Array>();
  if (tls13) {
    const shares = new Reader(new Reader(shareBytes!, 'key_share').vector16(), 'key_share');
    while (!shares.done) {
      const group = shares.u16();
      const key = shares.vector16();
      if (keyShares.has(group)) throw new TlsFailure(Alert.IllegalParameter, 'the ClientHello repeats a key share');
      keyShares.set(group, key);
    }
  }
  const pointFormats = extensions.get(Extension.EcPointFormats);
  // RFC 8422 §5.1.2: the uncompressed form is the one every peer must take.
  if (!tls13 && pointFormats && !new Reader(pointFormats, 'ec_point_formats').vector8().includes(0))
    throw new TlsFailure(Alert.IllegalParameter, 'the client does not take uncompressed points');
  const renegotiation = extensions.get(Extension.RenegotiationInfo);
  // RFC 5746 §3.6: in a first handshake the extension's renegotiated_connection is empty.
  if (!tls13 && renegotiation && (renegotiation.length !== 1 || renegotiation[0] !== 0))
    throw new TlsFailure(Alert.HandshakeFailure, 'the client’s renegotiation_info is not empty');
  let serverName: string | undefined;
  const sni = extensions.get(Extension.ServerName);
  if (sni) {
    const names = new Reader(new Reader(sni, 'server_name').vector16(), 'server_name');
    while (!names.done) {
      const type = names.u8();
      const name = names.vector16();
      // RFC 6066 §3: a host_name is ASCII, without a trailing dot.
      if (type === 0 && serverName === undefined) {
        if (!/^[A-Za-z0-9.-]{1,253}$/.test(String.fromCharCode(...name)))
          throw new TlsFailure(Alert.IllegalParameter, 'the server name is not a host name');
        serverName = String.fromCharCode(...name)
          .toLowerCase()
          .replace(/\.$/, '');
      }
    }
  }
  const alpn: string[] = [];
  const alpnBytes = extensions.get(Extension.Alpn);
  if (alpnBytes) {
    const protocols = new Reader(new Reader(alpnBytes, 'ALPN').vector16(), 'ALPN');
    while (!protocols.done) alpn.push(String.fromCharCode(...protocols.vector8()));
  }
  return {
    version: tls13 ? 13 : 12,
    random,
    sessionId,
    serverName,
    keyShares,
    groups,
    alpn,
    earlyData: extensions.has(Extension.EarlyData),
    pointFormats: pointFormats !== undefined,
    extendedMasterSecret: extensions.has(Extension.ExtendedMasterSecret),
    secureRenegotiation: renegotiation !== undefined || suites.includes(TLS_EMPTY_RENEGOTIATION_INFO_SCSV),
  };
}

/** Whether this WebCrypto does X25519 (Chromium from 133, Node 20). */
let x25519: Promise<boolean> | undefined;
function hasX25519(): Promise<boolean> {
  x25519 ??= crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']).then(
    () => true,
    () => false,
  );
  return x25519;
}

/** Our key share for `group`, and the secret it makes with the client's (§4.2.8, §7.4; RFC 8422 §5.10). */
async function ecdhShare(
  group: number,
): Promise<{ share: Uint8Array; secret(clientShare: Uint8Array): Promise<Uint8Array> }> {
  const algorithm =
    group === GROUP_X25519 ? ({ name: 'X25519' } as const) : ({ name: 'ECDH', namedCurve: 'P-256' } as const);
  const ours = (await crypto.subtle.generateKey(algorithm, true, ['deriveBits'])) as CryptoKeyPair;
  return {
    share: new Uint8Array(await crypto.subtle.exportKey('raw', ours.publicKey)),
    async secret(clientShare) {
      // §4.2.8.2: a secp256r1 share is an uncompressed point; an X25519 one is 32 bytes.
      const valid =
        group === GROUP_X25519 ? clientShare.length === 32 : clientShare.length === 65 && clientShare[0] === 4;
      let peer: CryptoKey;
      try {
        if (!valid) throw new Error('malformed');
        peer = await crypto.subtle.importKey('raw', clientShare as BufferSource, algorithm, false, []);
      } catch {
        throw new TlsFailure(Alert.IllegalParameter, 'the client’s key share is not a valid public key');
      }
      const secret = new Uint8Array(
        await crypto.subtle.deriveBits({ name: algorithm.name, public: peer }, ours.privateKey, 256),
      );
      // §7.4.2: an all-zero X25519 result is refused.
      if (secret.every((byte) => byte === 0))
        throw new TlsFailure(Alert.IllegalParameter, 'the client’s key share is degenerate');
      return secret;
    },
  };
}

/** TLS 1.2's 64-bit record sequence number, big-endian (the AEAD's additional data and our explicit nonce). */
function sequenceBytes(sequence: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(sequence));
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/** What a TLS 1.2 handshake carries from the server's first flight to the keys. */
interface Tls12Handshake {
  readonly clientRandom: Uint8Array;
  readonly serverRandom: Uint8Array;
  readonly secret: (clientShare: Uint8Array) => Promise<Uint8Array>;
  readonly extendedMasterSecret: boolean;
  master?: Uint8Array;
  client?: TrafficKeys;
  server?: TrafficKeys;
}

async function gcmKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

function nonce(iv: Uint8Array, sequence: number): Uint8Array<ArrayBuffer> {
  const out = Uint8Array.from(iv);
  const high = Math.floor(sequence / 2 ** 32);
  const low = sequence >>> 0;
  for (let i = 0; i < 4; i++) {
    out[4 + i]! ^= (high >>> (24 - 8 * i)) & 0xff;
    out[8 + i]! ^= (low >>> (24 - 8 * i)) & 0xff;
  }
  return out;
}

/** One direction's keys and record counter. */
interface Direction {
  keys: TrafficKeys;
  sequence: number;
}

export interface TlsServerEvents {
  /** Records for the client. */
  send(bytes: Uint8Array): void;
  /** The handshake is done. */
  established(): void;
  /** Application data from the client. */
  data(bytes: Uint8Array): void;
  /** The client closed its sending half (close_notify). */
  end(): void;
  /** The connection failed (an alert was sent to the client, or came from it): close the transport. */
  failed(reason: string): void;
  /** Received bytes were taken from `pendingBytes`. */
  drained(): void;
}

export interface TlsServerOptions {
  /** The certificate for the name the client asked for (SNI), or for no name. */
  certificate(serverName: string | undefined): Promise<ServerCertificate>;
  /** Protocols offered by ALPN, in our order of preference (default http/1.1). */
  readonly alpn?: readonly string[];
}

/** TLS 1.2 adds 'key-exchange' (its ClientKeyExchange is due) and 'change-cipher-spec' (then the CCS). */
type State = 'hello' | 'retried' | 'key-exchange' | 'change-cipher-spec' | 'finished' | 'connected' | 'closed';

export class TlsServer {
  readonly #options: TlsServerOptions;
  readonly #events: TlsServerEvents;
  #state: State = 'hello';
  #input: Uint8Array = new Uint8Array(0);
  #handshake: Uint8Array = new Uint8Array(0);
  readonly #transcript: Uint8Array[] = [];
  #work: Promise<void> = Promise.resolve();
  #read: Direction | undefined;
  #write: Direction | undefined;
  #clientApplicationSecret: Uint8Array | undefined;
  #serverApplicationSecret: Uint8Array | undefined;
  #expectedFinished: Uint8Array | undefined;
  #retryGroup: number | undefined;
  #sentChangeCipherSpec = false;
  #skipEarlyData = 0;
  #ended = false;
  /** Application data written before the handshake was done. */
  #waiting: Uint8Array[] = [];
  #queuedBytes = 0;
  #serverName: string | undefined;
  #protocol: string | undefined;
  /** Set once a client without TLS 1.3 said hello: the rest of the connection is TLS 1.2's. */
  #tls12: Tls12Handshake | undefined;

  constructor(options: TlsServerOptions, events: TlsServerEvents) {
    this.#options = options;
    this.#events = events;
  }

  /** The name the client asked for (SNI), once its ClientHello came. */
  get serverName(): string | undefined {
    return this.#serverName;
  }

  /** The protocol agreed by ALPN, if any. */
  get protocol(): string | undefined {
    return this.#protocol;
  }

  /** Received bytes not yet taken. */
  get pendingBytes(): number {
    return this.#input.length;
  }

  /** Application data written and not yet sent as records. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Bytes from the client. */
  receive(bytes: Uint8Array): void {
    if (this.#state === 'closed') return;
    this.#input = concat([this.#input, bytes]);
    void this.#run(() => this.#readRecords());
  }

  /** The transport's end from the client (a FIN), after the bytes received before it. */
  receiveEnd(): void {
    void this.#run(async () => {
      if (this.#state !== 'connected')
        throw new TlsFailure(Alert.HandshakeFailure, 'the client closed during the handshake');
      if (this.#ended) return;
      this.#ended = true;
      this.#events.end();
    });
  }

  /** Application data for the client. */
  write(bytes: Uint8Array): void {
    if (this.#state === 'closed' || bytes.length === 0) return;
    const copy = bytes.slice();
    this.#queuedBytes += copy.length;
    if (this.#state !== 'connected') {
      this.#waiting.push(copy);
      return;
    }
    void this.#run(() => this.#sendData(copy));
  }

  /** Closes our sending half with close_notify (§6.1); resolves once it is sent (or cannot be). */
  close(): Promise<void> {
    return this.#run(async () => {
      if (this.#state !== 'connected') return;
      await this.#sendRecord(ContentType.Alert, Uint8Array.of(1, Alert.CloseNotify));
    });
  }

  /** Drops the connection: nothing more is read or sent. */
  destroy(): void {
    this.#state = 'closed';
    this.#input = new Uint8Array(0);
  }

  #run(step: () => Promise<void>): Promise<void> {
    return (this.#work = this.#work.then(async () => {
      if (this.#state === 'closed') return;
      try {
        await step();
      } catch (error) {
        try {
          await this.#fail(error);
        } catch (bug) {
          // A listener of ours threw: the chain must go on for the steps queued after this one.
          console.error('tabvm: the TLS server’s listener failed', bug);
        }
      }
    }));
  }

  async #fail(error: unknown): Promise<void> {
    const failure =
      error instanceof TlsFailure ? error : new TlsFailure(Alert.InternalError, `internal error: ${String(error)}`);
    if (!(error instanceof TlsFailure)) console.error('tabvm: the TLS server failed', error);
    try {
      if (this.#state !== 'closed') await this.#sendRecord(ContentType.Alert, Uint8Array.of(2, failure.alert));
    } catch {
      // The alert is a courtesy: the transport closes either way.
    }
    this.#state = 'closed';
    this.#input = new Uint8Array(0);
    this.#events.failed(`${failure.message} (alert ${ALERTS[failure.alert]})`);
  }

  async #readRecords(): Promise<void> {
    let took = false;
    while (this.#input.length >= RECORD_HEADER && this.#state !== 'closed') {
      const type = this.#input[0]!;
      const length = (this.#input[3]! << 8) | this.#input[4]!;
      if (this.#state === 'hello' && !took && type !== ContentType.Handshake)
        throw new TlsFailure(Alert.UnexpectedMessage, 'the client did not begin with a TLS handshake');
      if (length > (this.#read ? MAX_CIPHERTEXT : MAX_PLAINTEXT))
        throw new TlsFailure(Alert.RecordOverflow, `a record of ${length} bytes is over TLS’s limit`);
      if (this.#input.length < RECORD_HEADER + length) break;
      const header = this.#input.subarray(0, RECORD_HEADER);
      const fragment = this.#input.subarray(RECORD_HEADER, RECORD_HEADER + length);
      this.#input = this.#input.subarray(RECORD_HEADER + length);
      took = true;
      await this.#record(type, header, fragment);
    }
    if (took) this.#events.drained();
  }

  async #record(type: number, header: Uint8Array, fragment: Uint8Array): Promise<void> {
    // §5: a change_cipher_spec of one byte 0x01 may come between the ClientHello and the Finished (for middleboxes).
    if (type === ContentType.ChangeCipherSpec) {
      const expected = this.#tls12
        ? this.#state === 'change-cipher-spec'
        : this.#state !== 'connected' && this.#state !== 'hello';
      if (!expected || fragment.length !== 1 || fragment[0] !== 1)
        throw new TlsFailure(Alert.UnexpectedMessage, 'an unexpected change_cipher_spec record came');
      // RFC 5246 §7.1: in TLS 1.2 it switches the client's records to the new keys.
      if (this.#tls12) {
        this.#atKeyChange();
        this.#read = { keys: this.#tls12.client!, sequence: 0 };
        this.#state = 'finished';
      }
      return;
    }
    if (!this.#read) {
      if (type === ContentType.Alert) return this.#alert(fragment);
      if (type !== ContentType.Handshake)
        throw new TlsFailure(Alert.UnexpectedMessage, 'a record came unencrypted where it may not');
      return this.#handshakeBytes(fragment);
    }
    if (this.#tls12) return this.#record12(type, header, fragment);
    // A client that refuses our certificate sends its alert before it has handshake keys of its own.
    if (type === ContentType.Alert && this.#state === 'finished') return this.#alert(fragment);
    if (type !== ContentType.ApplicationData)
      throw new TlsFailure(Alert.UnexpectedMessage, 'a record came unencrypted where it may not');
    const read = this.#read;
    let inner: Uint8Array;
    try {
      inner = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: nonce(read.keys.iv, read.sequence), additionalData: header as BufferSource },
          read.keys.key,
          fragment as BufferSource,
        ),
      );
    } catch {
      // §4.2.10: refused 0-RTT data is skipped, up to a limit.
      if (this.#state === 'finished' && this.#skipEarlyData >= fragment.length) {
        this.#skipEarlyData -= fragment.length;
        return;
      }
      throw new TlsFailure(Alert.BadRecordMac, 'a record failed its integrity check');
    }
    read.sequence++;
    this.#skipEarlyData = 0;
    // §5.4: the content type is the last non-zero byte; zeros after it are padding.
    let end = inner.length;
    while (end > 0 && inner[end - 1] === 0) end--;
    if (end === 0) throw new TlsFailure(Alert.UnexpectedMessage, 'a record has no content type');
    return this.#content(inner[end - 1]!, inner.subarray(0, end - 1));
  }

  /** A TLS 1.2 record under the client's keys (RFC 5246 §6.2.3.3, RFC 5288 §3): nonce_explicit, then the sealed text. */
  async #record12(type: number, header: Uint8Array, fragment: Uint8Array): Promise<void> {
    const read = this.#read!;
    if (fragment.length < EXPLICIT_NONCE + TAG_LENGTH)
      throw new TlsFailure(Alert.BadRecordMac, 'a record is too short to be protected');
    const length = fragment.length - EXPLICIT_NONCE - TAG_LENGTH;
    let content: Uint8Array;
    try {
      content = new Uint8Array(
        await crypto.subtle.decrypt(
          {
            name: 'AES-GCM',
            iv: concat([read.keys.iv, fragment.subarray(0, EXPLICIT_NONCE)]),
            additionalData: concat([sequenceBytes(read.sequence), header.subarray(0, 3), u16(length)]),
          },
          read.keys.key,
          fragment.subarray(EXPLICIT_NONCE) as BufferSource,
        ),
      );
    } catch {
      throw new TlsFailure(Alert.BadRecordMac, 'a record failed its integrity check');
    }
    read.sequence++;
    return this.#content(type, content);
  }

  /** A decrypted record's plaintext of content type `type` (either version's). */
  #content(type: number, content: Uint8Array): Promise<void> | void {
    if (content.length > MAX_PLAINTEXT)
      throw new TlsFailure(Alert.RecordOverflow, 'a record’s plaintext is over 2^14 bytes');
    if (type === ContentType.Alert) return this.#alert(content);
    if (type === ContentType.Handshake) return this.#handshakeBytes(content);
    if (type === ContentType.ApplicationData && this.#state === 'connected') {
      if (this.#handshake.length > 0)
        throw new TlsFailure(Alert.UnexpectedMessage, 'application data came inside a handshake message');
      if (!this.#ended && content.length > 0) this.#events.data(content.slice());
      return;
    }
    throw new TlsFailure(Alert.UnexpectedMessage, `a record of type ${type} came where it may not`);
  }

  #alert(content: Uint8Array): void {
    if (content.length !== 2) throw new TlsFailure(Alert.DecodeError, 'an alert is malformed');
    const description = content[1]!;
    if (description === Alert.CloseNotify) {
      if (!this.#ended) {
        this.#ended = true;
        this.#events.end();
      }
      return;
    }
    if (description === Alert.UserCanceled) return;
    this.#state = 'closed';
    this.#events.failed(`the client sent the alert ${ALERTS[description] ?? description}`);
  }

  async #handshakeBytes(content: Uint8Array): Promise<void> {
    if (content.length === 0) throw new TlsFailure(Alert.UnexpectedMessage, 'an empty handshake record came');
    if (this.#handshake.length + content.length > MAX_HANDSHAKE_BYTES + 4)
      throw new TlsFailure(Alert.DecodeError, 'a handshake message is too long');
    this.#handshake = concat([this.#handshake, content]);
    while (this.#handshake.length >= 4 && this.#state !== 'closed') {
      const length = (this.#handshake[1]! << 16) | (this.#handshake[2]! << 8) | this.#handshake[3]!;
      if (length > MAX_HANDSHAKE_BYTES) throw new TlsFailure(Alert.DecodeError, 'a handshake message is too long');
      if (this.#handshake.length < 4 + length) return;
      const message = this.#handshake.subarray(0, 4 + length);
      this.#handshake = this.#handshake.subarray(4 + length);
      await this.#handshakeMessage(message[0]!, message);
    }
  }

  /** §5.1: handshake messages may not span a change of keys. */
  #atKeyChange(): void {
    if (this.#handshake.length > 0)
      throw new TlsFailure(Alert.UnexpectedMessage, 'a handshake message spans a change of keys');
  }

  async #handshakeMessage(type: number, message: Uint8Array): Promise<void> {
    const body = message.subarray(4);
    if (type === HandshakeType.ClientHello && (this.#state === 'hello' || this.#state === 'retried'))
      return this.#clientHello(message, parseClientHello(body));
    if (type === HandshakeType.ClientKeyExchange && this.#state === 'key-exchange')
      return this.#clientKeyExchange(message);
    if (type === HandshakeType.Finished && this.#state === 'finished')
      return this.#tls12 ? this.#clientFinished12(message) : this.#clientFinished(body);
    if (type === HandshakeType.KeyUpdate && this.#state === 'connected' && !this.#tls12) return this.#keyUpdate(body);
    throw new TlsFailure(Alert.UnexpectedMessage, `the handshake message ${type} came where it may not`);
  }

  async #clientHello(message: Uint8Array, hello: ClientHello): Promise<void> {
    this.#atKeyChange();
    if (hello.version === 12) {
      // §4.1.2: a client asked again (HelloRetryRequest) must stay with TLS 1.3.
      if (this.#state === 'retried')
        throw new TlsFailure(Alert.IllegalParameter, 'the second ClientHello does not offer TLS 1.3');
      return this.#clientHello12(message, hello);
    }
    const accepted = (await hasX25519()) ? [GROUP_X25519, GROUP_SECP256R1] : [GROUP_SECP256R1];
    const group = accepted.find((candidate) => hello.keyShares.has(candidate));
    if (this.#state === 'retried') {
      // §4.1.2: the second ClientHello brings a share for the group asked for.
      if (group !== this.#retryGroup)
        throw new TlsFailure(Alert.IllegalParameter, 'the second ClientHello lacks the key share asked for');
    }
    if (group === undefined) {
      const retryGroup = accepted.find((candidate) => hello.groups.includes(candidate));
      if (retryGroup === undefined || this.#state === 'retried')
        throw new TlsFailure(Alert.HandshakeFailure, 'the client supports neither x25519 nor secp256r1');
      return this.#helloRetry(message, hello, retryGroup);
    }
    this.#transcript.push(message);
    this.#serverName = hello.serverName;
    this.#skipEarlyData = hello.earlyData ? MAX_SKIPPED_EARLY_DATA : 0;
    const ours = await ecdhShare(group);
    const secret = await ours.secret(hello.keyShares.get(group)!);
    const share = ours.share;
    const serverHello = handshakeMessage(
      HandshakeType.ServerHello,
      concat([
        u16(0x0303),
        crypto.getRandomValues(new Uint8Array(32)),
        vector8(hello.sessionId),
        u16(TLS_AES_128_GCM_SHA256),
        Uint8Array.of(0),
        vector16(
          concat([
            extension(Extension.SupportedVersions, u16(TLS13)),
            extension(Extension.KeyShare, concat([u16(group), vector16(share)])),
          ]),
        ),
      ]),
    );
    this.#transcript.push(serverHello);
    this.#sendPlain(ContentType.Handshake, serverHello);
    this.#compatibilityChangeCipherSpec(hello);

    const handshake = await handshakeSecret(secret);
    const helloHash = await this.#transcriptHash();
    const clientSecret = await deriveSecret(handshake, 'c hs traffic', helloHash);
    const serverSecret = await deriveSecret(handshake, 's hs traffic', helloHash);
    this.#write = { keys: await trafficKeys(serverSecret), sequence: 0 };
    this.#read = { keys: await trafficKeys(clientSecret), sequence: 0 };

    const encryptedExtensions = handshakeMessage(HandshakeType.EncryptedExtensions, vector16(this.#alpn(hello)));
    this.#transcript.push(encryptedExtensions);

    const certificate = await this.#certificate(hello);
    const certificateMessage = handshakeMessage(
      HandshakeType.Certificate,
      concat([
        vector8(new Uint8Array(0)),
        vector24(concat(certificate.chain.map((der) => concat([vector24(der), u16(0)])))),
      ]),
    );
    this.#transcript.push(certificateMessage);
    // §4.4.3: the signature covers 64 spaces, a context string, a zero byte and the transcript's hash.
    const signed = concat([
      new Uint8Array(64).fill(0x20),
      encoder.encode('TLS 1.3, server CertificateVerify'),
      Uint8Array.of(0),
      await this.#transcriptHash(),
    ]);
    const signature = new Uint8Array(
      await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, certificate.privateKey, signed as BufferSource),
    );
    const certificateVerify = handshakeMessage(
      HandshakeType.CertificateVerify,
      concat([u16(ECDSA_SECP256R1_SHA256), vector16(ecdsaSignatureToDer(signature))]),
    );
    this.#transcript.push(certificateVerify);
    const finished = handshakeMessage(
      HandshakeType.Finished,
      await finishedVerifyData(serverSecret, await this.#transcriptHash()),
    );
    this.#transcript.push(finished);
    await this.#sendRecords(
      ContentType.Handshake,
      concat([encryptedExtensions, certificateMessage, certificateVerify, finished]),
    );

    const master = await masterSecret(handshake);
    const serverFinishedHash = await this.#transcriptHash();
    this.#clientApplicationSecret = await deriveSecret(master, 'c ap traffic', serverFinishedHash);
    this.#serverApplicationSecret = await deriveSecret(master, 's ap traffic', serverFinishedHash);
    this.#expectedFinished = await finishedVerifyData(clientSecret, serverFinishedHash);
    this.#write = { keys: await trafficKeys(this.#serverApplicationSecret), sequence: 0 };
    this.#state = 'finished';
  }

  /** The protocol agreed by ALPN, as the extension that says so (empty when the client offered none). */
  #alpn(hello: ClientHello): Uint8Array {
    const alpn = this.#options.alpn ?? ['http/1.1'];
    this.#protocol = hello.alpn.length > 0 ? alpn.find((protocol) => hello.alpn.includes(protocol)) : undefined;
    // RFC 7301 §3.2: a client that offers no protocol we speak is refused.
    if (hello.alpn.length > 0 && this.#protocol === undefined)
      throw new TlsFailure(120, `the client offers only ${hello.alpn.join(', ')} (ALPN), not http/1.1`);
    return this.#protocol
      ? extension(Extension.Alpn, vector16(vector8(encoder.encode(this.#protocol))))
      : new Uint8Array(0);
  }

  async #certificate(hello: ClientHello): Promise<ServerCertificate> {
    try {
      return await this.#options.certificate(hello.serverName);
    } catch (error) {
      console.error('tabvm: no certificate could be made', error);
      throw new TlsFailure(
        Alert.InternalError,
        `no certificate could be made for ${hello.serverName ?? 'the address'}`,
      );
    }
  }

  /**
   * TLS 1.2's server flight (RFC 5246 §7.3): ServerHello, Certificate, ServerKeyExchange with our ECDHE
   * share signed over both randoms (RFC 8422 §5.4), ServerHelloDone; the client's key exchange is next.
   */
  async #clientHello12(message: Uint8Array, hello: ClientHello): Promise<void> {
    const accepted = (await hasX25519()) ? [GROUP_X25519, GROUP_SECP256R1] : [GROUP_SECP256R1];
    // RFC 8422 §4: a client without supported_groups takes any curve; secp256r1 is the one all have.
    const group =
      hello.groups.length === 0 ? GROUP_SECP256R1 : accepted.find((candidate) => hello.groups.includes(candidate));
    if (group === undefined)
      throw new TlsFailure(Alert.HandshakeFailure, 'the client supports neither x25519 nor secp256r1');
    this.#transcript.push(message);
    this.#serverName = hello.serverName;
    const serverRandom = crypto.getRandomValues(new Uint8Array(32));
    serverRandom.set(DOWNGRADE_TLS12, 32 - DOWNGRADE_TLS12.length);
    const none = new Uint8Array(0);
    const serverHello = handshakeMessage(
      HandshakeType.ServerHello,
      concat([
        u16(TLS12),
        serverRandom,
        // An empty session id: this session cannot be resumed (RFC 5246 §7.4.1.3).
        vector8(none),
        u16(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        Uint8Array.of(0),
        vector16(
          concat([
            hello.secureRenegotiation ? extension(Extension.RenegotiationInfo, vector8(none)) : none,
            hello.extendedMasterSecret ? extension(Extension.ExtendedMasterSecret, none) : none,
            hello.pointFormats ? extension(Extension.EcPointFormats, vector8(Uint8Array.of(0))) : none,
            this.#alpn(hello),
          ]),
        ),
      ]),
    );
    const certificate = await this.#certificate(hello);
    const certificateMessage = handshakeMessage(
      HandshakeType.Certificate,
      vector24(concat(certificate.chain.map((der) => vector24(der)))),
    );
    const ours = await ecdhShare(group);
    const params = concat([Uint8Array.of(NAMED_CURVE), u16(group), vector8(ours.share)]);
    const signature = new Uint8Array(
      await crypto.subtle.sign(
        { name: 'ECDSA', hash: 'SHA-256' },
        certificate.privateKey,
        concat([hello.random, serverRandom, params]) as BufferSource,
      ),
    );
    const serverKeyExchange = handshakeMessage(
      HandshakeType.ServerKeyExchange,
      concat([params, u16(ECDSA_SECP256R1_SHA256), vector16(ecdsaSignatureToDer(signature))]),
    );
    const done = handshakeMessage(HandshakeType.ServerHelloDone, none);
    const flight = [serverHello, certificateMessage, serverKeyExchange, done];
    this.#transcript.push(...flight);
    this.#tls12 = {
      clientRandom: hello.random,
      serverRandom,
      secret: ours.secret,
      extendedMasterSecret: hello.extendedMasterSecret,
    };
    // One message per record, as OpenSSL sends them: busybox's client reads each message from a record of its own.
    for (const handshake of flight)
      for (let at = 0; at < handshake.length; at += MAX_PLAINTEXT)
        this.#sendPlain(ContentType.Handshake, handshake.subarray(at, at + MAX_PLAINTEXT));
    this.#state = 'key-exchange';
  }

  /** RFC 8422 §5.7: the client's share; then the master secret (RFC 5246 §8.1, RFC 7627 §4) and the keys (§6.3). */
  async #clientKeyExchange(message: Uint8Array): Promise<void> {
    const tls12 = this.#tls12!;
    const reader = new Reader(message.subarray(4), 'ClientKeyExchange');
    const share = reader.vector8();
    reader.end();
    const preMaster = await tls12.secret(share);
    this.#transcript.push(message);
    tls12.master = tls12.extendedMasterSecret
      ? await tls12Prf(preMaster, 'extended master secret', await this.#transcriptHash(), 48)
      : await tls12Prf(preMaster, 'master secret', concat([tls12.clientRandom, tls12.serverRandom]), 48);
    // No MAC keys with an AEAD: client and server write keys (16 bytes), then their implicit IVs (4).
    const block = await tls12Prf(tls12.master, 'key expansion', concat([tls12.serverRandom, tls12.clientRandom]), 40);
    tls12.client = { key: await gcmKey(block.subarray(0, 16)), iv: block.slice(32, 36) };
    tls12.server = { key: await gcmKey(block.subarray(16, 32)), iv: block.slice(36, 40) };
    this.#state = 'change-cipher-spec';
  }

  /** RFC 5246 §7.4.9: the client's Finished verifies; ours follows its change_cipher_spec. */
  async #clientFinished12(message: Uint8Array): Promise<void> {
    this.#atKeyChange();
    const tls12 = this.#tls12!;
    const expected = await tls12Prf(tls12.master!, 'client finished', await this.#transcriptHash(), 12);
    if (!sameBytes(message.subarray(4), expected))
      throw new TlsFailure(Alert.DecryptError, 'the client’s Finished does not verify');
    this.#transcript.push(message);
    const verifyData = await tls12Prf(tls12.master!, 'server finished', await this.#transcriptHash(), 12);
    this.#sendPlain(ContentType.ChangeCipherSpec, Uint8Array.of(1));
    this.#write = { keys: tls12.server!, sequence: 0 };
    await this.#sendRecord(ContentType.Handshake, handshakeMessage(HandshakeType.Finished, verifyData));
    await this.#connected();
  }

  /** §4.1.4: asks for a key share of `group`; the transcript then starts with the first hello's hash. */
  async #helloRetry(message: Uint8Array, hello: ClientHello, group: number): Promise<void> {
    this.#retryGroup = group;
    this.#transcript.push(handshakeMessage(HandshakeType.MessageHash, await sha256(message)));
    const retry = handshakeMessage(
      HandshakeType.ServerHello,
      concat([
        u16(0x0303),
        HELLO_RETRY_RANDOM,
        vector8(hello.sessionId),
        u16(TLS_AES_128_GCM_SHA256),
        Uint8Array.of(0),
        vector16(
          concat([extension(Extension.SupportedVersions, u16(TLS13)), extension(Extension.KeyShare, u16(group))]),
        ),
      ]),
    );
    this.#transcript.push(retry);
    this.#sendPlain(ContentType.Handshake, retry);
    this.#compatibilityChangeCipherSpec(hello);
    this.#state = 'retried';
  }

  /** Appendix D.4: a client in middlebox compatibility mode (a session id) gets one change_cipher_spec. */
  #compatibilityChangeCipherSpec(hello: ClientHello): void {
    if (hello.sessionId.length === 0 || this.#sentChangeCipherSpec) return;
    this.#sentChangeCipherSpec = true;
    this.#sendPlain(ContentType.ChangeCipherSpec, Uint8Array.of(1));
  }

  async #clientFinished(body: Uint8Array): Promise<void> {
    this.#atKeyChange();
    if (!sameBytes(body, this.#expectedFinished!))
      throw new TlsFailure(Alert.DecryptError, 'the client’s Finished does not verify');
    this.#read = { keys: await trafficKeys(this.#clientApplicationSecret!), sequence: 0 };
    await this.#connected();
  }

  /** The handshake is done: application data flows, first what was written before. */
  async #connected(): Promise<void> {
    this.#state = 'connected';
    this.#events.established();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const bytes of waiting) await this.#sendData(bytes);
  }

  async #keyUpdate(body: Uint8Array): Promise<void> {
    this.#atKeyChange();
    if (body.length !== 1 || body[0]! > 1) throw new TlsFailure(Alert.IllegalParameter, 'a KeyUpdate is malformed');
    this.#clientApplicationSecret = await nextTrafficSecret(this.#clientApplicationSecret!);
    this.#read = { keys: await trafficKeys(this.#clientApplicationSecret), sequence: 0 };
    if (body[0] === 1) {
      await this.#sendRecord(ContentType.Handshake, handshakeMessage(HandshakeType.KeyUpdate, Uint8Array.of(0)));
      this.#serverApplicationSecret = await nextTrafficSecret(this.#serverApplicationSecret!);
      this.#write = { keys: await trafficKeys(this.#serverApplicationSecret), sequence: 0 };
    }
  }

  async #transcriptHash(): Promise<Uint8Array> {
    return sha256(concat(this.#transcript));
  }

  #sendPlain(type: number, content: Uint8Array): void {
    this.#events.send(concat([Uint8Array.of(type, 3, 3), u16(content.length), content]));
  }

  /** Sends application data; each record's bytes leave `queuedBytes` before its `send`, which may ask for more. */
  async #sendData(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; at += MAX_PLAINTEXT) {
      const record = bytes.subarray(at, at + MAX_PLAINTEXT);
      this.#queuedBytes -= record.length;
      await this.#sendRecord(ContentType.ApplicationData, record);
    }
  }

  async #sendRecords(type: number, content: Uint8Array): Promise<void> {
    for (let at = 0; at < content.length; at += MAX_PLAINTEXT)
      await this.#sendRecord(type, content.subarray(at, at + MAX_PLAINTEXT));
  }

  /** One protected record (§5.2), or a plain one before keys exist (an alert early in the handshake). */
  async #sendRecord(type: number, content: Uint8Array): Promise<void> {
    const write = this.#write;
    if (!write) return this.#sendPlain(type, content);
    if (this.#tls12) {
      // RFC 5288 §3: our nonce_explicit is the record's sequence number, never repeated under one key.
      const explicit = sequenceBytes(write.sequence++);
      const sealed = await crypto.subtle.encrypt(
        {
          name: 'AES-GCM',
          iv: concat([write.keys.iv, explicit]),
          additionalData: concat([explicit, Uint8Array.of(type, 3, 3), u16(content.length)]),
        },
        write.keys.key,
        content as BufferSource,
      );
      this.#events.send(
        concat([Uint8Array.of(type, 3, 3), u16(EXPLICIT_NONCE + sealed.byteLength), explicit, new Uint8Array(sealed)]),
      );
      return;
    }
    const inner = concat([content, Uint8Array.of(type)]);
    const header = concat([Uint8Array.of(ContentType.ApplicationData, 3, 3), u16(inner.length + TAG_LENGTH)]);
    const sequence = write.sequence++;
    const sealed = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: nonce(write.keys.iv, sequence), additionalData: header as BufferSource },
      write.keys.key,
      inner as BufferSource,
    );
    this.#events.send(concat([header, new Uint8Array(sealed)]));
  }
}
