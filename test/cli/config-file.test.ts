// The config file: every serve flag is a key, the precedence is flags > env > config file > defaults, and a bad file
// is one NB_ERR_CONFIG line naming the key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { envName } from '../../src/cli/config-file.js';
import { SERVE_OPTIONS, serveSettings, type ServeSettings } from '../../src/cli/settings.js';
import { NarBridgeError } from '../../src/errors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'nb-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function configFile(toml: string): string {
  const file = join(dir, 'nar-bridge.toml');
  writeFileSync(file, toml);
  return file;
}

const KEY = 'c:jtAakMy4FA/pOvC9vw9DZDSbVrpFtQaQTHOa7IQZ1Vs=';
const upstream = (host: string) => `http://${host}/?trusted-public-keys=${encodeURIComponent(KEY)}`;

/**
 * One row per serve flag: a value for the config file, a different one for the variable and another for the flag,
 * and the setting they land in. The first test checks the table covers every flag.
 */
interface Row {
  readonly toml: string;
  readonly env: string;
  readonly flag: readonly string[];
  readonly read: (s: ServeSettings) => unknown;
  readonly fromConfig: unknown;
  readonly fromEnv: unknown;
  readonly fromFlag: unknown;
}
const ROWS: Readonly<Record<string, Row>> = {
  listen: {
    toml: '"127.0.0.1:9001"',
    env: '127.0.0.1:9002',
    flag: ['127.0.0.1:9003'],
    read: (s) => s.listen.port,
    fromConfig: 9001,
    fromEnv: 9002,
    fromFlag: 9003,
  },
  'data-dir': { toml: '"/c"', env: '/e', flag: ['/f'], read: (s) => s.dataDir, fromConfig: '/c', fromEnv: '/e', fromFlag: '/f' },
  priority: { toml: '41', env: '42', flag: ['43'], read: (s) => s.priority, fromConfig: 41, fromEnv: 42, fromFlag: 43 },
  'log-level': { toml: '"debug"', env: 'warn', flag: ['error'], read: (s) => s.logLevel, fromConfig: 'debug', fromEnv: 'warn', fromFlag: 'error' },
  'log-format': { toml: '"json"', env: 'pretty', flag: ['json'], read: (s) => s.logFormat, fromConfig: 'json', fromEnv: 'pretty', fromFlag: 'json' },
  'grpc-listen': {
    toml: '"127.0.0.1:7001"',
    env: '127.0.0.1:7002',
    flag: ['127.0.0.1:7003'],
    read: (s) => s.grpcListen,
    fromConfig: '127.0.0.1:7001',
    fromEnv: '127.0.0.1:7002',
    fromFlag: '127.0.0.1:7003',
  },
  workers: { toml: '1', env: '4', flag: ['5'], read: (s) => s.workers, fromConfig: 1, fromEnv: 4, fromFlag: 5 },
  'blob-service-addr': {
    toml: '"memory://"',
    env: 'local:///e',
    flag: ['local:///f'],
    read: (s) => s.blobServiceAddr,
    fromConfig: 'memory://',
    fromEnv: 'local:///e',
    fromFlag: 'local:///f',
  },
  'directory-service-addr': {
    toml: '"memory://"',
    env: 'sqlite:///e',
    flag: ['sqlite:///f'],
    read: (s) => s.directoryServiceAddr,
    fromConfig: 'memory://',
    fromEnv: 'sqlite:///e',
    fromFlag: 'sqlite:///f',
  },
  'path-info-service-addr': {
    toml: '"memory://"',
    env: 'sqlite:///e',
    flag: ['sqlite:///f'],
    read: (s) => s.pathInfoServiceAddr,
    fromConfig: 'memory://',
    fromEnv: 'sqlite:///e',
    fromFlag: 'sqlite:///f',
  },
  'signing-key-file': {
    toml: '["/c 1.sec", "/c2.sec"]',
    env: '/e.sec',
    flag: ['/f1.sec', '/f2.sec'],
    read: (s) => s.trust.signingKeyFiles,
    fromConfig: ['/c 1.sec', '/c2.sec'],
    fromEnv: ['/e.sec'],
    fromFlag: ['/f1.sec', '/f2.sec'],
  },
  'trusted-public-keys': {
    toml: '"c:AA= c2:BB="',
    env: 'e:CC=',
    flag: ['f:DD='],
    read: (s) => s.trust.trustedPublicKeys,
    fromConfig: ['c:AA=', 'c2:BB='],
    fromEnv: ['e:CC='],
    fromFlag: ['f:DD='],
  },
  // A boolean flag can only say true, so the variable overriding the file is what turns it off.
  'require-signed-uploads': { toml: 'true', env: '0', flag: [], read: (s) => s.trust.requireSignedUploads, fromConfig: true, fromEnv: false, fromFlag: true },
  'tokens-file': {
    toml: '"/c.tokens"',
    env: '/e.tokens',
    flag: ['/f.tokens'],
    read: (s) => s.trust.tokensFile,
    fromConfig: '/c.tokens',
    fromEnv: '/e.tokens',
    fromFlag: '/f.tokens',
  },
  'private-reads': { toml: 'true', env: 'no', flag: [], read: (s) => s.trust.privateReads, fromConfig: true, fromEnv: false, fromFlag: true },
  'max-nar-size': {
    toml: '"1G"',
    env: '2G',
    flag: ['3G'],
    read: (s) => s.trust.limits.upload.maxNarSize,
    fromConfig: 1024 ** 3,
    fromEnv: 2 * 1024 ** 3,
    fromFlag: 3 * 1024 ** 3,
  },
  'max-narinfo-size': { toml: '2048', env: '4K', flag: ['8K'], read: (s) => s.trust.limits.maxNarInfoBytes, fromConfig: 2048, fromEnv: 4096, fromFlag: 8192 },
  'max-decompression-ratio': {
    toml: '10',
    env: '20',
    flag: ['30'],
    read: (s) => s.trust.limits.upload.maxDecompressionRatio,
    fromConfig: 10,
    fromEnv: 20,
    fromFlag: 30,
  },
  'max-depth': { toml: '11', env: '21', flag: ['31'], read: (s) => s.trust.limits.upload.nar.maxDepth, fromConfig: 11, fromEnv: 21, fromFlag: 31 },
  'max-entries-per-directory': {
    toml: '12',
    env: '22',
    flag: ['32'],
    read: (s) => s.trust.limits.upload.nar.maxEntriesPerDirectory,
    fromConfig: 12,
    fromEnv: 22,
    fromFlag: 32,
  },
  'upload-idle-timeout': { toml: '5', env: '6', flag: ['7'], read: (s) => s.trust.limits.uploadIdleTimeoutMs, fromConfig: 5000, fromEnv: 6000, fromFlag: 7000 },
  'max-concurrent-uploads': { toml: '2', env: '3', flag: ['4'], read: (s) => s.trust.limits.maxConcurrentUploads, fromConfig: 2, fromEnv: 3, fromFlag: 4 },
  upstream: {
    toml: `["${upstream('c1.example')}", "${upstream('c2.example')}"]`,
    env: upstream('e.example'),
    flag: [upstream('f.example')],
    read: (s) => s.composition.upstreams.map((u) => new URL(u.baseUrl).host),
    fromConfig: ['c1.example', 'c2.example'],
    fromEnv: ['e.example'],
    fromFlag: ['f.example'],
  },
  'upstream-miss-ttl': { toml: '5', env: '6', flag: ['7'], read: (s) => s.composition.upstreamMissTtlMs, fromConfig: 5000, fromEnv: 6000, fromFlag: 7000 },
  'grpc-client-token-file': {
    toml: '"/c.token"',
    env: '/e.token',
    flag: ['/f.token'],
    read: (s) => s.grpcClientTokenFile,
    fromConfig: '/c.token',
    fromEnv: '/e.token',
    fromFlag: '/f.token',
  },
  'grpc-tls-cert': {
    toml: '"/c.pem"',
    env: '/e.pem',
    flag: ['/f.pem'],
    read: (s) => s.grpcTlsCertFile,
    fromConfig: '/c.pem',
    fromEnv: '/e.pem',
    fromFlag: '/f.pem',
  },
  'grpc-tls-key': {
    toml: '"/c.key"',
    env: '/e.key',
    flag: ['/f.key'],
    read: (s) => s.grpcTlsKeyFile,
    fromConfig: '/c.key',
    fromEnv: '/e.key',
    fromFlag: '/f.key',
  },
  composition: {
    toml: '"/c.toml"',
    env: '/e.toml',
    flag: ['/f.toml'],
    read: (s) => s.composition.compositionFile,
    fromConfig: '/c.toml',
    fromEnv: '/e.toml',
    fromFlag: '/f.toml',
  },
  'gc-interval': { toml: '"10m"', env: '2h', flag: ['3d'], read: (s) => s.gc.intervalMs, fromConfig: 600_000, fromEnv: 7_200_000, fromFlag: 3 * 86_400_000 },
  'cache-max-size': {
    toml: '"1G"',
    env: '2G',
    flag: ['3G'],
    read: (s) => s.composition.cacheMaxBytes,
    fromConfig: 1024 ** 3,
    fromEnv: 2 * 1024 ** 3,
    fromFlag: 3 * 1024 ** 3,
  },
  'gc-max-size': {
    toml: '"1G"',
    env: '2G',
    flag: ['3G'],
    read: (s) => s.gc.retention.maxSizeBytes,
    fromConfig: 1024 ** 3,
    fromEnv: 2 * 1024 ** 3,
    fromFlag: 3 * 1024 ** 3,
  },
  'gc-max-age': {
    toml: '"1d"',
    env: '2d',
    flag: ['3d'],
    read: (s) => s.gc.retention.maxAgeMs,
    fromConfig: 86_400_000,
    fromEnv: 2 * 86_400_000,
    fromFlag: 3 * 86_400_000,
  },
  'gc-upload-grace': { toml: '"1h"', env: '2h', flag: ['30s'], read: (s) => s.gc.uploadGraceMs, fromConfig: 3_600_000, fromEnv: 7_200_000, fromFlag: 30_000 },
  'gc-object-grace': { toml: '"2h"', env: '3h', flag: ['30s'], read: (s) => s.gc.objectGraceMs, fromConfig: 7_200_000, fromEnv: 10_800_000, fromFlag: 30_000 },
};

