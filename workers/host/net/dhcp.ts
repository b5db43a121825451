/**
 * DHCP messages (RFC 2131 over BOOTP, RFC 951; options of RFC 2132): what the network's DHCP server
 * reads from a client and writes back. Only what a server needs: the fixed fields, the message type,
 * the requested address and the server identifier.
 */
import type { Mac, Refusal } from './frames.ts';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

const BOOTREQUEST = 1;
const BOOTREPLY = 2;
const FIXED_BYTES = 236;
const MAGIC_COOKIE = 0x63825363;
/** BOOTP's minimum message (RFC 951), which some clients still expect. */
const MINIMUM_REPLY_BYTES = 300;

const OPTION_PAD = 0;
const OPTION_SUBNET_MASK = 1;
const OPTION_ROUTER = 3;
const OPTION_DNS = 6;
const OPTION_REQUESTED_ADDRESS = 50;
const OPTION_LEASE_TIME = 51;
const OPTION_MESSAGE_TYPE = 53;
const OPTION_SERVER_ID = 54;
const OPTION_RENEWAL_TIME = 58;
const OPTION_REBINDING_TIME = 59;
const OPTION_END = 255;

export interface DhcpRequest {
  readonly messageType: number;
  readonly transactionId: number;
  readonly flags: number;
  readonly clientAddress: number;
  readonly clientMac: Mac;
  readonly requestedAddress: number | undefined;
  readonly serverId: number | undefined;
  /** The fixed part, copied into the reply's (RFC 2131 table 3: xid, flags, giaddr, chaddr). */
  readonly fixed: Uint8Array;
}

export function parseDhcp(message: Uint8Array): DhcpRequest | Refusal {
  if (message.byteLength < FIXED_BYTES + 4) return 'DHCP message truncated';
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  if (message[0] !== BOOTREQUEST) return 'DHCP message not a request';
  if (message[1] !== 1 || message[2] !== 6) return 'DHCP for another hardware type';
  if (view.getUint32(FIXED_BYTES) !== MAGIC_COOKIE) return 'BOOTP without the DHCP magic cookie';
  let messageType: number | undefined;
  let requestedAddress: number | undefined;
  let serverId: number | undefined;
  for (let i = FIXED_BYTES + 4; i < message.byteLength;) {
    const code = message[i]!;
    if (code === OPTION_END) break;
    if (code === OPTION_PAD) {
      i++;
      continue;
    }
    if (i + 1 >= message.byteLength) return 'DHCP option truncated';
    const length = message[i + 1]!;
    const start = i + 2;
    if (start + length > message.byteLength) return 'DHCP option length outside the message';
    if (code === OPTION_MESSAGE_TYPE && length === 1) messageType = message[start];
    else if (code === OPTION_REQUESTED_ADDRESS && length === 4) requestedAddress = view.getUint32(start);
    else if (code === OPTION_SERVER_ID && length === 4) serverId = view.getUint32(start);
    i = start + length;
  }
  if (messageType === undefined) return 'BOOTP request without a DHCP message type';
  return {
    messageType,
    transactionId: view.getUint32(4),
    flags: view.getUint16(10),
    clientAddress: view.getUint32(12),
    clientMac: message.subarray(28, 34),
    requestedAddress,
    serverId,
    fixed: message.subarray(0, FIXED_BYTES),
  };
}

export interface DhcpLeaseOptions {
  readonly serverId: number;
  readonly subnetMask: number;
  readonly router: number;
  readonly dns: number;
  readonly leaseSeconds: number;
}

/** A reply (OFFER, ACK or NAK) to `request`, giving `yourAddress` (0 for a NAK). */
export function buildDhcpReply(
  request: DhcpRequest,
  messageType: number,
  yourAddress: number,
  lease: DhcpLeaseOptions,
): Uint8Array {
  const message = new Uint8Array(MINIMUM_REPLY_BYTES);
  const view = new DataView(message.buffer);
  message.set(request.fixed);
  message[0] = BOOTREPLY;
  message[3] = 0; // hops
  view.setUint16(8, 0); // secs
  view.setUint32(12, messageType === DHCPACK ? request.clientAddress : 0); // ciaddr
  view.setUint32(16, yourAddress); // yiaddr
  view.setUint32(20, messageType === DHCPNAK ? 0 : lease.serverId); // siaddr
  message.fill(0, 44, FIXED_BYTES); // sname and file
  view.setUint32(FIXED_BYTES, MAGIC_COOKIE);
  let at = FIXED_BYTES + 4;
  const option = (code: number, ...words: number[]): void => {
    message[at] = code;
    message[at + 1] = words.length * 4;
    at += 2;
    for (const word of words) {
      view.setUint32(at, word);
      at += 4;
    }
  };
  message[at++] = OPTION_MESSAGE_TYPE;
  message[at++] = 1;
  message[at++] = messageType;
  option(OPTION_SERVER_ID, lease.serverId);
  if (messageType !== DHCPNAK) {
    option(OPTION_LEASE_TIME, lease.leaseSeconds);
    option(OPTION_RENEWAL_TIME, Math.floor(lease.leaseSeconds / 2));
    option(OPTION_REBINDING_TIME, Math.floor((lease.leaseSeconds * 7) / 8));
    option(OPTION_SUBNET_MASK, lease.subnetMask);
    option(OPTION_ROUTER, lease.router);
    option(OPTION_DNS, lease.dns);
  }
  message[at] = OPTION_END;
  return message;
}
