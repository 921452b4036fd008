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
