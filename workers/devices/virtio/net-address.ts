/**
 * The IPv4 address a guest uses, as its card sees it pass, so a snapshot can carry it (the card's
 * record `address`): the network a restored guest is plugged into then knows the address is taken, as
 * it is in the guest's RAM (docs/networking.md, "Leases in snapshots"). Read from what the guest sends
 * (an IPv4 source or an ARP sender address other than 0.0.0.0) and from a DHCPACK the network sends to
 * the card's address (a guest that got its lease and has sent nothing since). Nothing here changes a
 * frame; a frame too short for a field is passed over.
 */
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const IP_PROTOCOL_UDP = 17;
const DHCP_SERVER_PORT = 67;
const DHCP_CLIENT_PORT = 68;
const BOOTREPLY = 2;
const DHCP_MAGIC_COOKIE = 0x63825363;
const DHCP_OPTION_MESSAGE_TYPE = 53;
const DHCP_OPTION_END = 255;
const DHCPACK = 5;

function etherType(frame: Uint8Array): number {
  return (frame[12]! << 8) | frame[13]!;
}

function word(frame: Uint8Array, at: number): number {
  return ((frame[at]! << 24) | (frame[at + 1]! << 16) | (frame[at + 2]! << 8) | frame[at + 3]!) >>> 0;
}

/** The sender's IPv4 address of a frame the guest sends, if it has one that is not 0.0.0.0. */
export function sentAddress(frame: Uint8Array): number | undefined {
  const type = etherType(frame);
  // IPv4: the source address at 12 of the header; ARP for IPv4 over Ethernet: the sender's at 14.
  const at = type === ETHERTYPE_IPV4 ? 14 + 12 : type === ETHERTYPE_ARP ? 14 + 14 : -1;
  if (at < 0 || frame.length < at + 4) return undefined;
  return word(frame, at) || undefined;
}

/** The address a DHCPACK to `mac` gives (RFC 2131's `yiaddr`), if `frame` is one. */
export function ackedAddress(frame: Uint8Array, mac: Uint8Array): number | undefined {
  if (frame.length < 14 + 20 || etherType(frame) !== ETHERTYPE_IPV4 || frame[14 + 9] !== IP_PROTOCOL_UDP)
    return undefined;
  const udp = 14 + (frame[14]! & 0xf) * 4;
  const bootp = udp + 8;
  const options = bootp + 240;
  if (frame.length < options) return undefined;
  if ((frame[udp]! << 8) + frame[udp + 1]! !== DHCP_SERVER_PORT) return undefined;
  if ((frame[udp + 2]! << 8) + frame[udp + 3]! !== DHCP_CLIENT_PORT) return undefined;
  if (frame[bootp] !== BOOTREPLY || word(frame, bootp + 236) !== DHCP_MAGIC_COOKIE) return undefined;
  for (let i = 0; i < 6; i++) if (frame[bootp + 28 + i] !== mac[i]) return undefined;
  for (let i = options; i + 1 < frame.length && frame[i] !== DHCP_OPTION_END;) {
    if (frame[i] === 0) {
      i++;
      continue;
    }
    if (frame[i] === DHCP_OPTION_MESSAGE_TYPE && frame[i + 1] === 1 && i + 2 < frame.length) {
      return frame[i + 2] === DHCPACK ? word(frame, bootp + 16) || undefined : undefined;
    }
    i += 2 + frame[i + 1]!;
  }
  return undefined;
}
