/**
 * The wisp protocol, version 1 (MercuryWorkshop/wisp-protocol, protocol.md): TCP and UDP streams
 * multiplexed over one WebSocket, each WebSocket message one packet:
 *
 *   packet type u8 | stream id u32 | payload (the rest)          all integers little-endian
 *
 *   CONNECT  0x01  stream type u8 (1 TCP, 2 UDP) | destination port u16 | hostname (UTF-8, the rest)
 *   DATA     0x02  the stream's bytes (for UDP, one datagram)
 *   CONTINUE 0x03  buffer remaining u32: DATA packets the server can still take for the stream
 *   CLOSE    0x04  reason u8
 *
 * Stream 0 is the connection's: right after the WebSocket opens, the server sends CONTINUE on stream 0
 * with the buffer every new TCP stream starts with. Both ends decode what the other sends, which neither
 * may trust: `decodePacket` reads within the message, allocates nothing beyond it, and refuses what the
 * protocol does not allow with a sentence.
 */

export const PACKET_CONNECT = 0x01;
export const PACKET_DATA = 0x02;
export const PACKET_CONTINUE = 0x03;
export const PACKET_CLOSE = 0x04;
/** Version 2's INFO (a draft): decoded so that a version 1 end can ignore it, as version 2 lets it. */
export const PACKET_INFO = 0x05;

export const STREAM_TCP = 0x01;
export const STREAM_UDP = 0x02;

/** Close reasons (protocol.md, "CLOSE"). */
export const CLOSE_UNKNOWN = 0x01;
export const CLOSE_VOLUNTARY = 0x02;
export const CLOSE_NETWORK_ERROR = 0x03;
export const CLOSE_INVALID = 0x41;
export const CLOSE_UNREACHABLE = 0x42;
export const CLOSE_TIMED_OUT = 0x43;
export const CLOSE_REFUSED = 0x44;
export const CLOSE_DATA_TIMED_OUT = 0x47;
export const CLOSE_BLOCKED = 0x48;
export const CLOSE_THROTTLED = 0x49;
export const CLOSE_CLIENT_ERROR = 0x81;

/** The bytes before every payload: type and stream id. */
export const PACKET_HEADER_BYTES = 5;
/** The largest hostname a CONNECT may name: a DNS name is at most 253 characters (RFC 1035 §2.3.4). */
export const MAX_HOSTNAME_BYTES = 253;
/**
 * The largest packet either end takes: a DATA of 64 KiB, what one TCP read or one UDP datagram gives.
 * Both ends of tabvm send DATA no larger; a peer that sends more is refused, not buffered.
 */
export const MAX_PACKET_BYTES = PACKET_HEADER_BYTES + 64 * 1024;

export type RelayPacket =
  | {
      readonly type: typeof PACKET_CONNECT;
      readonly stream: number;
      readonly streamType: number;
      readonly port: number;
      readonly host: string;
    }
  | { readonly type: typeof PACKET_DATA; readonly stream: number; readonly data: Uint8Array }
  | { readonly type: typeof PACKET_CONTINUE; readonly stream: number; readonly remaining: number }
  | { readonly type: typeof PACKET_CLOSE; readonly stream: number; readonly reason: number }
  | { readonly type: typeof PACKET_INFO; readonly stream: number };

