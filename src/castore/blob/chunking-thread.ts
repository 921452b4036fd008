// The chunking thread's entry (see chunking-worker.ts): scans writers' shared buffers as asked, one at a time, and
// keeps each writer's whole-blob hasher between its scans.
import { parentPort } from 'node:worker_threads';
import { Blake3Hasher } from '../digest.js';
import { scanChunks, type ScanReply, type ScanRequest } from './chunk-scan.js';

const port = parentPort;
if (!port) throw new Error('chunking-thread.ts runs as a worker thread');
const wholes = new Map<number, Blake3Hasher>();

port.on('message', (request: ScanRequest) => {
  if (request.op === 'drop') {
    wholes.delete(request.writer);
    return;
  }
  let reply: ScanReply;
  try {
    const whole = wholes.get(request.writer) ?? new Blake3Hasher();
    wholes.set(request.writer, whole);
    const cuts = scanChunks(new Uint8Array(request.buffer), request.from, request.to, request.final, request.params, whole);
    if (request.final) wholes.delete(request.writer);
    reply = request.final ? { id: request.id, cuts, whole: whole.digest().bytes } : { id: request.id, cuts };
  } catch (err) {
    wholes.delete(request.writer);
    reply = { id: request.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(reply);
});
