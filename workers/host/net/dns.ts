/**
 * DNS queries and answers (RFC 1035 §4) as the network's resolver at 10.0.2.3 needs them: one question
 * read within the message's bounds, answered with A records from a `Resolver` the host gives (Node's
 * resolver, DNS over HTTPS or synthetic addresses in a browser).
 */
import type { Refusal } from './frames.ts';

export const DNS_PORT = 53;
export const DNS_TYPE_A = 1;
export const DNS_CLASS_IN = 1;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;

const HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;
const ANSWER_TTL_SECONDS = 60;
/** At most this many addresses in one answer, so it fits the 512 bytes of plain DNS over UDP. */
const MAX_ANSWERS = 16;

/** Resolves a host name to IPv4 addresses; rejects with `NameNotFound` when the name does not exist. */
export interface Resolver {
  resolve4(name: string): Promise<number[]>;
}

export class NameNotFound extends Error {
  override readonly name = 'NameNotFound';
}

export interface DnsQuery {
  readonly id: number;
  readonly recursionDesired: boolean;
  readonly opcode: number;
  /** The name, lowercase, labels joined with '.'. */
  readonly name: string;
  readonly type: number;
  readonly class: number;
  /** The question's bytes (name, type, class), echoed in the answer. */
  readonly question: Uint8Array;
}

export function parseDnsQuery(message: Uint8Array): DnsQuery | Refusal {
  if (message.byteLength < HEADER_BYTES) return 'DNS message truncated';
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const flags = view.getUint16(2);
  if (flags & 0x8000) return 'DNS response sent to the resolver';
  if (view.getUint16(4) !== 1) return 'DNS query without exactly one question';
  const labels: string[] = [];
  let at = HEADER_BYTES;
  let nameBytes = 0;
  for (;;) {
    if (at >= message.byteLength) return 'DNS name truncated';
    const length = message[at]!;
    if (length === 0) {
      at++;
      break;
    }
    // A question names its name in full: compression points back into a message the client wrote.
    if (length > 63) return 'DNS question name compressed or with a label over 63 bytes';
    nameBytes += length + 1;
    if (nameBytes > MAX_NAME_BYTES) return 'DNS name longer than 255 bytes';
    if (at + 1 + length > message.byteLength) return 'DNS name truncated';
    labels.push(String.fromCharCode(...message.subarray(at + 1, at + 1 + length)).toLowerCase());
    at += 1 + length;
  }
  if (at + 4 > message.byteLength) return 'DNS question truncated';
  return {
    id: view.getUint16(0),
    recursionDesired: (flags & 0x0100) !== 0,
    opcode: (flags >>> 11) & 0x0f,
    name: labels.join('.'),
    type: view.getUint16(at),
    class: view.getUint16(at + 2),
    question: message.subarray(HEADER_BYTES, at + 4),
  };
}

/** An answer to `query` with `rcode` and the A records of `addresses`. */
export function buildDnsAnswer(query: DnsQuery, rcode: number, addresses: readonly number[] = []): Uint8Array {
  const answers = addresses.slice(0, MAX_ANSWERS);
  const message = new Uint8Array(HEADER_BYTES + query.question.byteLength + answers.length * 16);
  const view = new DataView(message.buffer);
  view.setUint16(0, query.id);
  // QR, the query's opcode and RD, RA (this resolver recurses), the rcode.
  view.setUint16(2, 0x8000 | (query.opcode << 11) | (query.recursionDesired ? 0x0100 : 0) | 0x0080 | rcode);
  view.setUint16(4, 1);
  view.setUint16(6, answers.length);
  message.set(query.question, HEADER_BYTES);
  let at = HEADER_BYTES + query.question.byteLength;
  for (const address of answers) {
    view.setUint16(at, 0xc000 | HEADER_BYTES); // the name: a pointer to the question's
    view.setUint16(at + 2, DNS_TYPE_A);
    view.setUint16(at + 4, DNS_CLASS_IN);
    view.setUint32(at + 6, ANSWER_TTL_SECONDS);
    view.setUint16(at + 10, 4);
    view.setUint32(at + 12, address);
    at += 16;
  }
  return message;
}
