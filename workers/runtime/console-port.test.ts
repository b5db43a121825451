// Where the console port sends what the person types: the virtio console once its port is open, the
// UART before that; input neither can take stays in the channel (docs/console.md).
import { describe, expect, it } from 'vitest';
import { createVmChannels, openVmChannels } from '../protocol/vm-channels.ts';
import { ConsolePort, StreamSink, type ConsoleDevice, type ConsoleReceiver } from './console-port.ts';

class FakeUart implements ConsoleReceiver {
  readonly received: number[] = [];
  space = 16;
  rxSpace(): number {
    return this.space - this.received.length;
  }
  receive(byte: number): boolean {
    this.received.push(byte);
    return true;
  }
}

/** A virtio console whose guest posted `room` bytes of receive buffers. */
class FakeVirtio implements ConsoleDevice {
  open = false;
  room = 0;
  readonly received: number[] = [];
  get starved(): boolean {
    return this.open && this.room === 0;
  }
  receive(input: { available(): number; read(max: number): Uint8Array }): number {
    if (!this.open || this.room === 0 || input.available() === 0) return 0;
    const bytes = input.read(this.room);
    this.room -= bytes.length;
    this.received.push(...bytes);
    return bytes.length;
  }
}

function setup() {
  const host = createVmChannels('shared');
  const vm = openVmChannels(host.wires);
  const uart = new FakeUart();
  const virtio = new FakeVirtio();
  const port = new ConsolePort(uart, vm.console, new StreamSink(vm.console), virtio);
  const type = (text: string) => host.console.write(new TextEncoder().encode(text));
  return { uart, virtio, port, type };
}

describe('the console port', () => {
  it('gives input to the UART until the virtio console is open, then to the virtio console', () => {
    const { uart, virtio, port, type } = setup();
    type('ab');
    port.service();
    expect(String.fromCharCode(...uart.received)).toBe('ab');
    virtio.open = true;
    virtio.room = 64;
    type('cd');
    port.service();
    expect(String.fromCharCode(...virtio.received)).toBe('cd');
    expect(uart.received).toHaveLength(2);
  });

  it('leaves input the open port cannot take in the channel, and does not keep the loop awake for it', () => {
    const { uart, virtio, port, type } = setup();
    virtio.open = true;
    virtio.room = 2;
    type('hello');
    port.service();
    expect(String.fromCharCode(...virtio.received)).toBe('he');
    expect(uart.received).toEqual([]);
    // The guest has posted no more buffers: the waiting input is not work the loop can do.
    expect(port.busy()).toBe(false);
    virtio.room = 16;
    expect(port.busy()).toBe(true);
    port.service();
    expect(String.fromCharCode(...virtio.received)).toBe('hello');
    expect(port.busy()).toBe(false);
  });
});
