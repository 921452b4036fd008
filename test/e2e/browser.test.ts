// The browser view in real headless Chromium (Debian chromium + playwright-core): the landing page (nix.conf
// lines, totals, recent paths, NAR download), search, open a path, follow the file tree by links, breadcrumbs and
// symlinks, download a file and compare its bytes; Range straight from the blob. Screenshots are kept in
// test-artifacts/browser/ (git-ignored) for a human to look at.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import {
  REPO_ROOT,
  cleanupE2E,
  disposeFixtures,
  hashPart,
  makeFixtures,
  makeTempDir,
  runNix,
  runNixTool,
  startServer,
  type Fixtures,
  type ServerHandle,
} from './harness.js';

const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'browser');

/** One browser, one store and one server for the file: each costs seconds to start on this machine. */
interface Shared {
  readonly browser: BrowserContext;
  readonly profile: string;
  readonly fx: Fixtures;
  readonly server: ServerHandle;
}
let shared: Shared | undefined;
let page: Page | undefined;

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  const [{ browser, profile }, fx] = await Promise.all([launch(), makeFixtures()]);
  const server = await startServer({ dataDir: await makeTempDir('data'), extraArgs: ['--signing-key-file', fx.secretKeyFile] });
  shared = { browser, profile, fx, server };
  await runNix(['copy', '--to', server.url, fx.y, fx.tree], fx.env);
});
afterEach(async () => {
  await page?.close();
  page = undefined;
});
afterAll(async () => {
  await cleanupE2E();
  await shared?.browser.close();
  // Chromium may still be writing its profile as it exits: retry what it adds during the removal.
  if (shared) await rm(shared.profile, { recursive: true, force: true, maxRetries: 5 });
  await disposeFixtures();
});

async function setup(): Promise<Shared & { page: Page }> {
  if (!shared) throw new Error('Chromium, the fixtures or the server did not start (see beforeAll)');
  page = await shared.browser.newPage();
  return { ...shared, page };
}

/** A fresh profile each time (playwright passes it as --user-data-dir); pages run without JavaScript. */
async function launch(): Promise<{ browser: BrowserContext; profile: string }> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'nb-chromium-'));
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    args,
    acceptDownloads: true,
    javaScriptEnabled: false,
  });
  return { browser, profile };
}

test('search, open a path, browse its tree and download a file byte for byte', async () => {
  const { fx, server, page } = await setup();

  await page.goto(`${server.url}/`);
  await page.fill('input[name=q]', 'deptree');
  await page.click('button');
  await page.screenshot({ path: path.join(ARTIFACTS, '1-search.png') });
  const results = page.locator('#results a');
  expect(await results.count()).toBe(1);
  expect(await results.first().textContent()).toBe(fx.deptree);

  await results.first().click();
  expect(await page.locator('#narhash').textContent()).toMatch(/^sha256:[0-9a-z]{52}$/);
  expect(await page.locator('#referrers a').allTextContents()).toEqual([fx.y]);
  await page.screenshot({ path: path.join(ARTIFACTS, '2-path.png'), fullPage: true });

  await page.click('#tree a:text-is("sub/")');
  await page.click('#tree a:text-is("deeper/")');
  await page.screenshot({ path: path.join(ARTIFACTS, '3-tree.png') });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('a[aria-label="download file.txt"]')]);
  const saved = path.join(await makeTempDir('download'), 'file.txt');
  await download.saveAs(saved);
  expect((await readFile(saved)).equals(await readFile(path.join(fx.deptree, 'sub', 'deeper', 'file.txt')))).toBe(true);

  // y's page links its references; following one lands on that path's page.
  await page.goto(`${server.url}/ui/${hashPart(fx.y)}`);
  await page.click(`#references a:text-is("${fx.dep}")`);
  expect(page.url()).toBe(`${server.url}/ui/${hashPart(fx.dep)}`);

  const run = `${server.url}/ui/${hashPart(fx.tree)}/file/run.sh`;
  const whole = await fetch(run);
  expect(whole.headers.get('content-length')).toBe('18');
  const part = await fetch(run, { headers: { range: 'bytes=2-5' } });
  expect(part.status).toBe(206);
  expect(part.headers.get('content-range')).toBe('bytes 2-5/18');
  expect(await part.text()).toBe('/bin');
  expect((await fetch(run, { headers: { range: 'bytes=99-' } })).status).toBe(416);
});

test('store-controlled names are escaped, never markup', async () => {
  const { server, page } = await setup();
  await page.goto(`${server.url}/?q=${encodeURIComponent('<b id="x">')}`);
  expect(await page.locator('b#x').count()).toBe(0);
  expect(await page.locator('h1').textContent()).toBe('Search: <b id="x">');
});

test('the landing page gives nix.conf lines, store totals and recent paths, and downloads a NAR', async () => {
  const { fx, server, page } = await setup();
  await page.goto(`${server.url}/`);
  await page.screenshot({ path: path.join(ARTIFACTS, '0-landing.png'), fullPage: true });
  expect(await page.locator('#nix-conf').textContent()).toBe(`substituters = ${server.url}\ntrusted-public-keys = ${fx.publicKey.trim()}`);
  // y's closure (y, deptree, dep) and tree.
  expect(await page.locator('#total-paths').textContent()).toBe('4');
  expect(await page.locator('#total-nar').textContent()).toMatch(/^\d+(\.\d)? (B|KiB)$/);
  expect(await page.locator('#total-ratio').textContent()).toMatch(/^\d+\.\d\d×$/);
  const recent = await page.locator('#recent td.m a').allTextContents();
  expect([...recent].sort()).toEqual([fx.y, fx.deptree, fx.dep, fx.tree].map((p) => path.basename(p)).sort());
  // Nix pushes references first: y comes after its references, so it is listed above them.
  expect(recent.indexOf(path.basename(fx.y))).toBeLessThan(recent.indexOf(path.basename(fx.dep)));

  const row = page.locator('#recent tr', { hasText: path.basename(fx.tree) });
  const [download] = await Promise.all([page.waitForEvent('download'), row.locator('a.nar').click()]);
  expect(download.suggestedFilename()).toBe(`${path.basename(fx.tree)}.nar`);
  const saved = path.join(await makeTempDir('download'), 'tree.nar');
  await download.saveAs(saved);
  expect((await readFile(saved)).equals((await runNixTool('nix-store', ['--dump', fx.tree], fx.env)).stdoutBytes)).toBe(true);
});

test('tree pages have breadcrumbs, and symlinks inside the path are links', async () => {
  const { fx, server, page } = await setup();
  await page.goto(`${server.url}/ui/${hashPart(fx.tree)}/tree/sub/deeper`);
  await page.screenshot({ path: path.join(ARTIFACTS, '4-breadcrumbs.png') });
  expect(await page.locator('#breadcrumbs').textContent()).toBe(`${path.basename(fx.tree)} / sub / deeper`);
  await page.click('#breadcrumbs a:text-is("sub")');
  expect(page.url()).toBe(`${server.url}/ui/${hashPart(fx.tree)}/tree/sub`);
  await page.click(`#breadcrumbs a:text-is("${path.basename(fx.tree)}")`);
  expect(page.url()).toBe(`${server.url}/ui/${hashPart(fx.tree)}`);
  // tree/link -> run.sh
  await page.locator('#tree tr', { hasText: 'link' }).locator('a').click();
  expect(page.url()).toBe(`${server.url}/ui/${hashPart(fx.tree)}/tree/run.sh`);
  expect(await page.locator('main, body').first().textContent()).toContain('executable');
});