const flagArgs = (key: string, values: readonly string[]) =>
  SERVE_OPTIONS[key as keyof typeof SERVE_OPTIONS].type === 'boolean' ? [`--${key}`] : values.flatMap((v) => [`--${key}`, v]);

test('serve runs one worker per CPU unless told, and refuses a count below one', () => {
  expect(serveSettings([], {}).workers).toBe(availableParallelism());
  expect(() => serveSettings(['--workers', '0'], {})).toThrow(/--workers must be a positive integer/);
  expect(serveSettings(['--blob-service-addr', 'memory://'], {}).workers).toBe(1);
  expect(() => serveSettings(['--blob-service-addr', 'memory://', '--workers', '2'], {})).toThrow(/memory:\/\/ is per process/);
  // One process keeps the near cache: its default is one worker, and more are refused.
  expect(serveSettings(['--cache-max-size', '64M'], {}).workers).toBe(1);
  expect(() => serveSettings(['--cache-max-size', '64M', '--workers', '2'], {})).toThrow(/--cache-max-size needs --workers 1/);
  expect(() => serveSettings(['--cache-max-size', '1M'], {})).toThrow(/--cache-max-size must be at least 4M/);
});

test('the table has a row for every serve flag', () => {
  expect(Object.keys(ROWS).sort()).toEqual(Object.keys(SERVE_OPTIONS).sort());
});

