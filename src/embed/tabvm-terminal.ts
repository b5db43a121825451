/** Entry point that registers <tabvm-terminal>: `<script type="module" src=".../tabvm-terminal.js">`. */
import { defineTabvmTerminal } from './element.ts';

defineTabvmTerminal();

export { TabvmTerminalElement } from './element.ts';
