// What every measurement group gets: options, fixtures, both running servers and the results recorder.
import type { NixEnv } from '../test/e2e/harness.js';
import type { FixtureName, FixtureSet, Fixture } from './fixtures.js';
import type { BenchOptions } from './options.js';
import type { Results, Side } from './report.js';
import type { BenchServer } from './servers.js';

export interface BenchContext {
  readonly options: BenchOptions;
  readonly fixtures: FixtureSet;
  /** Nix settings for pushes from the fixture store. */
  readonly env: NixEnv;
  /** tmpfs directory for anything a measurement creates. */
  readonly workDir: string;
  readonly bridge: BenchServer;
  readonly nginx: BenchServer;
  /** The `file://` cache (compression none) nginx serves: one NAR file per path, as Nix wrote it. */
  readonly cacheDir: string;
  readonly results: Results;
}

/**
 * Both servers, in an order that flips every repetition: whoever goes first meets a colder CPU cache and a different
 * moment of the neighbours' load, so alternating keeps that bias out of the medians.
 */
export function alternate(ctx: BenchContext, rep: number): Array<[Side, BenchServer]> {
  const both: Array<[Side, BenchServer]> = [
    ['bridge', ctx.bridge],
    ['reference', ctx.nginx],
  ];
  return rep % 2 === 0 ? both : both.reverse();
}

export function fixture(ctx: BenchContext, name: FixtureName): Fixture {
  const f = ctx.fixtures.fixtures.find((x) => x.name === name);
  if (f === undefined) throw new Error(`no fixture ${name}`);
  return f;
}

export const MB = 1e6;
