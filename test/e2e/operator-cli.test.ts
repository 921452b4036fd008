// End-to-end: the operator CLI against a real local Nix store — import a closure, read it back through the
// server with real Nix, inspect the store with `info`, `export`, `ls` and `cat` (against Nix's own output), and
// run everything from a config file.
import { writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, expect, test } from 'vitest';
import { catCommand } from '../../src/cli/cat.js';
import { exportCommand } from '../../src/cli/export.js';
import { lsCommand } from '../../src/cli/ls.js';
import {
  REPO_ROOT,
  cleanupE2E,
  httpRequest,
  disposeFixtures,
  inChroot,
  makeFixtures,
  makeTempDir,
  nixEnv,
  pathInfo,
  runCommand,
  runNix,
  runNixTool,
  snapshotTree,
  startServer,
} from './harness.js';

afterEach(cleanupE2E);
afterAll(disposeFixtures);

const CLI = path.join(REPO_ROOT, 'bin', 'nar-bridge.js');

test('import -r of a closure, then nix copy --from the server installs it byte for byte', async () => {
  const fx = await makeFixtures();
  const dataDir = await makeTempDir('data');
  const run = (...args: string[]) => runCommand(process.execPath, [CLI, ...args, '--data-dir', dataDir], fx.env.env);

  const first = await run('import', '-r', '--json', fx.y);
  const summary = JSON.parse(first.stdout) as { imported: string[]; skipped: string[]; narBytes: number };
  // Written references first (Nix lists y, whose hash sorts first, before dep and deptree), so an interrupted
  // import never leaves y stored without them.
  for (const [i, p] of summary.imported.entries()) {
    const references = (await pathInfo(p, fx.env)).references.filter((r) => r !== p);
    for (const r of references) expect(summary.imported.indexOf(r), `${r} before ${p}`).toBeLessThan(i);
  }
  expect(summary.imported.sort()).toEqual([fx.dep, fx.deptree, fx.y].sort());
  expect(summary.skipped).toEqual([]);
  expect(first.stderr).toContain('[3/3]');
  const again = JSON.parse((await run('import', '-r', '--json', fx.y, fx.hello)).stdout) as typeof summary;
  expect(again.imported).toEqual([fx.hello]);
  expect(again.skipped).toHaveLength(3);

  const info = JSON.parse((await run('info', '--json')).stdout) as Record<string, number>;
  expect(info.pathInfos).toBe(4);
  expect(info.narBytes).toBe(summary.narBytes + (await pathInfo(fx.hello, fx.env)).narSize);
  expect(info.blobs).toBeGreaterThanOrEqual(4);
  expect(info.dedupRatio).toBeGreaterThan(1);

  const server = await startServer({ dataDir });
  const client = await nixEnv();
  const store = client.newStore();
  // The fixtures are local builds without signatures, so this pull does not require any.
  await runNix(['copy', '--from', server.url, '--to', store, '--option', 'require-sigs', 'false', fx.y], client);
  for (const p of [fx.y, fx.dep, fx.deptree]) {
    expect(await snapshotTree(inChroot(store, p)), p).toEqual(await snapshotTree(p));
    const served = await pathInfo(p, client, server.url);
    const original = await pathInfo(p, fx.env);
    expect(served.narHash).toBe(original.narHash);
    expect([...served.references].sort()).toEqual([...original.references].sort());
    expect(served.deriver).toBe(original.deriver);
    expect(served.ca).toBe(original.ca);
  }
});

/**
 * Nix ≥ 2.19 prints `nix path-info --json` as an object keyed by store path, with null for absent fields. A `nix`
 * first on PATH turns Nix 2.8's array into that shape; everything else goes to the real one.
 */
