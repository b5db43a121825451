import { describe, expect, it } from 'vitest';
import { ByteStream, createChannel, openChannel, vmDoorbell } from './channels.ts';
import {
  GUEST_AGENT_MAX_LINE_BYTES,
  GuestAgent,
  LineSplitter,
  parseGuestLine,
  type GuestAgentState,
} from './guest-agent.ts';
import { VM_CHANNELS } from './vm-channels.ts';

/** The agent channel in the message mode, the VM's end on this thread, flushed as its run loop would. */
function setup() {
  const doorbell = vmDoorbell(undefined);
  const { host, wire } = createChannel('message', VM_CHANNELS.agent, doorbell);
  const vm = new ByteStream(openChannel(wire, doorbell));
  const states: GuestAgentState[] = [];
  const agent = new GuestAgent(new ByteStream(host), { onChange: (state) => states.push(state) });
  const fromHost = async (): Promise<string> => {
    await settle();
    return new TextDecoder().decode(vm.read());
  };
  /** Writes `text` as the guest's agent does, as the channel's room allows. */
  const fromGuest = async (text: string): Promise<void> => {
    let bytes = new TextEncoder().encode(text);
    while (bytes.length > 0) {
      bytes = bytes.subarray(vm.write(bytes));
      vm.end.flush();
      await settle();
    }
  };
  return { agent, states, fromHost, fromGuest };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('guest agent lines', () => {
  it('parses each line of the protocol', () => {
    expect(parseGuestLine('hello 1')).toEqual({ kind: 'hello', version: 1 });
    expect(parseGuestLine('ports 8000 22 22 80')).toEqual({ kind: 'ports', ports: [22, 80, 8000] });
    expect(parseGuestLine('ports')).toEqual({ kind: 'ports', ports: [] });
    expect(parseGuestLine('ports ')).toEqual({ kind: 'ports', ports: [] });
    expect(parseGuestLine('memory 250000 200000')).toEqual({
      kind: 'memory',
      memory: { totalBytes: 256_000_000, availableBytes: 204_800_000 },
    });
    expect(parseGuestLine('memory 1024 0')).toEqual({ kind: 'memory', memory: { totalBytes: 1_048_576, availableBytes: 0 } });
    expect(parseGuestLine('ok time')).toEqual({ kind: 'ok', command: 'time' });
    expect(parseGuestLine('err net no eth0 here')).toEqual({ kind: 'err', command: 'net', reason: 'no eth0 here' });
  });

  it('refuses what is not a line of the protocol', () => {
    for (const line of [
      '',
      'hello',
      'hello 0',
      'hello one',
      'hello 1 2',
      'ports 0',
      'ports 65536',
      'ports 80  81',
      'ports -1',
      'ports 0x50',
      'ok',
      'ok reboot',
      'err time',
      'err shutdown now',
      'bye',
      'hello 1\u00e9',
      'ports 80\t81',
      'memory',
      'memory 1000',
      'memory 1000 2000',
      'memory 0 0',
      'memory 1000 -1',
      'memory 1000 1e2',
      'memory 1000 200 3',
      `memory ${2 ** 40 + 1} 0`,
      'memory 99999999999999 0',
    ])
      expect(parseGuestLine(line), line).toBeUndefined();
  });

  it('splits lines, drops "\\r", and drops a line longer than the bound whole', () => {
    const splitter = new LineSplitter();
    const lines: string[] = [];
    let tooLong = 0;
    const push = (text: string) =>
      splitter.push(new TextEncoder().encode(text), (line) => lines.push(line), () => tooLong++);
    push('hel');
    push('lo 1\r\nports 2');
    push('2\n');
    push('x'.repeat(GUEST_AGENT_MAX_LINE_BYTES * 3));
    push('y\nok time\n');
    push('z'.repeat(GUEST_AGENT_MAX_LINE_BYTES - 1) + '\n');
    expect(lines).toEqual(['hello 1', 'ports 22', 'ok time', 'z'.repeat(GUEST_AGENT_MAX_LINE_BYTES - 1)]);
    expect(tooLong).toBe(1);
  });
});

describe('GuestAgent', () => {
  it('says hello to the guest, and takes its hello, ports and memory', async () => {
    const { agent, fromHost, fromGuest } = setup();
    expect(await fromHost()).toBe('hello 2\n');
    expect(agent.state).toEqual({ version: undefined, ports: [], memory: undefined, ignored: 0 });
    await fromGuest('hello 2\nports 8000 22\nmemory 2000 1500\n');
    const memory = { totalBytes: 2_048_000, availableBytes: 1_536_000 };
    expect(agent.state).toEqual({ version: 2, ports: [22, 8000], memory, ignored: 0 });
    await fromGuest('ports 22\nmemory 2000 1000\n');
    expect(agent.state.ports).toEqual([22]);
    expect(agent.state.memory).toEqual({ totalBytes: 2_048_000, availableBytes: 1_024_000 });
  });

  it('ignores and counts garbage, unasked answers and over-long lines, and carries on', async () => {
    const { agent, states, fromGuest } = setup();
    await fromGuest('bye\nok time\n\u0000\u00ff\n' + 'p'.repeat(GUEST_AGENT_MAX_LINE_BYTES + 10) + '\nports 80\n');
    expect(agent.state).toEqual({ version: undefined, ports: [80], memory: undefined, ignored: 4 });
    expect(states.at(-1)).toBe(agent.state);
  });

  it('sends time, net and ca, settling each on its answer', async () => {
    const { agent, fromHost, fromGuest } = setup();
    await fromHost();
    const time = agent.setTime(1_700_000_000_123);
    const net = agent.setNet('52:54:00:AB:CD:EF');
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const ca = agent.installCa(pem).then(
      () => 'installed',
      (error: Error) => error.message,
    );
    expect(await fromHost()).toBe(
      `time 1700000000123000000\nnet 52:54:00:ab:cd:ef\nca ${Buffer.from(pem).toString('base64')}\n`,
    );
    await fromGuest('ok net\nerr ca no room left\nok time\n');
    await expect(time).resolves.toBeUndefined();
    await expect(net).resolves.toBeUndefined();
    expect(await ca).toBe('the guest agent could not do "ca": no room left');
  });

  it('refuses bad arguments without sending, times out, and fails what waits when closed', async () => {
    const { agent, fromHost } = setup();
    await fromHost();
    await expect(agent.setNet('01:00:5e')).rejects.toThrow(/not a MAC address/);
    await expect(agent.installCa('hello')).rejects.toThrow(/not a PEM certificate/);
    await expect(agent.installCa('-----BEGIN CERTIFICATE-----' + 'A'.repeat(9000))).rejects.toThrow(/at most/);
    expect(await fromHost()).toBe('');
    await expect(agent.setTime(0, 20)).rejects.toThrow(/did not answer "time"/);
    const waiting = agent.setTime();
    agent.close();
    await expect(waiting).rejects.toThrow(/stopped/);
    await expect(agent.setTime()).rejects.toThrow(/stopped/);
  });
});
