/**
 * A VM's Ethernet address as it travels and is stored: six lower-case hex bytes joined by colons
 * ("52:54:00:12:34:56"). New ones are locally administered unicast addresses in QEMU's 52:54:00 range
 * (IEEE 802: bit 1 of the first byte set = locally administered, bit 0 clear = unicast), so they never
 * collide with a real card's and read as a VM's to anyone who knows QEMU.
 */

const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

/** Whether `text` is a MAC address in the stored form. */
export function isMacAddress(text: string): boolean {
  return MAC_PATTERN.test(text);
}

/**
 * The six bytes of `text` ("52:54:00:12:34:56", either case, or with dashes); throws a one-line Error
 * for anything else, or for a multicast address (a device's own address is unicast, IEEE 802 §8.2).
 */
export function parseMacAddress(text: string): Uint8Array {
  const normal = text.trim().toLowerCase().replaceAll('-', ':');
  if (!isMacAddress(normal)) throw new Error(`"${text}" is not a MAC address (six hex bytes, e.g. 52:54:00:12:34:56)`);
  const bytes = Uint8Array.from(normal.split(':'), (byte) => parseInt(byte, 16));
  if (bytes[0]! & 1) throw new Error(`${normal} is a multicast address; a network card needs a unicast one`);
  return bytes;
}

export function formatMacAddress(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/** A new address 52:54:00:xx:xx:xx with three random bytes. */
export function randomMacAddress(): string {
  const bytes = new Uint8Array(6);
  bytes.set([0x52, 0x54, 0x00]);
  crypto.getRandomValues(bytes.subarray(3));
  return formatMacAddress(bytes);
}