/** What a close reason means, for a console line. */
export function closeReasonText(reason: number): string {
  switch (reason) {
    case CLOSE_VOLUNTARY:
      return 'closed';
    case CLOSE_NETWORK_ERROR:
      return 'a network error';
    case CLOSE_INVALID:
      return 'an invalid destination';
    case CLOSE_UNREACHABLE:
      return 'the host is unreachable or has no address';
    case CLOSE_TIMED_OUT:
      return 'the connection timed out';
    case CLOSE_REFUSED:
      return 'the connection was refused';
    case CLOSE_DATA_TIMED_OUT:
      return 'the transfer timed out';
    case CLOSE_BLOCKED:
      return 'the relay blocks this destination';
    case CLOSE_THROTTLED:
      return 'the relay is throttling connections';
    case CLOSE_CLIENT_ERROR:
      return 'the client could not take more data';
    default:
      return `reason 0x${reason.toString(16).padStart(2, '0')}`;
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function packet(
  type: number,
  stream: number,
  payloadBytes: number,
): { bytes: Uint8Array<ArrayBuffer>; view: DataView } {
  const bytes = new Uint8Array(PACKET_HEADER_BYTES + payloadBytes);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, type);
  view.setUint32(1, stream >>> 0, true);
  return { bytes, view };
}

export function encodeConnect(stream: number, streamType: number, port: number, host: string): Uint8Array<ArrayBuffer> {
  const name = utf8Encoder.encode(host);
  if (name.byteLength > MAX_HOSTNAME_BYTES) throw new RangeError(`hostname longer than ${MAX_HOSTNAME_BYTES} bytes`);
  const { bytes, view } = packet(PACKET_CONNECT, stream, 3 + name.byteLength);
  view.setUint8(5, streamType);
  view.setUint16(6, port, true);
  bytes.set(name, 8);
  return bytes;
}

export function encodeData(stream: number, data: Uint8Array): Uint8Array<ArrayBuffer> {
  if (PACKET_HEADER_BYTES + data.byteLength > MAX_PACKET_BYTES)
    throw new RangeError('DATA larger than a packet may be');
  const { bytes } = packet(PACKET_DATA, stream, data.byteLength);
  bytes.set(data, PACKET_HEADER_BYTES);
  return bytes;
}

export function encodeContinue(stream: number, remaining: number): Uint8Array<ArrayBuffer> {
  const { bytes, view } = packet(PACKET_CONTINUE, stream, 4);
  view.setUint32(5, remaining >>> 0, true);
  return bytes;
}

export function encodeClose(stream: number, reason: number): Uint8Array<ArrayBuffer> {
  const { bytes, view } = packet(PACKET_CLOSE, stream, 1);
  view.setUint8(5, reason);
  return bytes;
}

/**
 * One packet from a WebSocket message, or why it is not one. A DATA's bytes are a view of `message`
 * (copy them to keep them past the message). Version 2's INFO is decoded without its payload, to be
 * ignored (a version 2 peer that gets no INFO back goes on in version 1); other types are refused.
 */
export function decodePacket(message: Uint8Array): RelayPacket | string {
  if (message.byteLength < PACKET_HEADER_BYTES)
    return `a packet of ${message.byteLength} bytes is shorter than its header`;
  if (message.byteLength > MAX_PACKET_BYTES)
    return `a packet of ${message.byteLength} bytes is over the ${MAX_PACKET_BYTES}-byte limit`;
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const type = view.getUint8(0);
  const stream = view.getUint32(1, true);
  const payloadBytes = message.byteLength - PACKET_HEADER_BYTES;
  switch (type) {
    case PACKET_CONNECT: {
      if (payloadBytes < 4) return 'a CONNECT without a destination';
      const streamType = view.getUint8(5);
      if (streamType !== STREAM_TCP && streamType !== STREAM_UDP) return `a CONNECT for stream type ${streamType}`;
      if (payloadBytes - 3 > MAX_HOSTNAME_BYTES) return `a CONNECT whose hostname is over ${MAX_HOSTNAME_BYTES} bytes`;
      if (stream === 0) return 'a CONNECT on stream 0, which is reserved';
      let host: string;
      try {
        host = utf8Decoder.decode(message.subarray(8));
      } catch {
        return 'a CONNECT whose hostname is not UTF-8';
      }
      return { type, stream, streamType, port: view.getUint16(6, true), host };
    }
    case PACKET_DATA:
      if (stream === 0) return 'a DATA on stream 0, which is reserved';
      return { type, stream, data: message.subarray(PACKET_HEADER_BYTES) };
    case PACKET_CONTINUE:
      if (payloadBytes !== 4) return `a CONTINUE of ${payloadBytes} payload bytes (it has 4)`;
      return { type, stream, remaining: view.getUint32(5, true) };
    case PACKET_CLOSE:
      if (payloadBytes !== 1) return `a CLOSE of ${payloadBytes} payload bytes (it has 1)`;
      return { type, stream, reason: view.getUint8(5) };
    case PACKET_INFO:
      return { type, stream };
    default:
      return `a packet of unknown type 0x${type.toString(16).padStart(2, '0')}`;
  }
}
