/**
 * The text side of an embedded VM's console: how `run()` finds a command's output and exit status in
 * what the guest prints. Pure functions and one small stream filter, so they are tested in Node.
 *
 * The exit status comes from the shell's prompt. Once the shell is up, the library sets
 * `PS1='\[\e]7701;$?\a\]'"$PS1"`: every prompt then starts with an OSC sequence carrying the status of
 * the last command (ash and bash expand `$?` in PS1; `\[ \]` tells their line editors the sequence takes
 * no columns). Terminals ignore an OSC number they do not know, so the reader sees the usual prompt,
 * and nothing has to be added to the command the reader sees typed.
 *
 * The output of a command starts after the echo of its line: the line editor echoes the typed
 * characters (with `\r`, `\n` and cursor sequences inserted where a long line wraps), then a newline.
 */
/* eslint-disable no-control-regex -- terminal control sequences are what this file parses */

/** OSC 7701: private to tabvm (not an OSC number any terminal assigns a meaning to). */
export const STATUS_OSC = 7701;

/**
 * The line typed (hidden from the reader) once the shell first prompts: it makes every prompt report
 * the last exit status (see the file comment), and tells the tty the terminal's size when there is a
 * terminal: a serial line cannot, and a line editor that assumes 80 columns in a narrower terminal
 * wraps long lines twice.
 */
export function promptSetupLine(size?: { cols: number; rows: number }): string {
  const stty = size ? `stty cols ${size.cols} rows ${size.rows}; ` : '';
  // Once only: a shell that has the marker already (restored from a snapshot of a set-up VM) keeps its PS1.
  return `${stty}case $PS1 in *${STATUS_OSC}*) ;; *) PS1='\\[\\e]${STATUS_OSC};$?\\a\\]'"$PS1";; esac`;
}

/** One status marker: ESC ] 7701 ; <status> BEL. */
export const STATUS_MARKER = new RegExp(`\\x1b\\]${STATUS_OSC};(\\d+)\\x07`, 'g');

/**
 * "Where is the cursor?" (DSR 6, ESC [ 6 n). busybox ash asks it after each prompt. The embed never
 * lets the terminal answer: a reply that arrives while a command runs is read by that command as input
 * and echoed into its output by the tty. Unanswered, ash assumes the cursor is where it put it.
 */
const CURSOR_QUERY = '\x1b[6n';

/** The longest unfinished escape sequence held back at the end of a chunk before it is let through. */
const MAX_HELD = 64;

/**
 * Splits console text into complete pieces: an escape sequence cut by a chunk boundary is held back
 * until its end arrives, so the markers and cursor queries can be found and removed chunk by chunk.
 */
export class EscapeAwareStream {
  #held = '';

  /** Returns the text that is complete so far, with cursor queries removed. */
  push(text: string): string {
    let all = this.#held + text;
    this.#held = '';
    const cut = unfinishedEscapeStart(all);
    if (cut >= 0 && all.length - cut <= MAX_HELD) {
      this.#held = all.slice(cut);
      all = all.slice(0, cut);
    }
    return all.split(CURSOR_QUERY).join('');
  }
}

/** Index of an escape sequence at the end of `text` that is not finished yet, or -1. */
function unfinishedEscapeStart(text: string): number {
  const esc = text.lastIndexOf('\x1b');
  if (esc < 0) return -1;
  const rest = text.slice(esc + 1);
  if (rest === '') return esc;
  if (rest[0] === '[') return /^\[[0-?]*[ -/]*[@-~]/.test(rest) ? -1 : esc;
  if (rest[0] === ']') return /\x07|\x1b\\/.test(rest) ? -1 : esc;
  return -1;
}

/** The text without status markers: what the reader sees and what `output` events carry. */
export function withoutMarkers(text: string): string {
  return text.replace(STATUS_MARKER, '');
}

/** Drops escape sequences (CSI and OSC) and line breaks: the characters a line editor echoes. */
function echoProjection(text: string): { chars: string; positions: number[] } {
  let chars = '';
  const positions: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\x1b') {
      const rest = text.slice(i + 1);
      const csi = /^\[[0-?]*[ -/]*[@-~]/.exec(rest);
      const osc = /^\][^\x07\x1b]*(\x07|\x1b\\)/.exec(rest);
      const skip = csi?.[0].length ?? osc?.[0].length ?? 1;
      i += skip;
      continue;
    }
    if (c === '\r' || c === '\n') continue;
    chars += c;
    positions.push(i);
  }
  return { chars, positions };
}

/**
 * The output of `command` in `text`: `text` runs from when the command was typed to the status marker
 * that followed it. The output starts after the newline that ends the echo of the command line; if the
 * echo cannot be found (other output interleaved with it), everything after the first line is returned.
 * Line ends are `\n`.
 */
export function commandOutput(text: string, command: string): string {
  const { chars, positions } = echoProjection(text);
  const at = command.length === 0 ? -1 : chars.indexOf(command);
  const echoEnd = at >= 0 ? positions[at + command.length - 1]! + 1 : 0;
  const newline = text.indexOf('\n', echoEnd);
  const output = newline < 0 ? '' : text.slice(newline + 1);
  return output.replace(/\r+\n/g, '\n');
}
