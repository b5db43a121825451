import { describe, expect, it } from 'vitest';
import { commandOutput, EscapeAwareStream, promptSetupLine, STATUS_MARKER, withoutMarkers } from './shell-text.ts';

describe('EscapeAwareStream', () => {
  it('removes the cursor query even when a chunk boundary cuts it', () => {
    const stream = new EscapeAwareStream();
    expect(stream.push('root@tabvm:~# \x1b[')).toBe('root@tabvm:~# ');
    expect(stream.push('6nls\r\n')).toBe('ls\r\n');
  });

  it('holds back an unfinished status marker until its BEL arrives', () => {
    const stream = new EscapeAwareStream();
    expect(stream.push('hi\r\n\x1b]7701;1')).toBe('hi\r\n');
    expect(stream.push('2\x07root@tabvm:~# ')).toBe('\x1b]7701;12\x07root@tabvm:~# ');
  });

  it('lets other escape sequences through unchanged', () => {
    const stream = new EscapeAwareStream();
    expect(stream.push('\x1b[1;32mgreen\x1b[0m \x1b[K')).toBe('\x1b[1;32mgreen\x1b[0m \x1b[K');
  });
});

describe('status markers', () => {
  it('the setup line puts the status marker in a non-printing \\[ \\] span of PS1, after the terminal size', () => {
    const setPs1 = `case $PS1 in *7701*) ;; *) PS1='\\[\\e]7701;$?\\a\\]'"$PS1";; esac`;
    expect(promptSetupLine()).toBe(setPs1);
    expect(promptSetupLine({ cols: 72, rows: 30 })).toBe(`stty cols 72 rows 30; ${setPs1}`);
  });

  it('are found with their status and removed from what the reader sees', () => {
    const text = 'x\r\n\x1b]7701;127\x07root@tabvm:~# ';
    STATUS_MARKER.lastIndex = 0;
    expect(STATUS_MARKER.exec(text)?.[1]).toBe('127');
    expect(withoutMarkers(text)).toBe('x\r\nroot@tabvm:~# ');
  });
});

describe('commandOutput', () => {
  it('starts after the echoed command line and normalises line ends', () => {
    expect(commandOutput('echo $((6*7))\r\n42\r\n', 'echo $((6*7))')).toBe('42\n');
  });

  it('finds the echo of a long line that the line editor wrapped', () => {
    const command = 'mkdir -p /tmp/www && echo hi > /tmp/www/index.html && httpd -p 127.0.0.1:8080 -h /tmp/www';
    const echo = 'mkdir -p /tmp/www && echo hi > /tmp/www/index.html && h\r\r\nttpd -p 127.0.0.1:8080 -h /tmp/www\r\n';
    expect(commandOutput(`${echo}served\r\n`, command)).toBe('served\n');
  });

  it('skips cursor movements in the echo and keeps the command text that appears in the output', () => {
    expect(commandOutput('\x1b[Jecho echo\r\necho\r\n', 'echo echo')).toBe('echo\n');
  });

  it('is empty for a command that printed nothing', () => {
    expect(commandOutput('true\r\n', 'true')).toBe('');
  });

  it('falls back to what follows the first line when the echo was garbled', () => {
    expect(commandOutput('ec[ 1.0] kernel says\r\nho x\r\nx\r\n', 'echo x')).toBe('ho x\nx\n');
  });
});
