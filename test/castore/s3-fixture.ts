// A real S3 server for tests, from S3_ENDPOINT and the AWS variables (/work/shared/services/start-s3.sh prints them):
// each test file gets a bucket of its own, created before and deleted (emptied first) after its tests. Without
// S3_ENDPOINT the tests are skipped with the reason in their name, except under CI=true, where they fail.
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, it } from 'vitest';

const ENDPOINT = process.env.S3_ENDPOINT;

/** `describe` when an S3 server is configured; otherwise a visible skip, or under CI a failing test. */
export function describeS3(name: string, body: () => void): void {
  if (ENDPOINT) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('has an S3 server to test against', () => {
        throw new Error('S3_ENDPOINT is unset: CI must start S3 (.ci/run does, with start-s3.sh)');
      });
    });
  } else {
    describe.skip(`${name} (skipped: S3_ENDPOINT is unset; start S3 with /work/shared/services/start-s3.sh)`, body);
  }
}

export interface TestBucket {
  readonly name: () => string;
  /** An `s3://` URL for the bucket with a fresh prefix, so each fixture starts empty. */
  freshUrl(): string;
  /** The keys under `prefix`. */
  keys(prefix: string): Promise<string[]>;
  readonly client: () => S3Client;
}

export function testS3Client(): S3Client {
  return new S3Client({
    endpoint: ENDPOINT,
    forcePathStyle: true,
    region: process.env.AWS_REGION ?? 'us-east-1',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Call inside describeS3: hooks create the file's bucket before its tests and delete it after. */
export function useTestBucket(label: string): TestBucket {
  const name = `nb-${label.replace(/[^a-z0-9]/g, '-')}-${randomBytes(4).toString('hex')}`;
  let client: S3Client | undefined;
  let prefixes = 0;
  const s3 = () => {
    if (!client) throw new Error('test bucket not created yet');
    return client;
  };
  const keys = async (prefix: string) => {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3().send(new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key) found.push(o.Key);
      token = page.NextContinuationToken;
    } while (token);
    return found;
  };
  beforeAll(async () => {
    client = testS3Client();
    await client.send(new CreateBucketCommand({ Bucket: name }));
  });
  afterAll(async () => {
    if (!client) return;
    const all = await keys('');
    for (let at = 0; at < all.length; at += 1000) {
      await client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: all.slice(at, at + 1000).map((Key) => ({ Key })) } }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: name }));
    client.destroy();
  });
  return {
    name: () => name,
    client: s3,
    keys,
    freshUrl() {
      const url = new URL(`s3://${name}/p${++prefixes}`);
      url.searchParams.set('endpoint', ENDPOINT ?? '');
      url.searchParams.set('path-style', 'true');
      return url.href;
    },
  };
}