async function newerNixPathInfo(): Promise<string> {
  const dir = await makeTempDir('newer-nix');
  const real = (await runCommand('sh', ['-c', 'command -v nix'], process.env)).stdout.trim();
  const convert = `
    let text = '';
    for await (const piece of process.stdin) text += piece;
    const out = {};
    for (const { path, valid, ...fields } of JSON.parse(text)) out[path] = { ca: null, deriver: null, ultimate: false, ...fields };
    process.stdout.write(JSON.stringify(out));`;
  await writeFile(path.join(dir, 'convert.mjs'), convert);
  const script = `#!/bin/sh
case " $* " in
  *" path-info "*) ${JSON.stringify(real)} "$@" | ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(dir, 'convert.mjs'))} ;;
  *) exec ${JSON.stringify(real)} "$@" ;;
esac
`;
  await writeFile(path.join(dir, 'nix'), script, { mode: 0o755 });
  return dir;
}

test('import reads the path-info JSON of Nix ≥ 2.19 (an object keyed by store path)', async () => {
  const fx = await makeFixtures();
  const dataDir = await makeTempDir('data');
  const env = { ...fx.env.env, PATH: `${await newerNixPathInfo()}:${fx.env.env.PATH ?? ''}` };
  const listing = await runCommand('nix', ['path-info', '--json', fx.y], env);
  expect(Object.keys(JSON.parse(listing.stdout) as object)).toEqual([fx.y]);
  const result = await runCommand(process.execPath, [CLI, 'import', '-r', '--json', '--data-dir', dataDir, fx.y], env);
  const summary = JSON.parse(result.stdout) as { imported: string[] };
  expect(summary.imported.sort()).toEqual([fx.dep, fx.deptree, fx.y].sort());
  const info = JSON.parse((await runCommand(process.execPath, [CLI, 'info', '--json', '--data-dir', dataDir], env)).stdout) as Record<string, number>;
  expect(info.pathInfos).toBe(3);
});

test('export, ls and cat read the store as Nix sees the original paths', async () => {
  const fx = await makeFixtures();
  const dataDir = await makeTempDir('data');
  await runCommand(process.execPath, [CLI, 'import', '-r', '--data-dir', dataDir, fx.y, fx.tree, fx.hello], fx.env.env);
  // The commands run in this process (a CLI start costs ~0.5 s through tsx); exit codes and messages are checked
  // through the real CLI at the end.
  const io = { env: fx.env.env, stderr: { write: () => true } };
  const run = async (command: typeof exportCommand, args: readonly string[]) => {
    const chunks: Buffer[] = [];
    const stdout = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    });
    await command([...args, '--data-dir', dataDir], { ...io, stdout });
    return Buffer.concat(chunks);
  };
  const ours = async (args: readonly string[]) => {
    let text = '';
    await lsCommand([...args, '--data-dir', dataDir], { env: fx.env.env, stdout: (t) => (text += t) });
    return text.trimEnd();
  };
  const nixLs = async (args: readonly string[]) => (await runNix(['store', 'ls', ...args], fx.env)).stdout.trimEnd();
  const dump = async (p: string) => (await runNixTool('nix-store', ['--dump', p], fx.env)).stdoutBytes;

  const directoryFlags = [[], ['-l'], ['-R'], ['-lR'], ['--json'], ['--json', '-R']];
  for (const p of [fx.y, fx.tree, fx.hello, fx.dep]) {
    expect((await run(exportCommand, [p])).equals(await dump(p)), `export ${p}`).toBe(true);
    for (const flags of p === fx.y || p === fx.tree ? directoryFlags : [['-l'], ['--json']]) {
      expect(await ours([...flags, p]), `ls ${flags.join(' ')} ${p}`).toBe(await nixLs([...flags, p]));
    }
  }
  // Inside a path, and by basename or hash part instead of the absolute path.
  const basename = path.basename(fx.tree);
  const hash = basename.slice(0, 32);
  expect(await ours(['-l', `${hash}/sub`])).toBe(await nixLs(['-l', `${fx.tree}/sub`]));
  expect(await ours(['-l', `${basename}/run.sh`])).toBe(await nixLs(['-l', `${fx.tree}/run.sh`]));
  expect((await run(exportCommand, [`${hash}/sub`])).equals(await dump(`${fx.tree}/sub`))).toBe(true);
  for (const file of ['run.sh', 'sub/deeper/file.txt', 'sub/empty']) {
    expect((await run(catCommand, [`${basename}/${file}`])).equals(await readFile(path.join(fx.tree, file))), file).toBe(true);
  }

  // Through the CLI: -o writes a file; misses are one line and exit 1 (a mistyped name after a right hash too).
  const cli = (args: readonly string[], expect: 'ok' | 'fail' = 'ok') =>
    runCommand(process.execPath, [CLI, ...args, '--data-dir', dataDir], fx.env.env, { expect });
  const out = path.join(dataDir, 'tree.nar');
  await cli(['export', '-o', out, fx.tree]);
  expect((await readFile(out)).equals(await dump(fx.tree))).toBe(true);
  const notFile = await cli(['cat', `${fx.tree}/sub`], 'fail');
  expect([notFile.code, notFile.stderr]).toEqual([1, `nar-bridge: ${fx.tree}/sub: is a directory, not a regular file\n`]);
  const wrongName = await cli(['ls', `${hash}-not-tree`], 'fail');
  expect([wrongName.code, wrongName.stderr]).toEqual([1, `nar-bridge: ${hash}-not-tree: no such store path in this store\n`]);
  await expect(ours([`${fx.tree}/nope`])).rejects.toThrow(/: no such file in /);
  await expect(ours([path.basename(fx.x)])).rejects.toThrow(/: no such store path in this store$/);
});

