#!/usr/bin/env node
// Entry point. Runs the compiled build in dist/ (made by `npm run build`, which `npm ci` runs as `prepare`)
// when it is newer than every source file; otherwise loads the TypeScript sources through tsx, so a
// checkout being edited never runs stale code. The stamp is made before tsc starts and renamed into place after,
// so an edit made during a build still counts as newer. The build starts faster and uses less memory (no loader thread).
// An installation without src/ (the container image) always runs dist/; tsx is a dev dependency, so a production
// install whose dist/ is stale is told to build rather than failing on a missing module.
import { readdirSync, statSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const built = statSync(`${root}dist/.built`, { throwIfNoEntry: false });
const hasSources = statSync(`${root}src`, { throwIfNoEntry: false }) !== undefined;
let entry = '../dist/cli/main.js';
if (hasSources && (!built || built.mtimeMs < newestMtime(`${root}src`))) {
  const tsx = await import('tsx/esm/api').catch((err) => {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write('nar-bridge: dist/ is missing or older than src/, and tsx (a dev dependency) is not installed: run `npm run build`\n');
    process.exit(2);
  });
  tsx.register();
  entry = '../src/cli/main.ts';
}
// V8 grows its young generation from 1 MiB towards 16 MiB semi-spaces under a streaming load, and with fewer
// scavenges the Buffers of past socket and pack reads (memory outside the heap, freed only once their small JS
// wrappers are collected) pile up as well: keeping it at its initial size took ~40 MiB off the peak RSS of a 64 MiB
// push and pull, for more frequent scavenges (README, "Memory"). The growth factor is read whenever V8 considers
// growing, so it works when set at run time (--max-semi-space-size does not); it is set before the modules load, which
// alone grew it, and after tsx's loader thread started (set before that, it had no effect). An operator's flag stands.
const sizedByOperator = /semi[-_]space/.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '));
if (!sizedByOperator) setFlagsFromString('--semi-space-growth-factor=1');
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
