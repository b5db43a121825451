/**
 * The example tutorial (tutorial.html): each `.step` names a command (`data-command`) or an action of
 * the page (`data-action`: `snapshot`, `restore`, `write-poem`, `read-count`). A command's Run button
 * types it into the page's <tabvm-terminal> with run() and shows what it printed and its exit status;
 * an action's button calls the element's snapshot() or restore(), or writes or reads a file in the
 * VM's shared folder (writeFile, readFile), and says how it went.
 */
import { defineTabvmTerminal } from '../embed/element.ts';
import './tutorial.css';

defineTabvmTerminal();
const terminal = document.querySelector('tabvm-terminal')!;

const mode = document.querySelector<HTMLElement>('[data-testid="tutorial-mode"]')!;
mode.textContent =
  terminal.mode === 'shared'
    ? 'This page is cross-origin isolated: the VM uses shared memory.'
    : 'This page is not cross-origin isolated: the VM runs in the compatibility mode (private memory, message console).';

const POEM = `The page wrote these lines,
the machine counts every word,
and the page reads back.
`;

/** The page's actions: what the button says, and what it does (resolving with the line shown). */
const ACTIONS: Record<string, { label: string; perform: () => Promise<string> }> = {
  snapshot: {
    label: 'Take a snapshot',
    perform: async () => {
      const bytes = await terminal.snapshot();
      return `Snapshot taken (${(bytes.length / 2 ** 20).toFixed(1)} MiB).`;
    },
  },
  restore: {
    label: 'Restore the snapshot',
    perform: async () => {
      await terminal.restore();
      return 'Snapshot restored.';
    },
  },
  'write-poem': {
    label: 'Write poem.txt into the shared folder',
    perform: async () => {
      await terminal.writeFile('poem.txt', POEM);
      return `The page wrote /mnt/shared/poem.txt (${POEM.split('\n').length - 1} lines).`;
    },
  },
  'read-count': {
    label: 'Read count.txt back into the page',
    perform: async () => {
      const count = new TextDecoder().decode(await terminal.readFile('count.txt')).trim();
      return `The VM counted ${count} words in the poem.`;
    },
  },
};

for (const step of document.querySelectorAll<HTMLElement>('.step')) {
  const id = step.dataset.step!;
  const action = step.dataset.action;
  if (action !== undefined) {
    setUpAction(step, id, ACTIONS[action]!);
    continue;
  }
  const command = step.dataset.command!;
  const line = document.createElement('div');
  line.className = 'command-line';
  const code = document.createElement('pre');
  code.className = 'command';
  code.textContent = command;
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = 'Run';
  button.setAttribute('aria-label', `Run: ${command}`);
  button.dataset.testid = `run-${id}`;
  line.append(code, button);
  const result = document.createElement('div');
  result.className = 'result';
  result.hidden = true;
  result.setAttribute('aria-live', 'polite');
  const output = document.createElement('pre');
  output.dataset.testid = `output-${id}`;
  const status = document.createElement('p');
  status.className = 'status';
  status.dataset.testid = `status-${id}`;
  result.append(output, status);
  step.append(line, result);

  button.addEventListener('click', () => {
    button.disabled = true;
    button.textContent = terminal.state === 'ready' ? 'Running…' : 'Starting the VM…';
    result.hidden = true;
    terminal
      .run(command)
      .then(
        ({ output: text, exitCode }) => {
          output.textContent = text === '' ? '(no output)' : text;
          status.textContent = exitCode === 0 ? 'exit status 0 (success)' : `exit status ${exitCode} (failure)`;
          status.classList.toggle('failed', exitCode !== 0);
        },
        (error: Error) => {
          output.textContent = '';
          status.textContent = error.message;
          status.classList.add('failed');
        },
      )
      .finally(() => {
        result.hidden = false;
        button.disabled = false;
        button.textContent = 'Run';
      });
  });
}

function setUpAction(step: HTMLElement, id: string, action: { label: string; perform: () => Promise<string> }): void {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = action.label;
  button.dataset.testid = `run-${id}`;
  const status = document.createElement('p');
  status.className = 'status';
  status.dataset.testid = `status-${id}`;
  status.setAttribute('aria-live', 'polite');
  status.hidden = true;
  step.append(button, status);
  button.addEventListener('click', () => {
    button.disabled = true;
    status.hidden = true;
    action
      .perform()
      .then(
        (text) => {
          status.textContent = text;
          status.classList.remove('failed');
        },
        (error: Error) => {
          status.textContent = error.message;
          status.classList.add('failed');
        },
      )
      .finally(() => {
        status.hidden = false;
        button.disabled = false;
      });
  });
}
