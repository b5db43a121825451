/** How every tabvm console looks and behaves, in the app and in embedded terminals alike. */
import type { ITerminalOptions } from '@xterm/xterm';

export const CONSOLE_TERMINAL_OPTIONS: ITerminalOptions = {
  // A blinking cursor repaints the terminal twice a second: most of an idle VM's CPU cost (README).
  cursorBlink: false,
  fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Cascadia Mono", Menlo, monospace',
  fontSize: 14,
  // At line height 1 a 14 px row is 16 device pixels at devicePixelRatio 1, and the font's underscore falls
  // below it: `a_b_c` drew as `a b c` (e2e/terminal-glyphs.spec.ts reads the pixels at every zoom level).
  lineHeight: 1.2,
  scrollback: 5000,
  theme: { background: '#0f1419', foreground: '#d8dee9', cursor: '#88c0d0', selectionBackground: '#3b4a5a' },
};
