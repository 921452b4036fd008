// import writes references before referrers: referencesFirst orders `nix path-info --json` output.
import { expect, test } from 'vitest';
import { referencesFirst } from '../../src/cli/import.js';

const info = (path: string, ...references: string[]) => ({ path, references });

test.each([
  ['already ordered', [info('a'), info('b', 'a')], ['a', 'b']],
  ['referrer listed first', [info('y', 'dep', 'tree'), info('dep'), info('tree', 'dep')], ['dep', 'tree', 'y']],
  ['self-references are ignored', [info('s', 's'), info('t', 't', 's')], ['s', 't']],
  ['references outside the list are ignored', [info('x', '/elsewhere'), info('w', 'x')], ['x', 'w']],
  ['unrelated paths keep their order', [info('c'), info('b'), info('a')], ['c', 'b', 'a']],
  ['a diamond appears once each', [info('top', 'l', 'r'), info('l', 'base'), info('r', 'base'), info('base')], ['base', 'l', 'r', 'top']],
])('%s', (_what, infos, order) => {
  expect(referencesFirst(infos).map((i) => i.path)).toEqual(order);
});

test('a chain 100000 deep does not overflow the stack', () => {
  const chain = Array.from({ length: 100_000 }, (_, i) => info(`p${i}`, ...(i + 1 < 100_000 ? [`p${i + 1}`] : [])));
  const ordered = referencesFirst(chain).map((i) => i.path);
  expect(ordered[0]).toBe('p99999');
  expect(ordered.at(-1)).toBe('p0');
});
