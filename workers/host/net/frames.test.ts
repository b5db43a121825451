import { describe, expect, it } from 'vitest';
import { checksumValid, internetChecksum } from './checksum.ts';
import {
  buildTcp,
  buildUdp,
  ipv4,
  ipv4Frame,
  IPV4_PAYLOAD_OFFSET,
  parseEthernet,
  parseIpv4,
  parseTcp,
  parseUdp,
  TCP_ACK,
  TCP_SYN,
  type Ipv4Packet,
} from './frames.ts';

const A = Uint8Array.of(2, 0, 0, 0, 0, 1);
const B = Uint8Array.of(2, 0, 0, 0, 0, 2);

function ipOf(frame: Uint8Array): Ipv4Packet {
  const ethernet = parseEthernet(frame);
  if (typeof ethernet === 'string') throw new Error(ethernet);
  const ip = parseIpv4(ethernet.payload);
  if (typeof ip === 'string') throw new Error(ip);
  return ip;
}

describe('the Internet checksum', () => {
  it('matches RFC 1071’s worked example and odd lengths', () => {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2, so the checksum is 220d.
    expect(internetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7))).toBe(0x220d);
    // An odd byte is padded with a zero byte: 01 | 02 -> 0x0100 + ... ; compared with a padded copy.
    for (let length = 1; length < 40; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + 11) & 0xff);
      const padded = new Uint8Array(length + (length & 1));
      padded.set(bytes);
      let sum = 0;
      for (let i = 0; i < padded.length; i += 2) sum += (padded[i]! << 8) | padded[i + 1]!;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      expect(internetChecksum(bytes)).toBe(~sum & 0xffff);
    }
  });

  it('checks a real IPv4 header (Wikipedia’s example, from RFC 791 fields)', () => {
    const header = Uint8Array.of(
      0x45,
      0,
      0,
      0x73,
      0,
      0,
      0x40,
      0,
      0x40,
      0x11,
      0xb8,
      0x61,
      0xc0,
      0xa8,
      0,
      1,
      0xc0,
      0xa8,
      0,
      0xc7,
    );
    expect(checksumValid(header)).toBe(true);
    header[11] = header[11]! ^ 1;
    expect(checksumValid(header)).toBe(false);
  });
});

describe('frame codecs', () => {
  it('round-trips a TCP SYN with MSS and window scale, checksummed with the pseudo-header', () => {
    const frame = buildTcp(
      A,
      B,
      ipv4('10.0.2.15'),
      ipv4('10.0.2.2'),
      {
        sourcePort: 1234,
        destinationPort: 80,
        sequence: 0xfffffff0,
        acknowledgment: 7,
        flags: TCP_SYN | TCP_ACK,
        window: 29200,
        mss: 1460,
        windowScale: 7,
      },
      [Uint8Array.of(1, 2), Uint8Array.of(3)],
    );
    const segment = parseTcp(ipOf(frame));
    if (typeof segment === 'string') throw new Error(segment);
    expect(segment).toMatchObject({
      sourcePort: 1234,
      destinationPort: 80,
      sequence: 0xfffffff0,
      acknowledgment: 7,
      flags: TCP_SYN | TCP_ACK,
      window: 29200,
      mss: 1460,
      windowScale: 7,
    });
    expect([...segment.payload]).toEqual([1, 2, 3]);
    frame[frame.length - 1] = frame[frame.length - 1]! ^ 0x40;
    expect(parseTcp(ipOf(frame))).toBe('TCP checksum wrong');
  });

  it('reads past SACK-permitted and timestamps, and refuses an option running out of the header', () => {
    // Linux's SYN: MSS, SACK-permitted, timestamps, NOP, window scale.
    const options = [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
    const make = (bytes: number[]): Uint8Array => {
      const frame = ipv4Frame(A, B, 1, 2, 6, 20 + bytes.length);
      const segment = frame.subarray(IPV4_PAYLOAD_OFFSET);
      segment[12] = ((20 + bytes.length) / 4) << 4;
      segment[13] = TCP_SYN;
      segment.set(bytes, 20);
      const pseudo = 0 + 1 + 0 + 2 + 6 + segment.length;
      new DataView(segment.buffer, segment.byteOffset).setUint16(16, internetChecksum(segment, pseudo));
      return frame;
    };
    const linux = parseTcp(ipOf(make(options)));
    if (typeof linux === 'string') throw new Error(linux);
    expect([linux.mss, linux.windowScale]).toEqual([1460, 7]);
    expect(parseTcp(ipOf(make([1, 1, 8, 40])))).toBe('TCP option length outside the header');
    expect(parseTcp(ipOf(make([1, 1, 1, 2])))).toBe('TCP option truncated');
  });

  it('refuses truncated, fragmented and lying IPv4 packets with a reason', () => {
    const frame = buildUdp(A, B, ipv4('10.0.2.15'), 5, ipv4('10.0.2.2'), 53, Uint8Array.of(9, 9, 9));
    const ip = frame.subarray(14);
    expect(parseIpv4(ip.subarray(0, 19))).toBe('IPv4 packet shorter than its header');
    const fragment = ip.slice();
    fragment[6] = 0x20; // more fragments
    fragment[10] = fragment[11] = 0;
    new DataView(fragment.buffer).setUint16(10, internetChecksum(fragment.subarray(0, 20)));
    expect(parseIpv4(fragment)).toBe('IPv4 fragment');
    const long = ip.slice();
    long[3]! += 100;
    expect(parseIpv4(long)).toBe('IPv4 total length beyond the frame');
    const udp = parseUdp(ipOf(frame));
    if (typeof udp === 'string') throw new Error(udp);
    expect([...udp.payload]).toEqual([9, 9, 9]);
    // Ethernet padding past the IPv4 total length is not payload.
    const padded = new Uint8Array(60);
    padded.set(frame);
    const paddedUdp = parseUdp(ipOf(padded));
    if (typeof paddedUdp === 'string') throw new Error(paddedUdp);
    expect(paddedUdp.payload.length).toBe(3);
    expect(parseEthernet(new Uint8Array(13))).toBe('Ethernet frame shorter than its header');
    expect(parseEthernet(new Uint8Array(1519))).toBe('Ethernet frame longer than 1518 bytes');
  });
});
