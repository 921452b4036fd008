// What the multi-server e2e tests (PostgreSQL, S3, replicas) check alike: an upload split across two servers, and a
// closure substituted whole from one.
import { expect } from 'vitest';
import { inChroot, runNix, snapshotTree, startRecordingProxy, type Fixtures, type NixEnv } from './harness.js';

/** `nix copy --to` of fx.y's closure with every narinfo PUT sent to `narinfos` and every other request to `nars`. */
export async function pushSplit(nars: string, narinfos: string, fx: Fixtures, env: NixEnv): Promise<void> {
  const split = await startRecordingProxy(nars, (req) => (req.method === 'PUT' && req.url.endsWith('.narinfo') ? narinfos : nars));
  await runNix(['copy', '--to', `${split.url}?secret-key=${fx.secretKeyFile}`, fx.y], env);
  expect(split.requests.filter((r) => r.method === 'PUT' && r.url.endsWith('.narinfo')).map((r) => r.status)).toEqual([204, 204, 204]);
}

/** Substitutes fx.y's closure from `url` into a fresh store: every path must come back as it is in the host store. */
export async function expectClosureFrom(url: string, fx: Fixtures, env: NixEnv): Promise<void> {
  const store = env.newStore();
  await runNix(['copy', '--from', url, '--to', store, '--option', 'trusted-public-keys', fx.publicKey, fx.y], env);
  for (const p of [fx.y, fx.deptree, fx.dep]) expect(await snapshotTree(inChroot(store, p)), `${p} from ${url}`).toEqual(await snapshotTree(p));
}
