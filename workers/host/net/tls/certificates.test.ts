import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority, createCaRecord } from './certificates.ts';
import { certificatePem } from './der.ts';

describe('the profile CA', () => {
  it('is a self-signed CA whose private key cannot be exported', async () => {
    const record = await createCaRecord();
    expect(record.privateKey.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('pkcs8', record.privateKey)).rejects.toThrow();
    const ca = new X509Certificate(Buffer.from(record.certificate));
    expect(ca.ca).toBe(true);
    expect(ca.subject).toMatch(/^O=tabvm\nCN=tabvm browser profile CA [0-9a-f]{8}$/);
    expect(ca.issuer).toBe(ca.subject);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(new CertificateAuthority(record).pem).toBe(ca.toString());
  });

  it('makes leaves for names and addresses that verify against it, once per name', async () => {
    const authority = new CertificateAuthority(await createCaRecord());
    const ca = new X509Certificate(Buffer.from(authority.certificate));
    const first = await authority.certificateFor('Example.test');
    expect(await authority.certificateFor('example.test')).toBe(first);
    const leaf = new X509Certificate(Buffer.from(first.chain[0]!));
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkHost('example.test')).toBe('example.test');
    expect(leaf.checkHost('other.test')).toBeUndefined();
    expect(leaf.subjectAltName).toBe('DNS:example.test');

    const byAddress = new X509Certificate(Buffer.from((await authority.certificateFor('10.0.2.2')).chain[0]!));
    expect(byAddress.checkIP('10.0.2.2')).toBe('10.0.2.2');
    expect(byAddress.verify(ca.publicKey)).toBe(true);

    const long = `${'a'.repeat(60)}.example.test`;
    const noSubject = new X509Certificate(Buffer.from((await authority.certificateFor(long)).chain[0]!));
    expect(noSubject.subject || '').toBe('');
    expect(noSubject.checkHost(long)).toBe(long);
  });

  it('passes OpenSSL’s strict verification (Python 3.13’s default) for TLS servers', async () => {
    const authority = new CertificateAuthority(await createCaRecord());
    const folder = mkdtempSync(join(tmpdir(), 'tabvm-ca-'));
    writeFileSync(join(folder, 'ca.pem'), authority.pem);
    writeFileSync(join(folder, 'leaf.pem'), certificatePem((await authority.certificateFor('example.test')).chain[0]!));
    const verify = (...extra: string[]): string =>
      execFileSync(
        'openssl',
        [
          'verify',
          '-x509_strict',
          '-purpose',
          'sslserver',
          '-CAfile',
          join(folder, 'ca.pem'),
          ...extra,
          join(folder, 'leaf.pem'),
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
      );
    expect(verify('-verify_hostname', 'example.test')).toContain('OK');
    expect(() => verify('-verify_hostname', 'other.test')).toThrow();
  });
});
