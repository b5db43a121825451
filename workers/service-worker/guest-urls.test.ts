import { describe, expect, it } from 'vitest';
import { locationIntoScope, parseGuestUrl } from './guest-urls.ts';

const SCOPE = new URL('http://app.test/base/vm/');
const parse = (path: string) => parseGuestUrl(new URL(path, 'http://app.test'), SCOPE);

describe('the guest-server worker’s URLs', () => {
  it('takes the VM, the port and the guest’s path with its query', () => {
    expect(parse('/base/vm/3f2a-9c/8000/dir/page.html?q=1')).toEqual({
      kind: 'guest',
      vmId: '3f2a-9c',
      port: 8000,
      path: '/dir/page.html?q=1',
      prefix: new URL('http://app.test/base/vm/3f2a-9c/8000/'),
    });
    expect(parse('/base/vm/a%20b/80/')).toMatchObject({ kind: 'guest', vmId: 'a b', port: 80, path: '/' });
  });

  it('redirects the prefix without its slash to it, keeping the query', () => {
    expect(parse('/base/vm/id/8000?x=1')).toEqual({
      kind: 'redirect',
      location: 'http://app.test/base/vm/id/8000/?x=1',
    });
  });

  it.each([
    '/base/vm/',
    '/base/vm/id/',
    '/base/vm/id/0/',
    '/base/vm/id/65536/',
    '/base/vm/id/http/',
    '/base/vm/%E0%A4%A/80/',
  ])('refuses %s with a sentence', (path) => {
    expect(parse(path)).toMatchObject({ kind: 'invalid', sentence: expect.stringMatching(/names no VM/) });
  });

  it('maps the guest’s redirects to itself under the prefix, and leaves other sites’ alone', () => {
    const prefix = new URL('http://app.test/base/vm/id/8000/');
    const into = (location: string, path = '/dir') => locationIntoScope(location, '10.0.2.15:8000', path, prefix);
    expect(into('/dir/')).toBe('http://app.test/base/vm/id/8000/dir/');
    expect(into('http://10.0.2.15:8000/a?b=1#c')).toBe('http://app.test/base/vm/id/8000/a?b=1#c');
    expect(into('other.html', '/dir/page')).toBe('http://app.test/base/vm/id/8000/dir/other.html');
    expect(into('../../../../etc', '/a/b')).toBe('http://app.test/base/vm/id/8000/etc');
    expect(into('https://example.org/x')).toBe('https://example.org/x');
    expect(into('http://10.0.2.15:9000/')).toBe('http://10.0.2.15:9000/');
  });
});
