#!/usr/bin/env node
// Entry point. Runs the compiled build in dist/ (made by `npm run build`, which `npm ci` runs as `prepare`)
// when it is newer than every source file; otherwise loads the TypeScript sources through tsx, so a
// checkout being edited never runs stale code. The stamp is made before tsc starts and renamed into place after,
// so an edit made during a build still counts as newer. The build starts faster and uses less memory (no loader thread).
// An installation without src/ (the container image) always runs dist/; tsx is a dev dependency, so a production
// install whose dist/ is stale is told to build rather than failing on a missing module.
import { readdirSync, statSync } from 'node:fs';
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
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
