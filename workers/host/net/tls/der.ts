/**
 * The few DER encodings (ITU-T X.690 §8, §10) that an X.509 certificate (RFC 5280) of tabvm's needs:
 * this module only writes, it never parses what a peer sent. Each function returns one whole TLV.
 */

export function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A TLV with the definite length form (X.690 §8.1.3, §10.1). */
export function tlv(tag: number, ...content: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const value = concat(content);
  const length = value.length;
  let head: number[];
  if (length < 0x80) head = [tag, length];
  else if (length < 0x100) head = [tag, 0x81, length];
  else if (length < 0x10000) head = [tag, 0x82, length >> 8, length & 0xff];
  else head = [tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff];
  return concat([Uint8Array.from(head), value]);
}

export const sequence = (...content: readonly Uint8Array[]): Uint8Array<ArrayBuffer> => tlv(0x30, ...content);
export const set = (...content: readonly Uint8Array[]): Uint8Array<ArrayBuffer> => tlv(0x31, ...content);
export const octetString = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => tlv(0x04, bytes);
export const utf8String = (text: string): Uint8Array<ArrayBuffer> => tlv(0x0c, new TextEncoder().encode(text));
export const boolean = (value: boolean): Uint8Array<ArrayBuffer> => tlv(0x01, Uint8Array.of(value ? 0xff : 0));
/** `[n] EXPLICIT`: a constructed context-specific tag around one value. */
export const explicit = (n: number, ...content: readonly Uint8Array[]): Uint8Array<ArrayBuffer> =>
  tlv(0xa0 | n, ...content);
/** `[n] IMPLICIT` of a primitive type. */
export const implicit = (n: number, bytes: Uint8Array): Uint8Array<ArrayBuffer> => tlv(0x80 | n, bytes);

/** A BIT STRING of whole bytes, or with `unusedBits` at the end of the last (X.690 §8.6). */
export function bitString(bytes: Uint8Array, unusedBits = 0): Uint8Array<ArrayBuffer> {
  return tlv(0x03, Uint8Array.of(unusedBits), bytes);
}

/** A non-negative INTEGER from its big-endian magnitude: minimal, with a 0 before a set top bit (§8.3). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array<ArrayBuffer> {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const bytes = magnitude.subarray(start);
  return bytes[0]! & 0x80 ? tlv(0x02, Uint8Array.of(0), bytes) : tlv(0x02, bytes);
}

export const integer = (value: number): Uint8Array<ArrayBuffer> =>
  unsignedInteger(Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff));

/** An OBJECT IDENTIFIER from its dotted form (§8.19). */
export function objectIdentifier(dotted: string): Uint8Array<ArrayBuffer> {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  const push = (arc: number): void => {
    const base128 = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128))
      base128.unshift((rest & 0x7f) | 0x80);
    bytes.push(...base128);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) push(arc);
  return tlv(0x06, Uint8Array.from(bytes));
}

/** UTCTime for years 1950–2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
export function time(date: Date): Uint8Array<ArrayBuffer> {
  const two = (n: number): string => String(n).padStart(2, '0');
  const year = date.getUTCFullYear();
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  const encoder = new TextEncoder();
  return year < 2050 ? tlv(0x17, encoder.encode(two(year % 100) + rest)) : tlv(0x18, encoder.encode(year + rest));
}

/**
 * An ECDSA signature as X.509 and TLS carry it (`Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }`,
 * RFC 3279 §2.2.3) from WebCrypto's r‖s (IEEE P1363).
 */
export function ecdsaSignatureToDer(p1363: Uint8Array): Uint8Array<ArrayBuffer> {
  const half = p1363.length / 2;
  return sequence(unsignedInteger(p1363.subarray(0, half)), unsignedInteger(p1363.subarray(half)));
}

/** PEM of a certificate's DER (RFC 7468 §5). */
export function certificatePem(der: Uint8Array): string {
  let binary = '';
  for (const byte of der) binary += String.fromCharCode(byte);
  const base64 = btoa(binary);
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