test('a server started with only --config serves with its listen address, priority and data dir', async () => {
  const fx = await makeFixtures();
  const dataDir = await makeTempDir('data');
  const config = path.join(dataDir, 'nar-bridge.toml');
  // The store commands read the same file: import finds the data dir there.
  await writeFile(config, `data-dir = ${JSON.stringify(dataDir)}\npriority = 17\n`);
  await runCommand(process.execPath, [CLI, 'import', '--config', config, fx.hello], fx.env.env);
  const info = JSON.parse((await runCommand(process.execPath, [CLI, 'info', '--json'], { ...fx.env.env, NAR_BRIDGE_CONFIG: config })).stdout) as {
    dataDir: string;
    pathInfos: number;
  };
  expect([info.dataDir, info.pathInfos]).toEqual([dataDir, 1]);

  const server = await startServer({
    dataDir,
    serveArgs: (port) => {
      const text = `listen = "127.0.0.1:${port}"\ndata-dir = ${JSON.stringify(dataDir)}\npriority = 17\nlog-level = "warn"\n`;
      writeFileSync(config, text);
      return ['--config', config];
    },
  });
  const cacheInfo = await httpRequest('GET', `${server.url}/nix-cache-info`);
  expect(cacheInfo.body).toContain('Priority: 17\n');
  const narinfo = await httpRequest('GET', `${server.url}/${path.basename(fx.hello).slice(0, 32)}.narinfo`);
  expect(narinfo.status).toBe(200);
  // log-level = "warn" took effect: no info-level "listening" line.
  expect(server.logRecords().some((r) => r.msg === 'nar-bridge listening')).toBe(false);
});

test('export shows a progress bar when stderr is a terminal', async () => {
  const fx = await makeFixtures();
  const dataDir = await makeTempDir('data');
  await runCommand(process.execPath, [CLI, 'import', '--data-dir', dataDir, fx.tree], fx.env.env);
  const out = path.join(dataDir, 'tree.nar');
  // script(1) gives the command a pseudo-terminal; its own output is what the terminal showed.
  const shown = await runCommand('script', ['-qec', `${process.execPath} ${CLI} export --data-dir ${dataDir} -o ${out} ${fx.tree}`, '/dev/null'], fx.env.env);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the progress bar's terminal escapes are what is tested
  expect(shown.stdout).toMatch(/\r\x1b\[K\[#+-*\] [\d.]+ (B|KiB) \/ 1\.2 KiB \(\d+%\)/);
  expect(shown.stdout.endsWith('\r\x1b[K')).toBe(true); // the bar is gone at the end
});
