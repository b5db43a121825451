import { describe, expect, it } from 'vitest';
import { FakeDriver } from './fake-driver.ts';
import { VIRTIO_ID_CONSOLE, type ConsoleInput } from './console.ts';
import {
  AGENT_CONTROL_RECEIVEQ,
  AGENT_CONTROL_TRANSMITQ,
  AGENT_PORT_NAME,
  AGENT_PORT_RECEIVEQ,
  AGENT_PORT_TRANSMITQ,
  AgentConsole,
  CONTROL_HEADER_BYTES,
  VIRTIO_CONSOLE_DEVICE_ADD,
  VIRTIO_CONSOLE_DEVICE_READY,
  VIRTIO_CONSOLE_F_MULTIPORT,
  VIRTIO_CONSOLE_PORT_NAME,
  VIRTIO_CONSOLE_PORT_OPEN,
  VIRTIO_CONSOLE_PORT_READY,
} from './agent-console.ts';
import { VIRTIO_MMIO_CONFIG, VIRTIO_MMIO_DEVICE_ID } from './mmio.ts';

const F_MULTIPORT = 1n << BigInt(VIRTIO_CONSOLE_F_MULTIPORT);
/** Linux's VIRTIO_CONSOLE_BAD_ID, the id of DEVICE_READY. */
const BAD_ID = 0xffff_ffff;

function control(id: number, event: number, value: number): Uint8Array {
  const bytes = new Uint8Array(CONTROL_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, id, true);
  view.setUint16(4, event, true);
  view.setUint16(6, value, true);
  return bytes;
}

function input(text: string): ConsoleInput {
  let bytes = new TextEncoder().encode(text);
  return {
    available: () => bytes.length,
    read(max) {
      const taken = bytes.subarray(0, max);
      bytes = bytes.subarray(taken.length);
      return taken;
    },
  };
}

/** A driver that brought the device up and posts control receive buffers as Linux does (one page each). */
function setup() {
  const out: number[] = [];
  const device = new AgentConsole({ write: (byte) => out.push(byte) });
  const driver = new FakeDriver(device);
  driver.start(4, 16, F_MULTIPORT);
  const controlBuffers: number[] = [];
  for (let i = 0; i < 4; i++) controlBuffers.push(driver.offer(AGENT_CONTROL_RECEIVEQ, [{ write: 4096 }]).addresses[0]!);
  driver.notify(AGENT_CONTROL_RECEIVEQ);
  let received = 0;
  /** The control messages the device has sent since the last call. */
  const fromDevice = () => {
    const messages: { id: number; event: number; value: number; name: string }[] = [];
    for (; received < driver.usedIdx(AGENT_CONTROL_RECEIVEQ); received++) {
      const { len } = driver.used(AGENT_CONTROL_RECEIVEQ, received);
      const bytes = driver.bytes(controlBuffers[received]!, len);
      const view = new DataView(bytes.buffer, bytes.byteOffset, len);
      messages.push({
        id: view.getUint32(0, true),
        event: view.getUint16(4, true),
        value: view.getUint16(6, true),
        name: new TextDecoder().decode(bytes.subarray(CONTROL_HEADER_BYTES)),
      });
    }
    return messages;
  };
  const send = (id: number, event: number, value: number) => {
    driver.offer(AGENT_CONTROL_TRANSMITQ, [{ read: control(id, event, value) }]);
    driver.notify(AGENT_CONTROL_TRANSMITQ);
  };
  return { out, device, driver, fromDevice, send };
}

