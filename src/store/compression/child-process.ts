// Bytes streamed through an external program (Debian's codecs: Node 20's zlib lacks xz, zstd and bzip2), pulled
// by the consumer: stdin is fed only as the program reads and stdout is read only as the consumer asks.
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NarBridgeError } from '../../errors.js';

/** stderr lines kept for the error message: the reason is at the end, and a broken program must not fill memory. */
const MAX_STDERR_CHUNKS = 16;

/**
 * The program's stdout for `input` on its stdin. Throws the source's own error when the source fails, an
 * NB_ERR_STORAGE when the program cannot be run, and an Error carrying its last stderr line when it exits non-zero.
 * The program is killed whenever the output is not read to the end (consumer gone, failure).
 */
export async function* throughProcess(
  [cmd, ...args]: readonly [string, ...string[]],
  input: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array, void, undefined> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.length < MAX_STDERR_CHUNKS && stderr.push(chunk));
  const exited = new Promise<number | null | Error>((resolve) => {
    child.once('error', resolve);
    child.once('close', resolve);
  });
  // stdin errors (EPIPE when the program quits early) surface through the exit status instead.
  const feeding = pipeline(Readable.from(input, { objectMode: false }), child.stdin).then(
    () => undefined,
    (err: unknown) => err,
  );
  let finished = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Uint8Array;
    const fed = await feeding;
    // A failing source (client gone, size limit) wins; EPIPE only means the program quit first.
    if (fed !== undefined && !isBrokenPipe(fed)) throw fed;
    const code = await exited;
    if (code instanceof Error) throw new NarBridgeError('NB_ERR_STORAGE', `cannot run ${cmd}`, { cause: code });
    if (code !== 0) {
      const reason = Buffer.concat(stderr).toString('utf8').trim().split('\n').at(-1) ?? '';
      throw new Error(reason || `exit status ${code}`);
    }
    finished = true;
  } finally {
    if (!finished) child.kill('SIGKILL');
  }
}

function isBrokenPipe(err: unknown): boolean {
  return err instanceof Error && 'code' in err && err.code === 'EPIPE';
}
