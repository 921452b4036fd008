// The landing page at `/` over a real listening server: nix.conf lines with the server's URL and public keys,
// the netrc hint under private reads, store totals, recent paths newest first with NAR links, sizes for people.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { B3Digest } from '../../../src/castore/index.js';
import { AccessTokens, buildServer, type LandingFacts } from '../../../src/http/index.js';
import { NixHash, StorePath } from '../../../src/nix/index.js';
import { MemoryPathInfoService, type PathInfo } from '../../../src/store/index.js';
import { symlinkInside } from '../../../src/http/ui/symlink-inside.js';
import { servedMemoryStore } from '../../store/memory-store.js';

const KEY = 'cache.example.org-1:WdzRv1c0ytJjHsOHMgKNj9gk2WU2YnRnmZLM5ZumFQI=';
const READ_TOKEN = 'read-token-0123456789';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const pathInfo = (basename: string, narSize: number): PathInfo => ({
  storePath: StorePath.parseBasename(basename),
  node: { kind: 'directory', digest: B3Digest.fromHex('3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a'), size: 4 },
  references: [],
  narHash: NixHash.parse('sha256:0hlgzdnh78xv9gh498mxp8qndz48bqvm9xr5plazk4k2hy0b7k2g'),
  narSize,
  signatures: [],
});

async function serve(landing: LandingFacts, privateReads = false): Promise<string> {
  const access = privateReads ? { access: { tokens: AccessTokens.parse(`read ${READ_TOKEN}\n`), privateReads } } : {};
  app = await buildServer({ store: servedMemoryStore(), priority: 40, landing, ...access });
  return app.listen({ host: '127.0.0.1', port: 0 });
}

async function landing(base: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${base}/`, { headers });
  expect(res.status).toBe(200);
  return res.text();
}

describe('the landing page', () => {
  it('gives nix.conf lines with the URL the visitor used and the server signing keys, and how to push', async () => {
    const base = await serve({ publicKeys: [KEY] });
    const text = await landing(base);
    expect(text).toContain(`<pre id="nix-conf">substituters = ${base}\ntrusted-public-keys = ${KEY}</pre>`);
    expect(text).toContain(`nix copy --to '${base}?compression=zstd'`);
    expect(text).not.toContain('id="netrc"');
    // Behind a TLS proxy the URL a visitor needs is the https one.
    expect(await landing(base, { 'x-forwarded-proto': 'https' })).toContain(`substituters = ${base.replace('http:', 'https:')}\n`);
  });

  it('says the server signs nothing when it has no key, instead of an empty trusted-public-keys line', async () => {
    const text = await landing(await serve({}));
    expect(text).not.toContain('trusted-public-keys =');
    expect(text).toContain('signs nothing');
  });

  it('gives a netrc hint when reads need a token', async () => {
    const base = await serve({ publicKeys: [KEY] }, true);
    const text = await landing(base, { authorization: `Bearer ${READ_TOKEN}` });
    expect(text).toContain('netrc-file = /etc/nix/netrc');
    expect(text).toContain('<pre id="netrc">machine 127.0.0.1 password READ-TOKEN</pre>');
  });

  it('shows store totals in human units and the dedup ratio', async () => {
    const text = await landing(await serve({ totals: async () => ({ pathInfos: 1234, narBytes: 3 * 1024 ** 3, blobBytes: 1024 ** 3 }) }));
    expect(text).toContain('<td id="total-paths">1,234</td>');
    expect(text).toContain('<td id="total-nar">3.0 GiB</td>');
    expect(text).toContain('<td id="total-kept">1.0 GiB</td>');
    expect(text).toContain('<td id="total-ratio">3.00×</td>');
  });

  it('lists recently pushed paths newest first, with sizes, times and NAR links', async () => {
    let clock = Date.UTC(2026, 11, 2, 5, 0);
    const recent = new MemoryPathInfoService(() => (clock += 60_000));
    await recent.put(pathInfo('z45ailnkm27lnvhimqkhy08f6sh5m17d-old', 2048));
    await recent.put(pathInfo('779m3di9zfa8v1jnyx2kd168ydc5pgss-new', 5 * 1024 * 1024));
    const text = await landing(await serve({ recent }));
    const table = text.slice(text.indexOf('<table id="recent">'));
    expect(table.indexOf('-new')).toBeLessThan(table.indexOf('-old'));
    expect(table).toContain(
      '<a href="/ui/779m3di9zfa8v1jnyx2kd168ydc5pgss">779m3di9zfa8v1jnyx2kd168ydc5pgss-new</a></td><td>5.0 MiB</td><td>2026-12-02 05:02 UTC</td>',
    );
    expect(table).toMatch(
      /<a class="nar" href="\/nar\/tvix-castore\/[A-Za-z0-9_-]+\?narsize=2048" download="z45ailnkm27lnvhimqkhy08f6sh5m17d-old.nar">NAR<\/a>/,
    );
  });

  it('still searches when asked', async () => {
    const text = await landing(await serve({}), {});
    expect(text).toContain('name="q"');
  });
});

describe('symlinkInside', () => {
  const storePath = StorePath.parseBasename('779m3di9zfa8v1jnyx2kd168ydc5pgss-tree');
  it.each([
    ['link', 'run.sh', 'run.sh'],
    ['sub/link', '../run.sh', 'run.sh'],
    ['sub/link', './deeper/file.txt', 'sub/deeper/file.txt'],
    ['sub/link', '..', ''],
    ['bin/x', '/nix/store/779m3di9zfa8v1jnyx2kd168ydc5pgss-tree/lib/x', 'lib/x'],
    ['link', '../outside', null],
    ['link', '/etc/passwd', null],
    ['link', '/nix/store/779m3di9zfa8v1jnyx2kd168ydc5pgss-tree2/x', null],
    ['', 'whatever', null],
  ])('a link at %s to %s lands at %s', (at, target, expected) => {
    expect(symlinkInside(storePath, at, target)).toBe(expected);
  });
});
