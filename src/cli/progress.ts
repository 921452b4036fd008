// Progress of a long CLI operation (import, export) on stderr: a bar redrawn in place when stderr is a terminal,
// a plain line every few seconds when it is a file or a pipe (a log would fill with redraws otherwise).
import { formatBytes } from '../http/index.js';

/** Where progress goes: process.stderr, or anything with the same two members. */
export interface ProgressOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
}

/** A redraw at most this often: a terminal keeps up, and a fast copy is not slowed by printing. */
const REDRAW_MS = 100;
/** A plain line this often when not on a terminal. */
const LINE_MS = 5_000;
const BAR_WIDTH = 30;

export class Progress {
  readonly #started: number;
  #done = 0;
  #itemsDone = 0;
  #lastShown: number;
  #barShown = false;

  /** `total` bytes are expected (and `items`, counted beside them when given); `now` is the clock, replaceable in tests. */
  constructor(
    private readonly out: ProgressOutput,
    private readonly total: number,
    private readonly now: () => number = Date.now,
    private readonly items?: { readonly total: number; readonly noun: string },
  ) {
    this.#started = now();
    // A terminal shows the bar at once; a log gets its first line only once the operation has taken a while.
    this.#lastShown = out.isTTY ? Number.NEGATIVE_INFINITY : this.#started;
  }

  /** Counts `bytes` (and `items`) more done, and shows it if it is time to. */
  add(bytes: number, items = 0): void {
    this.#done += bytes;
    this.#itemsDone += items;
    const at = this.now();
    if (at - this.#lastShown < (this.out.isTTY ? REDRAW_MS : LINE_MS)) return;
    this.#lastShown = at;
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[K${this.#bar(at)}`);
      this.#barShown = true;
    } else {
      this.out.write(`${this.#status(at)}\n`);
    }
  }

  /** The bytes of `source`, counted as they pass. */
  async *count(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of source) {
      this.add(chunk.byteLength);
      yield chunk;
    }
  }

  /** A line of its own (e.g. which path is next), printed above the bar. */
  note(line: string): void {
    this.#clearBar();
    this.out.write(`${line}\n`);
    if (this.out.isTTY) this.#lastShown = Number.NEGATIVE_INFINITY; // redraw the bar under it on the next add
  }

  /** Removes the bar; call once at the end, success or not. */
  finish(): void {
    this.#clearBar();
  }

  #clearBar(): void {
    if (!this.#barShown) return;
    this.out.write('\r\x1b[K');
    this.#barShown = false;
  }

  #bar(at: number): string {
    const fraction = this.total > 0 ? Math.min(1, this.#done / this.total) : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${this.#status(at)}`;
  }

  #status(at: number): string {
    const seconds = (at - this.#started) / 1000;
    const rate = seconds > 0 ? this.#done / seconds : 0;
    const percent = this.total > 0 ? Math.floor((100 * Math.min(this.#done, this.total)) / this.total) : 100;
    const items = this.items ? `${this.#itemsDone}/${this.items.total} ${this.items.noun}, ` : '';
    return `${items}${formatBytes(this.#done)} / ${formatBytes(this.total)} (${percent}%), ${formatBytes(rate)}/s`;
  }
}

export { formatBytes };