describe('agent console (virtio-console with MULTIPORT)', () => {
  it('offers MULTIPORT with one port in max_nr_ports', () => {
    const device = new AgentConsole({ write() {} });
    const driver = new FakeDriver(device);
    expect(driver.reg(VIRTIO_MMIO_DEVICE_ID)).toBe(VIRTIO_ID_CONSOLE);
    expect(driver.deviceFeatures() & F_MULTIPORT).toBe(F_MULTIPORT);
    expect(Number(driver.transport.read(VIRTIO_MMIO_CONFIG + 4, 4))).toBe(1);
  });

  it('answers DEVICE_READY with PORT_ADD, and PORT_READY with the port name and PORT_OPEN', () => {
    const { fromDevice, send } = setup();
    expect(fromDevice()).toEqual([]);
    send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    expect(fromDevice()).toEqual([{ id: 0, event: VIRTIO_CONSOLE_DEVICE_ADD, value: 0, name: '' }]);
    send(0, VIRTIO_CONSOLE_PORT_READY, 1);
    expect(fromDevice()).toEqual([
      { id: 0, event: VIRTIO_CONSOLE_PORT_NAME, value: 1, name: AGENT_PORT_NAME },
      { id: 0, event: VIRTIO_CONSOLE_PORT_OPEN, value: 1, name: '' },
    ]);
  });

  it('keeps control messages until the driver posts control receive buffers', () => {
    const out: number[] = [];
    const device = new AgentConsole({ write: (byte) => out.push(byte) });
    const driver = new FakeDriver(device);
    driver.start(4, 16, F_MULTIPORT);
    driver.offer(AGENT_CONTROL_TRANSMITQ, [{ read: control(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1) }]);
    driver.notify(AGENT_CONTROL_TRANSMITQ);
    expect(driver.usedIdx(AGENT_CONTROL_RECEIVEQ)).toBe(0);
    expect(device.saveState().pendingControl).toEqual([{ event: VIRTIO_CONSOLE_DEVICE_ADD, value: 0 }]);
    driver.offer(AGENT_CONTROL_RECEIVEQ, [{ write: 4096 }]);
    driver.notify(AGENT_CONTROL_RECEIVEQ);
    expect(driver.usedIdx(AGENT_CONTROL_RECEIVEQ)).toBe(1);
    expect(driver.used(AGENT_CONTROL_RECEIVEQ, 0).len).toBe(CONTROL_HEADER_BYTES);
  });

  it('delivers input only while a guest program has the port open', () => {
    const { device, driver, send } = setup();
    send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    send(0, VIRTIO_CONSOLE_PORT_READY, 1);
    const { addresses } = driver.offer(AGENT_PORT_RECEIVEQ, [{ write: 64 }]);
    driver.notify(AGENT_PORT_RECEIVEQ);
    const line = input('time 1\n');
    expect(device.open).toBe(false);
    expect(device.receive(line)).toBe(0);
    send(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
    expect(device.open).toBe(true);
    expect(device.receive(line)).toBe(7);
    expect(new TextDecoder().decode(driver.bytes(addresses[0]!, 7))).toBe('time 1\n');
    send(0, VIRTIO_CONSOLE_PORT_OPEN, 0);
    expect(device.open).toBe(false);
  });

  it('is starved when the port has no receive buffer, until the guest posts one', () => {
    const { device, driver, send } = setup();
    send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    send(0, VIRTIO_CONSOLE_PORT_READY, 1);
    send(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
    const line = input('hello 1\n');
    expect(device.receive(line)).toBe(0);
    expect(device.starved).toBe(true);
    driver.offer(AGENT_PORT_RECEIVEQ, [{ write: 4 }]);
    driver.notify(AGENT_PORT_RECEIVEQ);
    expect(device.starved).toBe(false);
    expect(device.receive(line)).toBe(4);
  });

  it("writes the port's transmitq to the sink", () => {
    const { out, driver } = setup();
    driver.offer(AGENT_PORT_TRANSMITQ, [{ read: new TextEncoder().encode('ports 22 80\n') }]);
    driver.notify(AGENT_PORT_TRANSMITQ);
    expect(new TextDecoder().decode(Uint8Array.from(out))).toBe('ports 22 80\n');
    expect(driver.usedIdx(AGENT_PORT_TRANSMITQ)).toBe(1);
  });

  it('ignores a short control message and an unknown event, logging them', () => {
    const { driver, fromDevice, send } = setup();
    driver.offer(AGENT_CONTROL_TRANSMITQ, [{ read: new Uint8Array(3) }]);
    driver.notify(AGENT_CONTROL_TRANSMITQ);
    send(0, 99, 1);
    send(5, VIRTIO_CONSOLE_PORT_READY, 1);
    expect(fromDevice()).toEqual([]);
    expect(driver.logged.length).toBe(3);
  });

  it('saves and restores the handshake and the open port; a driver reset forgets them', () => {
    const { device, send } = setup();
    send(BAD_ID, VIRTIO_CONSOLE_DEVICE_READY, 1);
    send(0, VIRTIO_CONSOLE_PORT_READY, 1);
    send(0, VIRTIO_CONSOLE_PORT_OPEN, 1);
    const state = device.saveState();
    expect(state).toEqual({ v: 1, deviceReady: true, portReady: true, guestOpen: true, pendingControl: [] });
    const other = new AgentConsole({ write() {} });
    other.loadState(JSON.parse(JSON.stringify(state)));
    expect(other.saveState()).toEqual(state);
    expect(() => other.loadState({ ...state, v: 2 })).toThrow(/unknown state version/);
    device.reset();
    expect(device.saveState()).toEqual({ v: 1, deviceReady: false, portReady: false, guestOpen: false, pendingControl: [] });
  });
});
