/**
 * The `guest-agent` fuzz target: bytes from a guest's agent (docs/guest-agent.md) fed to a fresh
 * GuestAgent. It never refuses by throwing (it ignores and counts), so anything thrown is a finding, and
 * so is a state it should never reach: ports out of order, repeated or outside 1 to 65535.
 */
import { ByteStream, createChannel, vmDoorbell } from '../../workers/protocol/channels.ts';
import { GUEST_AGENT_MAX_LINE_BYTES, GuestAgent } from '../../workers/protocol/guest-agent.ts';
import { VM_CHANNELS } from '../../workers/protocol/vm-channels.ts';
import { mutateBytes } from './mutate.ts';
import type { FuzzTarget } from './targets.ts';

/** A state the agent must never reach: a bug in its checks. */
class GuestAgentBroken extends Error {
  override readonly name = 'GuestAgentBroken';
}

const encoder = new TextEncoder();

export const guestAgentTarget: FuzzTarget = {
  name: 'guest-agent',
  seeds: () =>
    Promise.resolve([
      encoder.encode('hello 1\nports 22 80 8000\nok time\nerr net no eth0\nports\n'),
      encoder.encode(`ports ${Array.from({ length: 700 }, (_, i) => i + 1).join(' ')}\nhello 1\r\n`),
      encoder.encode(`${'x'.repeat(GUEST_AGENT_MAX_LINE_BYTES + 5)}\nports 65535\n`),
    ]),
  mutate: (random, seed, seeds) => Promise.resolve(mutateBytes(random, seed, seeds)),
  // The agent never refuses by throwing: anything thrown is a bug.
  refusals: [],
  run(input) {
    const { host } = createChannel('message', VM_CHANNELS.agent, vmDoorbell(undefined));
    const agent = new GuestAgent(new ByteStream(host));
    try {
      // In pieces, as a ring delivers them.
      for (let at = 0; at < input.length; at += 1000) agent.receive(input.subarray(at, at + 1000));
      const { ports, ignored } = agent.state;
      ports.forEach((port, i) => {
        if (!Number.isInteger(port) || port < 1 || port > 0xffff || (i > 0 && port <= ports[i - 1]!))
          throw new GuestAgentBroken(`ports ${ports.join(' ')}`);
      });
      return Promise.resolve(`${ports.length > 0 ? 'ports' : 'no ports'}, ${ignored > 0 ? 'some' : 'none'} ignored`);
    } finally {
      agent.close();
      host.close();
    }
  },
};
