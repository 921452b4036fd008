// Property (issue #5): random trees dumped by the real `nix-store --dump` ingest and render back byte for byte, and
// random mutations of those NARs are either refused with a NarBridgeError or round-trip exactly: never a hang,
// never another exception, never a different successful result. Replay a failure with NB_PROPERTY_SEED=<seed>.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type Castore } from '../../src/castore/index.js';
import { NarBridgeError } from '../../src/errors.js';
import { ingestNar, planNar } from '../../src/store/index.js';
import { mutate } from './mutate.js';
import { Prng } from './prng.js';
import { randomNode, writeRandomNode } from './random-tree.js';

const TREES = 40;
const MUTATIONS = 300;
/** Mutants are cut from the smaller NARs, so hundreds of them stay fast. */
const MAX_MUTATED_NAR_BYTES = 16 * 1024;
/** Far above any single ingest here (milliseconds); reaching it means the parser waits for bytes that never come. */
const HANG_MS = 10_000;

const seed = Prng.seedFromEnv(process.env);
const runFile = promisify(execFile);
let scratch: string;
const nars: Buffer[] = [];

const memoryCastore = (): Castore => ({ blobs: new MemoryBlobService(), directories: new MemoryDirectoryService() });

async function* chunked(bytes: Buffer, rng: Prng): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; ) {
    const size = rng.pick([1, 7, 8, 64, rng.between(1, 4096)]);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Ingest, then render what was stored; rejects with whatever ingest threw. */
async function roundTrip(nar: Buffer, rng: Prng): Promise<{ rendered: Buffer; narSize: number; narHash: Uint8Array }> {
  const castore = memoryCastore();
  const { node, narSize, narHash } = await ingestNar(chunked(nar, rng), castore);
  const plan = await planNar(node, castore);
  expect(plan.narSize, 'planned NarSize').toBe(narSize);
  return { rendered: await collect(plan.stream()), narSize, narHash: narHash.digest };
}

async function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${HANG_MS} ms (a hang)`)), HANG_MS);
  });
  try {
    return await Promise.race([work, hang]);
  } finally {
    clearTimeout(timer);
  }
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

describe(`NAR round trip, seed ${seed}`, () => {
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'nb-property-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it(`${TREES} random trees dumped by nix-store --dump ingest and render back byte for byte`, async () => {
    onTestFailed(() => console.error(`property seed ${seed}: replay with NB_PROPERTY_SEED=${seed} npx vitest run test/property`));
    const rng = new Prng(seed);
    for (let i = 0; i < TREES; i++) {
      const root = join(scratch, `tree-${i}`);
      await writeRandomNode(Buffer.from(root), randomNode(rng));
      const { stdout: nar } = await runFile('nix-store', ['--dump', root], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
      const { rendered, narSize, narHash } = await within(roundTrip(nar, rng), `tree ${i}`);
      expect(narSize, `tree ${i}: NarSize`).toBe(nar.length);
      expect(Buffer.from(narHash).equals(sha256(nar)), `tree ${i}: NarHash`).toBe(true);
      expect(rendered.equals(nar), `tree ${i}: rendered NAR differs from nix-store --dump`).toBe(true);
      nars.push(nar);
    }
  });

  it(`${MUTATIONS} mutated NARs are refused with a NarBridgeError or round-trip exactly`, async () => {
    onTestFailed(() => console.error(`property seed ${seed}: replay with NB_PROPERTY_SEED=${seed} npx vitest run test/property`));
    const rng = new Prng(seed ^ 0x5eed);
    const small = nars.filter((nar) => nar.length <= MAX_MUTATED_NAR_BYTES);
    expect(small.length, 'NARs to mutate (from the first test)').toBeGreaterThan(0);
    const outcomes = { refused: 0, roundTripped: 0 };
    for (let i = 0; i < MUTATIONS; i++) {
      const { how, bytes } = mutate(rng.pick(small), rng);
      const what = `mutation ${i} (${how})`;
      const result = await within(roundTrip(bytes, rng), what).then(
        (ok) => ({ ok }),
        (err: unknown) => ({ err }),
      );
      if ('err' in result) {
        expect(NarBridgeError.is(result.err), `${what}: threw ${String(result.err)}`).toBe(true);
        outcomes.refused++;
      } else {
        expect(result.ok.narSize, `${what}: NarSize`).toBe(bytes.length);
        expect(result.ok.rendered.equals(bytes), `${what}: accepted, but renders differently`).toBe(true);
        outcomes.roundTripped++;
      }
    }
    // Both outcomes must occur, or the mutations are not exercising what this test is about.
    expect(outcomes.refused, 'refused mutants').toBeGreaterThan(0);
    expect(outcomes.roundTripped, 'round-tripped mutants').toBeGreaterThan(0);
  });
});