describe.each(Object.entries(ROWS))('%s', (key, row) => {
  test('the config file sets it', () => {
    const defaults = row.read(serveSettings([], {}));
    const file = configFile(`${key} = ${row.toml}\n`);
    const configured = row.read(serveSettings(['--config', file], {}));
    expect(configured).toEqual(row.fromConfig);
    expect(configured).not.toEqual(defaults);
  });

  test('the environment variable beats the config file', () => {
    const file = configFile(`${key} = ${row.toml}\n`);
    expect(row.read(serveSettings(['--config', file], { [envName(key)]: row.env }))).toEqual(row.fromEnv);
  });

  test('the flag beats both', () => {
    const file = configFile(`${key} = ${row.toml}\n`);
    expect(row.read(serveSettings(['--config', file, ...flagArgs(key, row.flag)], { [envName(key)]: row.env }))).toEqual(row.fromFlag);
  });
});

test('NAR_BRIDGE_CONFIG names the file when --config is absent, and --config wins over it', () => {
  const other = join(dir, 'other.toml');
  writeFileSync(other, 'priority = 7\n');
  const file = configFile('priority = 9\n');
  expect(serveSettings([], { NAR_BRIDGE_CONFIG: file }).priority).toBe(9);
  expect(serveSettings(['--config', other], { NAR_BRIDGE_CONFIG: file }).priority).toBe(7);
});

test('a file setting everything at once is read whole', () => {
  // gc-interval refuses the service addresses this file also sets (GC needs the embedded store): it is read alone above.
  const together = Object.entries(ROWS).filter(([key]) => key !== 'gc-interval');
  const file = configFile(together.map(([key, row]) => `${key} = ${row.toml}`).join('\n'));
  const settings = serveSettings(['--config', file], {});
  for (const [key, row] of together) expect(row.read(settings), key).toEqual(row.fromConfig);
});

describe('a bad config file is one NB_ERR_CONFIG line naming the key', () => {
  test.each([
    ['an unknown key', 'lisen = "127.0.0.1:1"', /: unknown key "lisen"$/],
    ['a table', '[listen]\nhost = "x"', /: "listen" must be a string or an integer$/],
    ['a list for a single value', 'priority = [1]', /: "priority" must be a string or an integer$/],
    ['a fraction', 'priority = 1.5', /: "priority" must be a string or an integer$/],
    ['a string for a boolean', 'private-reads = "yes"', /: "private-reads" must be true or false$/],
    ['a number in a list', 'signing-key-file = ["a", 2.5]', /: "signing-key-file" must be a string or a list of strings$/],
    ['a date', 'composition = 1979-05-27', /: "composition" must be a string or an integer$/],
    ['--config inside the file', 'config = "/other.toml"', /: unknown key "config"$/],
    ['broken TOML', 'priority = = 4', /nar-bridge\.toml:1:\d+: invalid value$/],
    ['a value its setting refuses (named by file and key)', 'priority = -1', /nar-bridge\.toml: "priority" must be a non-negative integer$/],
  ])('%s', (_what, toml, message) => {
    const file = configFile(`${toml}\n`);
    let thrown: unknown;
    try {
      serveSettings(['--config', file], {});
    } catch (err) {
      thrown = err;
    }
    expect(NarBridgeError.is(thrown) && thrown.code).toBe('NB_ERR_CONFIG');
    const text = thrown instanceof Error ? thrown.message : '';
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });

  test('a missing file', () => {
    expect(() => serveSettings(['--config', join(dir, 'absent.toml')], {})).toThrow(/^cannot read config file .*absent\.toml$/);
  });
});
