/**
 * `npm run bench:net`: the network's speed (issue 13), the default image on tabvm's user-mode network
 * (`npm run vm`, `--net user`) against QEMU's `-netdev user` (slirp) with the same kernel and initramfs,
 * same run, rounds interleaved; and the browser's network path (BrowserNetwork: the fetch gateway, here
 * with Node's fetch to the same server) with the VM in this process. In the guest, after its DHCP lease:
 *
 *   - guest ← host: `time wget -O /dev/null` of a 64 MiB file from a host HTTP server via 10.0.2.2;
 *   - guest → host: `time` of 64 MiB from `dd` piped into `nc` to a host TCP sink via 10.0.2.2 (the sink
 *     closes once it has them all; not for the browser path, which reaches the web on port 80 only, as
 *     HTTP);
 *   - connections: `time` of 100 `wget`s of a 3-byte file one after the other (a process, a connection
 *     and an HTTP exchange each, so the guest's fork and exec count as they do in QEMU);
 *   - `ping -c 10 -i 0.2 10.0.2.2`'s average.
 *
 * The host's servers check what they served and got (every byte of the 64 MiB sent, 64 MiB received, 100
 * requests). Times are the guest's busybox `time`. A benchmark, not a test: it asserts nothing about speed.
 *
 *   npm run bench:net -- [--runs N]      (TABVM_ONLY=1 leaves QEMU out)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchRuns, hostLine, median } from './lib/bench-common.ts';
import { ConsoleSession, type TextConsole } from './lib/console-session.ts';
import { NodeVm, NodeVmConsole } from './lib/node-vm.ts';
import { QEMU_TABVM_CPU, qemuAvailable } from './lib/qemu.ts';
import { resolveVmFiles } from './lib/vm-options.ts';
import { BrowserNetwork } from '../workers/host/net/browser-network.ts';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const image = resolve(root, 'public/images/default');
const PROMPT = 'root@tabvm:~# ';
const BIG_BYTES = 64 << 20;
const CONNECTIONS = 100;
const TIMEOUT_MS = 900_000;

const MEASURES = [
  'guest ← host, wget 64 MiB',
  'guest → host, nc 64 MiB',
  `${CONNECTIONS} wget connections`,
  'ping 10.0.2.2 average',
] as const;

interface Machine {
  readonly console: TextConsole;
  /** The host address and port of the HTTP server as the guest names it. */
  readonly http: string;
  readonly upload: boolean;
  stop(): Promise<void>;
}

/** What the host's servers saw in one run. */
const seen = { bigSent: 0, tinyServed: 0, sinkBytes: 0 };
const big = randomBytes(BIG_BYTES);

function httpServer(): Server {
  return createHttpServer((request, response) => {
    if (request.url === '/big') {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG_BYTES });
      response.end(big, () => (seen.bigSent += BIG_BYTES));
    } else if (request.url === '/tiny') {
      seen.tinyServed++;
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
      response.end('ok\n');
    } else {
      response.writeHead(404).end();
    }
  });
}

/** Counts what arrives and closes each connection once it has BIG_BYTES, which ends the guest's `nc`. */
function sinkServer(): TcpServer {
  return createTcpServer((socket) => {
    let got = 0;
    socket.on('data', (chunk) => {
      got += chunk.length;
      seen.sinkBytes += chunk.length;
      if (got >= BIG_BYTES) socket.end();
    });
    socket.on('error', () => {});
  });
}

async function listen(server: Server | TcpServer): Promise<number> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
}

const bootargs = (JSON.parse(readFileSync(resolve(image, 'manifest.json'), 'utf8')) as { bootargs: string }).bootargs;

function qemu(httpPort: number): Machine {
  const session = new ConsoleSession('qemu-system-riscv64', [
    ...['-M', 'virt', '-cpu', QEMU_TABVM_CPU, '-m', '256M', '-smp', '1', '-nographic'],
    ...['-bios', resolve(image, 'fw_dynamic.bin'), '-kernel', resolve(image, 'Image')],
    ...['-initrd', resolve(image, 'initramfs.cpio.gz'), '-append', bootargs],
    ...['-netdev', 'user,id=net0', '-device', 'virtio-net-device,netdev=net0'],
  ]);
  return { console: session, http: `10.0.2.2:${httpPort}`, upload: true, stop: () => stopSession(session) };
}

/** `npm run vm`'s script, as a user runs it: `--net user` is its default. */
function tabvm(httpPort: number): Machine {
  const session = new ConsoleSession(process.execPath, ['--import', 'tsx', 'scripts/vm.ts', '--mem', '256M'], {
    cwd: root,
  });
  return { console: session, http: `10.0.2.2:${httpPort}`, upload: true, stop: () => stopSession(session) };
}

/** The browser's network (the page's, in Node): the guest's port 80 of 10.0.2.2 is fetch() of the server. */
function browserPath(httpPort: number): Machine {
  const network = new BrowserNetwork({ origin: `http://127.0.0.1:${httpPort}` });
  const files = {
    ...resolveVmFiles({ mem: '256M' }, resolve(root, 'public/images')),
    net: { mac: '52:54:00:12:34:56' },
  };
  const vm = new NodeVm(files, undefined, { onNetwork: network.hook((line) => console.log(`  (${line})`)) });
  return {
    console: new NodeVmConsole(vm),
    http: '10.0.2.2',
    upload: false,
    stop: async () => {
      await vm.terminate();
      network.close();
    },
  };
}

