// A real PostgreSQL for tests, from DATABASE_URL (/work/shared/services/start-postgres.sh prints it): each test file
// gets a database of its own, created before and dropped after its tests, and each fixture a fresh schema in it.
// Without DATABASE_URL the tests are skipped with the reason in their name, except under CI=true, where they fail.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';

const ADMIN_URL = process.env.DATABASE_URL;

/** `describe` when a server is configured; otherwise a visible skip, or under CI a failing test. */
export function describePostgres(name: string, body: () => void): void {
  if (ADMIN_URL) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has a PostgreSQL server to test against', () => {
        throw new Error('DATABASE_URL is unset: CI must start PostgreSQL (.ci/run does, with start-postgres.sh)');
      });
    });
  } else {
    describe.skip(`${name} (skipped: DATABASE_URL is unset; start PostgreSQL with /work/shared/services/start-postgres.sh)`, body);
  }
}

export interface TestDatabase {
  /** The file's database (no schema set): for the test's own checks and for opening services in `public`. */
  readonly url: () => string;
  /** A new empty schema in the file's database, and the service URL that keeps every table in it. */
  freshSchemaUrl(): Promise<string>;
  /** Runs one statement on the file's database as the admin user. */
  sql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
}

/** Call inside describePostgres: hooks create the file's database before its tests and drop it after. */
export function useTestDatabase(label: string): TestDatabase {
  const name = `nb_${label.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  let url = '';
  let client: pg.Client | undefined;
  let schemas = 0;
  beforeAll(async () => {
    if (!ADMIN_URL) throw new Error('DATABASE_URL is unset');
    await withClient(ADMIN_URL, (admin) => admin.query(`CREATE DATABASE ${name}`));
    const u = new URL(ADMIN_URL);
    u.pathname = `/${name}`;
    url = u.href;
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    if (ADMIN_URL && url) await withClient(ADMIN_URL, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  });
  const sql = (text: string, values: unknown[] = []) => {
    if (!client) throw new Error('test database not created yet');
    return client.query(text, values);
  };
  return {
    url: () => url,
    sql,
    async freshSchemaUrl() {
      const schema = `s${++schemas}`;
      await sql(`CREATE SCHEMA ${schema}`);
      const u = new URL(url);
      u.searchParams.set('schema', schema);
      return u.href;
    },
  };
}

async function withClient<T>(connectionString: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
