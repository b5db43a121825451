/**
 * A guest image (firmware, kernel, initrd) that tabvm cannot boot. The message is one line a person
 * can act on; the command-line runner prints it and exits with status 2, the UI shows it as is.
 * It is not an emulator bug, so it carries no stack worth showing.
 */
export class ImageError extends Error {
  override readonly name = 'ImageError';

  constructor(message: string) {
    super(message);
  }
}
