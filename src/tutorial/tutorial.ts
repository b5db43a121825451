/**
 * The example tutorial (tutorial.html): each `.step` names a command; its Run button types the command
 * into the page's <tabvm-terminal> with run() and shows what it printed and its exit status.
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

for (const step of document.querySelectorAll<HTMLElement>('.step')) {
  const command = step.dataset.command!;
  const id = step.dataset.step!;
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
