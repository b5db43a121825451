/**
 * An xterm terminal inside a shadow root, so the tutorial page's CSS cannot reach it and its CSS cannot
 * reach the page. It fills its host element and follows its size.
 */
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import xtermCss from '@xterm/xterm/css/xterm.css?inline';
import { VmConsoleAddon, type ConsoleEndpoint } from '../console/vm-console-addon.ts';
import { CONSOLE_TERMINAL_OPTIONS } from '../console/terminal-options.ts';

const FRAME_CSS = `
  :host { display: block; }
  .frame { box-sizing: border-box; width: 100%; height: 100%; min-height: 8rem; padding: 6px; background: #0f1419; }
  .frame > .term { width: 100%; height: 100%; }
`;

let sheets: CSSStyleSheet[] | undefined;
function styleSheets(): CSSStyleSheet[] {
  if (!sheets) {
    sheets = [xtermCss, FRAME_CSS].map((css) => {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      return sheet;
    });
  }
  return sheets;
}

export interface MountedTerminal {
  readonly terminal: Terminal;
  dispose(): void;
}

/** Opens a terminal joined to `endpoint` in a new element appended to `container`. */
export function mountTerminal(container: HTMLElement, endpoint: ConsoleEndpoint, label: string): MountedTerminal {
  const host = document.createElement('div');
  host.className = 'tabvm-terminal';
  host.style.width = '100%';
  host.style.height = '100%';
  container.append(host);
  const shadow = host.attachShadow({ mode: 'open' });
  shadow.adoptedStyleSheets = styleSheets();
  const frame = document.createElement('div');
  frame.className = 'frame';
  const element = document.createElement('div');
  element.className = 'term';
  element.dataset.testid = 'tabvm-console';
  frame.append(element);
  shadow.append(frame);

  const terminal = new Terminal(CONSOLE_TERMINAL_OPTIONS);
  const fit = new FitAddon();
  terminal.loadAddon(fit);
  terminal.loadAddon(new VmConsoleAddon(endpoint));
  terminal.open(element);
  terminal.textarea?.setAttribute('aria-label', label);
  const refit = (): void => {
    if (element.clientWidth > 0 && element.clientHeight > 0) fit.fit();
  };
  const observer = new ResizeObserver(refit);
  observer.observe(element);
  refit();
  return {
    terminal,
    dispose: () => {
      observer.disconnect();
      terminal.dispose();
      host.remove();
    },
  };
}
