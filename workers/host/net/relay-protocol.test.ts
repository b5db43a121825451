import { describe, expect, it } from 'vitest';
import {
  CLOSE_REFUSED,
  decodePacket,
  encodeClose,
  encodeConnect,
  encodeContinue,
  encodeData,
  MAX_HOSTNAME_BYTES,
  MAX_PACKET_BYTES,
  PACKET_CLOSE,
  PACKET_CONNECT,
  PACKET_CONTINUE,
  PACKET_DATA,
  PACKET_INFO,
  STREAM_TCP,
  STREAM_UDP,
} from './relay-protocol.ts';

describe('wisp packets', () => {
  it('encode as the spec lays them out, little-endian', () => {
    expect([...encodeConnect(0x01020304, STREAM_TCP, 0x1f90, 'ab')]).toEqual([1, 4, 3, 2, 1, 1, 0x90, 0x1f, 97, 98]);
    expect([...encodeData(7, Uint8Array.of(9, 8))]).toEqual([2, 7, 0, 0, 0, 9, 8]);
    expect([...encodeContinue(0, 128)]).toEqual([3, 0, 0, 0, 0, 128, 0, 0, 0]);
    expect([...encodeClose(5, CLOSE_REFUSED)]).toEqual([4, 5, 0, 0, 0, 0x44]);
  });

  it('decode what they encode', () => {
    expect(decodePacket(encodeConnect(3, STREAM_UDP, 53, 'example.org'))).toEqual({
      type: PACKET_CONNECT,
      stream: 3,
      streamType: STREAM_UDP,
      port: 53,
      host: 'example.org',
    });
    const data = decodePacket(encodeData(0xffffffff, Uint8Array.of(1, 2, 3)));
    expect(data).toMatchObject({ type: PACKET_DATA, stream: 0xffffffff });
    expect([...(data as { data: Uint8Array }).data]).toEqual([1, 2, 3]);
    expect(decodePacket(encodeContinue(0, 0xfffffffe))).toEqual({
      type: PACKET_CONTINUE,
      stream: 0,
      remaining: 0xfffffffe,
    });
    expect(decodePacket(encodeClose(9, 2))).toEqual({ type: PACKET_CLOSE, stream: 9, reason: 2 });
    // Version 2's INFO (version 2, extension UDP), decoded to be ignored.
    expect(decodePacket(Uint8Array.of(5, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0))).toEqual({ type: PACKET_INFO, stream: 0 });
    expect(decodePacket(encodeData(1, new Uint8Array(MAX_PACKET_BYTES - 5)))).toMatchObject({ type: PACKET_DATA });
  });

  it('refuse what the protocol does not allow, with a sentence', () => {
    const refusals: [Uint8Array, RegExp][] = [
      [Uint8Array.of(2, 1, 0, 0), /shorter than its header/],
      [new Uint8Array(MAX_PACKET_BYTES + 1).fill(2), /over the .*-byte limit/],
      [Uint8Array.of(6, 1, 0, 0, 0, 1, 0), /unknown type 0x06/],
      [Uint8Array.of(0, 1, 0, 0, 0), /unknown type 0x00/],
      [Uint8Array.of(1, 1, 0, 0, 0, 1, 80), /without a destination/],
      [Uint8Array.of(1, 1, 0, 0, 0, 3, 80, 0, 97), /stream type 3/],
      [encodeConnect(0, STREAM_TCP, 80, 'a'), /stream 0/],
      [Uint8Array.of(1, 1, 0, 0, 0, 1, 80, 0, 0xff, 0xfe), /not UTF-8/],
      [encodeData(0, Uint8Array.of(1)), /stream 0/],
      [Uint8Array.of(3, 1, 0, 0, 0, 1, 0, 0), /CONTINUE of 3 payload bytes/],
      [Uint8Array.of(3, 1, 0, 0, 0, 1, 0, 0, 0, 0), /CONTINUE of 5 payload bytes/],
      [Uint8Array.of(4, 1, 0, 0, 0), /CLOSE of 0 payload bytes/],
      [Uint8Array.of(4, 1, 0, 0, 0, 2, 2), /CLOSE of 2 payload bytes/],
    ];
    const long = new Uint8Array(8 + MAX_HOSTNAME_BYTES + 1).fill(97);
    long.set([1, 1, 0, 0, 0, 1, 80, 0]);
    refusals.push([long, /hostname is over 253 bytes/]);
    for (const [message, why] of refusals) expect(decodePacket(message)).toMatch(why);
    expect(() => encodeConnect(1, STREAM_TCP, 80, 'a'.repeat(MAX_HOSTNAME_BYTES + 1))).toThrow(RangeError);
    expect(() => encodeData(1, new Uint8Array(MAX_PACKET_BYTES))).toThrow(RangeError);
  });

  it('take 20 000 random messages without throwing, each a packet or a sentence', () => {
    let seed = 1;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 16;
    };
    let packets = 0;
    for (let i = 0; i < 20_000; i++) {
      const message = new Uint8Array(random() % 40);
      for (let j = 0; j < message.byteLength; j++) message[j] = random() & 0xff;
      if (message.byteLength > 0 && i % 2 === 0) message[0] = 1 + (random() % 5); // a known type half the time
      const packet = decodePacket(message);
      if (typeof packet === 'string') expect(packet.length).toBeGreaterThan(10);
      else {
        packets++;
        expect(packet.type).toBeGreaterThanOrEqual(1);
        expect(packet.type).toBeLessThanOrEqual(5);
      }
    }
    expect(packets).toBeGreaterThan(1000);
  });
});
