/**
 * `npm run relay`: a wisp relay on this machine (scripts/lib/relay-server.ts), so the browser's VMs get
 * full TCP and UDP: paste the URL it prints into the app's Relay… setting (docs/networking.md, "The
 * relay"). It prints every destination it connects to.
 */
import { Command, InvalidArgumentError } from 'commander';
import { parseDestinationRule, startRelayServer, type Destination } from './lib/relay-server.ts';
import { EXIT_BAD_INPUT, EXIT_OK } from './lib/exit-status.ts';

type Rule = (destination: Destination) => boolean;

const collectRule = (value: string, previous: Rule[] = []): Rule[] => {
  const rule = parseDestinationRule(value);
  if (typeof rule === 'string') throw new InvalidArgumentError(rule);
  return [...previous, rule];
};

const program = new Command()
  .name('npm run relay --')
  .description('A wisp relay for the browser VMs: their TCP and UDP reach the network through this machine.')
  .option(
    '--port <n>',
    'the port to listen on',
    (value) => {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('a port is 0 to 65535');
      return port;
    },
    8765,
  )
  .option('--host <address>', 'the address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
  .option(
    '--allow <rule>',
    'reach only these destinations: HOST, HOST:PORT or *:PORT, HOST a name, *.domain, an IPv4 address or range (10.0.0.0/8); repeatable',
    collectRule,
  )
  .option(
    '--deny <rule>',
    'never reach these destinations (same forms as --allow; wins over it); repeatable',
    collectRule,
  )
  .option('--quiet', 'do not print each destination')
  .exitOverride((error) => process.exit(error.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT));
program.parse();

const options = program.opts<{ port: number; host: string; allow?: Rule[]; deny?: Rule[]; quiet?: boolean }>();
const allow = options.allow;
const deny = options.deny ?? [];

try {
  const relay = await startRelayServer({
    host: options.host,
    port: options.port,
    allow: (destination) =>
      (!allow || allow.some((rule) => rule(destination))) && !deny.some((rule) => rule(destination)),
    ...(options.quiet ? {} : { log: (line: string) => process.stdout.write(`${line}\n`) }),
  });
  process.stdout.write(`tabvm relay: ${relay.url} (paste it into the app's Relay… setting; Ctrl-C stops it)\n`);
  const stop = (): void => void relay.close().then(() => process.exit(EXIT_OK));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} catch (error) {
  process.stderr.write(`tabvm relay: cannot listen on ${options.host}:${options.port}: ${(error as Error).message}\n`);
  process.exit(EXIT_BAD_INPUT);
}