async function stopSession(session: ConsoleSession): Promise<void> {
  session.type('poweroff\n');
  await session.exitCode(60_000).catch(() => {});
  session.kill();
}

/** Seconds (or ms for the ping) for each of MEASURES; NaN where the machine has no such path. */
async function measure(machine: Machine, sinkPort: number): Promise<number[]> {
  const con = machine.console;
  Object.assign(seen, { bigSent: 0, tinyServed: 0, sinkBytes: 0 });
  try {
    const at = await con.waitFor(PROMPT, TIMEOUT_MS);
    const upload = machine.upload
      ? `time sh -c 'dd if=/dev/zero bs=65536 count=${BIG_BYTES / 65536} 2>/dev/null | nc 10.0.2.2 ${sinkPort} >/dev/null'; `
      : '';
    con.type(
      "until ip -4 addr show eth0 | grep -q 'inet '; do sleep 1; done; " +
        `time wget -q -O /dev/null http://${machine.http}/big; ${upload}` +
        `time sh -c 'i=0; while [ $i -lt ${CONNECTIONS} ]; do wget -q -O /dev/null http://${machine.http}/tiny; i=$((i+1)); done'; ` +
        'ping -c 10 -i 0.2 10.0.2.2; echo DONE-$((40+2))\n',
    );
    const end = await con.waitFor('DONE-42', TIMEOUT_MS, at);
    const output = con.output.slice(at, end);
    const times = [...output.matchAll(/real\s+(\d+)m\s*([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
    const ping = /round-trip min\/avg\/max = [\d.]+\/([\d.]+)\//.exec(output)?.[1];
    if (times.length !== (machine.upload ? 3 : 2) || ping === undefined)
      throw new Error(`expected the times and the ping, got: ${output}`);
    if (seen.bigSent !== BIG_BYTES) throw new Error(`the server sent ${seen.bigSent} bytes of the 64 MiB file`);
    if (machine.upload && seen.sinkBytes !== BIG_BYTES) throw new Error(`the sink got ${seen.sinkBytes} bytes`);
    if (seen.tinyServed !== CONNECTIONS) throw new Error(`the server answered ${seen.tinyServed} small requests`);
    const [download, ...rest] = times;
    return [download!, machine.upload ? rest.shift()! : NaN, rest[0]!, Number(ping)];
  } finally {
    await machine.stop();
  }
}

const runs = benchRuns('npm run bench:net --');
const withQemu = !process.env.TABVM_ONLY && qemuAvailable();
const http = httpServer();
const sink = sinkServer();
const [httpPort, sinkPort] = [await listen(http), await listen(sink)];
const machines: [string, (port: number) => Machine][] = [
  ['tabvm', tabvm],
  ['tabvm, browser path', browserPath],
  ...(withQemu ? [['QEMU', qemu] as [string, (port: number) => Machine]] : []),
];

console.log(hostLine('tabvm network benchmark'));
console.log(
  `image: public/images/default, 256 MiB, 1 CPU; tabvm \`npm run vm\` (--net user), the browser's network in Node${withQemu ? ', and QEMU -netdev user' : ' (QEMU left out)'}`,
);
console.log(`${runs} rounds alternating the machines; each figure is the median\n`);

const results = new Map<string, number[][]>(machines.map(([name]) => [name, []]));
const loads: number[] = [];
for (let round = 1; round <= runs; round++) {
  for (const [name, start] of machines) {
    const load = loadavg()[0]!;
    loads.push(load);
    const figures = await measure(start(httpPort), sinkPort);
    results.get(name)!.push(figures);
    console.log(`round ${round} ${name} (load ${load.toFixed(2)}): ${figures.map((f) => f.toFixed(2)).join(', ')}`);
  }
}
http.close();
sink.close();

const medians = (name: string) => MEASURES.map((_, i) => median(results.get(name)!.map((figures) => figures[i]!)));
const MIB = BIG_BYTES / 2 ** 20;
/** A figure as a rate: MiB/s for the transfers, connections/s, or the ping's ms. */
const shown = (i: number, value: number): string => {
  if (Number.isNaN(value)) return 'n/a';
  if (i < 2) return `${value.toFixed(2)} s (${(MIB / value).toFixed(1)} MiB/s)`;
  if (i === 2) return `${value.toFixed(2)} s (${(CONNECTIONS / value).toFixed(1)}/s)`;
  return `${value.toFixed(2)} ms`;
};
const names = machines.map(([name]) => name);
console.log(
  `\nload (1-minute average before each run): ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}\n`,
);
console.log(`| measure | ${names.join(' | ')} |${withQemu ? " tabvm / QEMU's time |" : ''}`);
console.log(`|---|${names.map(() => '---:|').join('')}${withQemu ? '---:|' : ''}`);
const all = new Map(names.map((name) => [name, medians(name)]));
for (const [i, measureName] of MEASURES.entries()) {
  const cells = names.map((name) => shown(i, all.get(name)![i]!));
  const ratio = withQemu ? ` ${(all.get('tabvm')![i]! / all.get('QEMU')![i]!).toFixed(1)}× |` : '';
  console.log(`| ${measureName} | ${cells.join(' | ')} |${ratio}`);
}
process.exit(0);
