/**
 * Drives a VM's serial console from a test or a benchmark: collects what it prints, waits for text,
 * types commands. `ConsoleSession` drives a child process (our runner, or QEMU, so that the benchmark
 * compares like with like); `TextConsole` is the part both kinds of console share.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export abstract class TextConsole {
  #output = '';
  readonly #waiters = new Set<() => void>();

  /** Everything printed so far. */
  get output(): string {
    return this.#output;
  }

  abstract get exited(): boolean;
  abstract type(text: string): void;

  protected append(text: string): void {
    this.#output += text;
    this.wake();
  }

  protected wake(): void {
    for (const wake of this.#waiters) wake();
  }

  /**
   * Waits until `pattern` appears in the output at or after index `from`; resolves with the index just
   * past the match. Rejects after `timeoutMs`, or if the console ends first, with the output's tail.
   */
  waitFor(pattern: string | RegExp, timeoutMs: number, from = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const find = (): number => {
        const rest = this.#output.slice(from);
        if (typeof pattern === 'string') {
          const i = rest.indexOf(pattern);
          return i < 0 ? -1 : from + i + pattern.length;
        }
        const m = pattern.exec(rest);
        return m ? from + m.index + m[0].length : -1;
      };
      const settle = (error?: string): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (error) reject(new Error(`${error} ${String(pattern)}; output ends:\n${this.#output.slice(-2000)}`));
      };
      const check = (): boolean => {
        const end = find();
        if (end >= 0) {
          settle();
          resolve(end);
          return true;
        }
        if (this.exited) {
          settle('the console ended before');
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => settle(`timed out after ${timeoutMs} ms waiting for`), timeoutMs);
      if (!check()) this.#waiters.add(check);
    });
  }
}

export class ConsoleSession extends TextConsole {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #exit: Promise<number>;

  constructor(command: string, args: readonly string[], options: { cwd?: string } = {}) {
    super();
    this.#child = spawn(command, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const collect = (chunk: Buffer): void => this.append(chunk.toString('latin1'));
    this.#child.stdout.on('data', collect);
    this.#child.stderr.on('data', collect);
    // A test that times out must not leave its VM running: kill the child when this process ends.
    const killOnExit = (): void => {
      this.#child.kill('SIGKILL');
    };
    process.on('exit', killOnExit);
    this.#exit = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        process.off('exit', killOnExit);
        resolve(code ?? (signal ? 128 : 1));
        this.wake();
      });
    });
  }

  get exited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  type(text: string): void {
    this.#child.stdin.write(text);
  }

  /** Resolves with the exit code; kills the process after `timeoutMs`. */
  async exitCode(timeoutMs: number): Promise<number> {
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.#exit;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

/** Runs `npm run vm`'s script directly with node (no npm banner, no rebuild of the core). */
export function tabvmSession(args: readonly string[], cwd: string): ConsoleSession {
  return new ConsoleSession(process.execPath, ['--import', 'tsx', 'scripts/vm.ts', ...args], { cwd });
}
