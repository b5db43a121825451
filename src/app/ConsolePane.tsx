/**
 * One VM's terminal. The xterm instance lives as long as the VM is in the library (the pane is only
 * made invisible, still laid out, when another VM is selected: docs/console.md), so switching consoles
 * loses nothing. It fits its pane and follows
 * resizes of the pane and the window. The DOM renderer keeps the rows in the page for assistive
 * technology and for the e2e tests.
 */
import { useEffect, useRef } from 'react';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { VmConsoleAddon } from '../console/vm-console-addon.ts';
import { CONSOLE_TERMINAL_OPTIONS } from '../console/terminal-options.ts';
import type { VmController } from '../controller/vm-controller.ts';
import { useFileDrop } from './FilesPanel.tsx';
import { filesSessionFor } from './files.ts';

interface Props {
  readonly name: string;
  readonly controller: VmController;
  readonly visible: boolean;
  /** Changes whenever the terminal should take the keyboard focus (the VM was started or selected). */
  readonly focusToken: number;
  /** xterm's screen reader mode: an accessibility tree of the rows and a live region for new output. */
  readonly screenReaderMode: boolean;
}

export function ConsolePane({ name, controller, visible, focusToken, screenReaderMode }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const terminal = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);

  useEffect(() => {
    const element = host.current!;
    const term = new Terminal(CONSOLE_TERMINAL_OPTIONS);
    const fitAddon = new FitAddon();
    term.loadAddon(fitAddon);
    term.loadAddon(new VmConsoleAddon(controller.console));
    term.open(element);
    term.textarea?.setAttribute('aria-label', `Console of ${name}`);
    terminal.current = term;
    fit.current = fitAddon;
    const refit = () => {
      if (element.offsetParent !== null) fitAddon.fit();
    };
    const observer = new ResizeObserver(refit);
    observer.observe(element);
    window.addEventListener('resize', refit);
    refit();
    return () => {
      observer.disconnect();
      window.removeEventListener('resize', refit);
      term.dispose();
      terminal.current = null;
    };
  }, [controller, name]);

  useEffect(() => {
    if (terminal.current) terminal.current.options.screenReaderMode = screenReaderMode;
  }, [screenReaderMode]);

  useEffect(() => {
    if (!visible) return;
    fit.current?.fit();
    terminal.current?.focus();
  }, [visible, focusToken]);

  // Files dropped on the console go to the VM's shared folder (the library's VMs all have an id).
  const vmId = controller.options.id;
  const drop = useFileDrop(vmId === undefined ? null : filesSessionFor(vmId));
  return (
    <div
      className="console"
      data-testid={`console-${name}`}
      data-dropping={drop.over || undefined}
      ref={host}
      {...drop.handlers}
    />
  );
}
