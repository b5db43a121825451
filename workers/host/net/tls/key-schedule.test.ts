import { describe, expect, it } from 'vitest';
import {
  deriveSecret,
  finishedVerifyData,
  handshakeSecret,
  masterSecret,
  sha256,
  tls12Prf,
  trafficKeyBytes,
} from './key-schedule.ts';

const hex = (text: string): Uint8Array => Uint8Array.from(text.match(/../g)!, (byte) => parseInt(byte, 16));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const base64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');

/** RFC 8448 §3, "Simple 1-RTT Handshake": the messages and secrets of the trace. */
const CLIENT_HELLO =
  '010000c00303cb34ecb1e78163ba1c38c6dacb196a6dffa21a8d9912ec18a2ef6283024dece7000006130113031302010000910000000b0009000006736572766572ff01000100000a00140012001d0017001800190100010101020103010400230000003300260024001d002099381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c002b0003020304000d0020001e040305030603020308040805080604010501060102010402050206020202002d00020101001c00024001';
const SERVER_HELLO =
  '020000560303a6af06a4121860dc5e6e60249cd34c95930c8ac5cb1434dac155772ed3e2692800130100002e00330024001d0020c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f002b00020304';
const ENCRYPTED_EXTENSIONS = '080000240022000a00140012001d00170018001901000101010201030104001c0002400100000000';
const CERTIFICATE =
  '0b0001b9000001b50001b0308201ac30820115a003020102020102300d06092a864886f70d01010b0500300e310c300a06035504031303727361301e170d3136303733303031323335395a170d3236303733303031323335395a300e310c300a0603550403130372736130819f300d06092a864886f70d010101050003818d0030818902818100b4bb498f8279303d980836399b36c6988c0c68de55e1bdb826d3901a2461eafd2de49a91d015abbc9a95137ace6c1af19eaa6af98c7ced43120998e187a80ee0ccb0524b1b018c3e0b63264d449a6d38e22a5fda430846748030530ef0461c8ca9d9efbfae8ea6d1d03e2bd193eff0ab9a8002c47428a6d35a8d88d79f7f1e3f0203010001a31a301830090603551d1304023000300b0603551d0f0404030205a0300d06092a864886f70d01010b05000381810085aad2a0e5b9276b908c65f73a7267170618a54c5f8a7b337d2df7a594365417f2eae8f8a58c8f8172f9319cf36b7fd6c55b80f21a03015156726096fd335e5e67f2dbf102702e608ccae6bec1fc63a42a99be5c3eb7107c3c54e9b9eb2bd5203b1c3b84e0a8b2f759409ba3eac9d91d402dcc0cc8f8961229ac9187b42b4de10000';
const CERTIFICATE_VERIFY =
  '0f000084080400805a747c5d88fa9bd2e55ab085a61015b7211f824cd484145ab3ff52f1fda8477b0b7abc90db78e2d33a5c141a078653fa6bef780c5ea248eeaaa785c4f394cab6d30bbe8d4859ee511f602957b15411ac027671459e46445c9ea58c181e818e95b8c3fb0bf3278409d3be152a3da5043e063dda65cdf5aea20d53dfacd42f74f3';
const SERVER_FINISHED = '140000209b9b141d906337fbd2cbdce71df4deda4ab42c309572cb7fffee5454b78f0718';

describe('the TLS 1.3 key schedule against RFC 8448’s trace', () => {
  it('derives the x25519 secret, the handshake and application secrets, keys and Finished', async () => {
    // The server's ephemeral x25519 key and the client's public one, from the trace.
    const serverPrivate = await crypto.subtle.importKey(
      'jwk',
      {
        kty: 'OKP',
        crv: 'X25519',
        d: base64url(hex('b1580eeadf6dd589b8ef4f2d5652578cc810e9980191ec8d058308cea216a21e')),
        x: base64url(hex('c9828876112095fe66762bdbf7c672e156d6cc253b833df1dd69b1b04e751f0f')),
      },
      { name: 'X25519' },
      false,
      ['deriveBits'],
    );
    const clientPublic = await crypto.subtle.importKey(
      'raw',
      hex('99381de560e4bd43d23d8e435a7dbafeb3c06e51c13cae4d5413691e529aaf2c') as BufferSource,
      { name: 'X25519' },
      false,
      [],
    );
    const shared = new Uint8Array(
      await crypto.subtle.deriveBits({ name: 'X25519', public: clientPublic }, serverPrivate, 256),
    );
    expect(toHex(shared)).toBe('8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d');

    const handshake = await handshakeSecret(shared);
    expect(toHex(handshake)).toBe('1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac');
    const helloHash = await sha256(hex(CLIENT_HELLO + SERVER_HELLO));
    const clientHandshake = await deriveSecret(handshake, 'c hs traffic', helloHash);
    const serverHandshake = await deriveSecret(handshake, 's hs traffic', helloHash);
    expect(toHex(clientHandshake)).toBe('b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21');
    expect(toHex(serverHandshake)).toBe('b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38');
    const serverKeys = await trafficKeyBytes(serverHandshake);
    expect(toHex(serverKeys.key)).toBe('3fce516009c21727d0f2e4e86ee403bc');
    expect(toHex(serverKeys.iv)).toBe('5d313eb2671276ee13000b30');
    const clientKeys = await trafficKeyBytes(clientHandshake);
    expect(toHex(clientKeys.key)).toBe('dbfaa693d1762c5b666af5d950258d01');
    expect(toHex(clientKeys.iv)).toBe('5bd3c71b836e0b76bb73265f');

    const master = await masterSecret(handshake);
    expect(toHex(master)).toBe('18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919');
    const beforeFinished = await sha256(
      hex(CLIENT_HELLO + SERVER_HELLO + ENCRYPTED_EXTENSIONS + CERTIFICATE + CERTIFICATE_VERIFY),
    );
    expect(toHex(await finishedVerifyData(serverHandshake, beforeFinished))).toBe(SERVER_FINISHED.slice(8));

    const afterFinished = await sha256(
      hex(CLIENT_HELLO + SERVER_HELLO + ENCRYPTED_EXTENSIONS + CERTIFICATE + CERTIFICATE_VERIFY + SERVER_FINISHED),
    );
    const clientApplication = await deriveSecret(master, 'c ap traffic', afterFinished);
    const serverApplication = await deriveSecret(master, 's ap traffic', afterFinished);
    expect(toHex(clientApplication)).toBe('9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5');
    expect(toHex(serverApplication)).toBe('a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643');
    const applicationKeys = await trafficKeyBytes(serverApplication);
    expect(toHex(applicationKeys.key)).toBe('9f02283b6c9c07efc26bb9f2ac92e356');
    expect(toHex(applicationKeys.iv)).toBe('cf782b88dd83549aadf1e984');
    // The client's Finished of the trace, over the transcript through the server's Finished.
    expect(toHex(await finishedVerifyData(clientHandshake, afterFinished))).toBe(
      'a8ec436d677634ae525ac1fcebe11a039ec17694fac6e98527b642f2edd5ce61',
    );
  });
});

describe('TLS 1.2’s PRF', () => {
  it('gives the published P_SHA256 test vector (also what `openssl kdf … TLS1-PRF` gives)', async () => {
    const out = await tls12Prf(
      hex('9bbe436ba940f017b17652849a71db35'),
      'test label',
      hex('a0ba9f936cda311827a6f796ffd5198c'),
      100,
    );
    expect(toHex(out)).toBe(
      'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
    );
  });
});
