// Layering (style.md): each folder imports only the layers below it, and only through their index.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

const MAY_IMPORT: Record<string, readonly string[]> = {
  nix: ['errors'],
  nar: ['errors'],
  proto: [],
  castore: ['errors', 'proto'],
  store: ['errors', 'nix', 'nar', 'castore', 'proto'],
  grpc: ['errors', 'nix', 'castore', 'store', 'proto'],
  http: ['errors', 'nix', 'castore', 'store'],
  cli: ['errors', 'nix', 'nar', 'castore', 'store', 'grpc', 'http', 'proto'],
};

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

it('every cross-folder import goes down the layer table and through an index.ts', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const [layer = ''] = relative(SRC, file).split('/');
    if (!(layer in MAY_IMPORT)) continue;
    for (const [, specifier = ''] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = relative(SRC, normalize(join(dirname(file), specifier))).split('/');
      const targetLayer = (target[0] ?? '').replace(/\.js$/, '');
      if (targetLayer === layer) continue;
      const allowed = MAY_IMPORT[layer]?.includes(targetLayer) ?? false;
      const viaIndex = targetLayer === 'errors' || (target.length === 2 && target[1] === 'index.js');
      if (!allowed || !viaIndex) violations.push(`${relative(SRC, file)} imports ${target.join('/')}`);
    }
  }
  expect(violations).toEqual([]);
});

// Inside src/store, one room per service or concern; a room may use the shared model files at the top and the rooms
// listed for it, so the data flow (compression → nar → pathinfo → upload) stays one way.
const STORE_TOP_FILES = ['compose.ts', 'index.ts', 'narinfo.ts', 'path-info.ts', 'store.ts', 'wire.ts'];
const STORE_ROOMS: Record<string, readonly string[]> = {
  compression: [],
  nar: [],
  'build-logs': [],
  pathinfo: ['nar', 'compression'],
  realisations: ['pathinfo'],
  upload: ['nar', 'pathinfo', 'compression'],
  gc: ['pathinfo'],
  copy: ['nar', 'pathinfo'],
};
const STORE = join(SRC, 'store');

it('src/store holds only its rooms and the shared model files', () => {
  const entries = readdirSync(STORE, { withFileTypes: true });
  expect(
    entries
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort(),
  ).toEqual([...STORE_TOP_FILES].sort());
  expect(
    entries
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort(),
  ).toEqual(Object.keys(STORE_ROOMS).sort());
});

it('a store room imports only the rooms listed for it', () => {
  const violations: string[] = [];
  for (const file of sourceFiles(STORE)) {
    const [room = '', ...rest] = relative(STORE, file).split('/');
    if (rest.length === 0) continue;
    for (const [, specifier = ''] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = relative(STORE, normalize(join(dirname(file), specifier))).split('/');
      if (target[0] === '..' || target.length === 1 || target[0] === room) continue;
      if (!STORE_ROOMS[room]?.includes(target[0] ?? '')) violations.push(`store/${relative(STORE, file)} imports store/${target.join('/')}`);
    }
  }
  expect(violations).toEqual([]);
});
