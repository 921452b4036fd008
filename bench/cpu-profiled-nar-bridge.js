#!/usr/bin/env node
// bin/nar-bridge.js under the V8 CPU profiler, for `npm run bench -- --cpu-prof DIR`: node refuses --cpu-prof in
// NODE_OPTIONS, and the e2e harness starts the CLI with plain `node ENTRY`, so the profiler is started from inside.
// Writes DIR/nar-bridge-<pid>.cpuprofile (DIR from NB_BENCH_CPU_PROF_DIR) when the server exits.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

const dir = process.env.NB_BENCH_CPU_PROF_DIR;
if (!dir) throw new Error('NB_BENCH_CPU_PROF_DIR is not set');
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
process.once('beforeExit', async () => {
  const { profile } = await session.post('Profiler.stop');
  await writeFile(path.join(dir, `nar-bridge-${process.pid}.cpuprofile`), JSON.stringify(profile));
  session.disconnect();
});
await import('../bin/nar-bridge.js');
