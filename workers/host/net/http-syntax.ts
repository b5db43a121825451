/**
 * HTTP/1.1 message syntax both of the network's HTTP ends share (RFC 9110 §5.6.2, RFC 9112 §5): the
 * gateway that parses the guest's requests (fetch-gateway.ts) and the client that parses a guest
 * server's responses (http-client.ts).
 */

/** A token (RFC 9110 §5.6.2): a method, a field name. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The longest chunk-size line (with its extensions) either end reads. */
export const MAX_CHUNK_LINE_BYTES = 4096;
/** A chunk-size line (RFC 9112 §7.1): up to 8 hex digits (4 GiB less one), then optional extensions. */
export const CHUNK_SIZE_LINE = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/;

/** Bytes as ISO-8859-1 text, each byte one character (header bytes are octets, RFC 9110 §5.5). */
export function latin1(bytes: Uint8Array): string {
  let text = '';
  for (let at = 0; at < bytes.length; at += 8192) text += String.fromCharCode(...bytes.subarray(at, at + 8192));
  return text;
}

/**
 * One field line, `name: value` (RFC 9112 §5.1), as its lower-case name and its value without the
 * whitespace around it; undefined when malformed (obsolete line folding is, as §5.2 permits a recipient
 * to treat it).
 */
export function parseFieldLine(line: string): [string, string] | undefined {
  const field = /^([^:\s]+):[ \t]*(.*?)[ \t]*$/.exec(line);
  if (!field || !TOKEN.test(field[1]!)) return undefined;
  return [field[1]!.toLowerCase(), field[2]!];
}
