// The browser view: the landing page and search at `/`, a page per store path (narinfo fields, references,
// referrers, signatures, file tree from the Directory graph) and single files served straight from their blobs,
// with Range.
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { nodeAt as nodeBelow, sliceBytes, type Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { formatContentAddress, parseStorePathHashPart, type StorePath } from '../../nix/index.js';
import type { PathInfo, Store } from '../../store/index.js';
import { formatBytes } from '../format-bytes.js';
import { parseRange } from '../range.js';
import { HASH_PART_PARAMS } from '../schemas.js';
import { contentTypeFor } from './file-types.js';
import { html, page, type Html } from './html.js';
import { cacheUrl, landingPage, narLink, type LandingFacts } from './landing.js';
import { symlinkInside } from './symlink-inside.js';

interface UiOptions {
  readonly store: Store;
  readonly landing?: LandingFacts;
  /** Reads need a token: the landing page then says how to give Nix one. */
  readonly privateReads?: boolean;
}

/** Search scans every PathInfo; this many hits is more than a page a person reads. */
const MAX_SEARCH_RESULTS = 200;
const utf8 = new TextDecoder();

interface PathRequest {
  Params: { hash: string; '*'?: string };
  Querystring: { download?: string };
}

export async function uiRoutes(app: FastifyInstance, { store, landing = {}, privateReads = false }: UiOptions): Promise<void> {
  const sendPage = (reply: FastifyReply, title: string, body: Html) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
      .send(page(title, body));

  const pathInfo = async (hash: string): Promise<PathInfo> => {
    const info = await store.pathInfos.get(parseStorePathHashPart(hash));
    if (!info) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'no such path');
    return info;
  };

  /** The node at `sub` (slash-separated, URL-decoded by Fastify) below the store path's root. */
  const nodeAt = async (root: Node, sub: string): Promise<Node> => {
    const node = await nodeBelow(store.directories, root, sub);
    if (!node) throw new NarBridgeError('NB_ERR_NOT_FOUND', 'no such file');
    return node;
  };

  app.get<{ Querystring: { q?: string } }>('/', async (request, reply) => {
    const q = (request.query.q ?? '').trim();
    if (q === '') return sendPage(reply, 'nar-bridge binary cache', await landingPage(cacheUrl(request), landing, privateReads));
    const hits: PathInfo[] = [];
    for await (const info of store.pathInfos.list()) {
      if (info.storePath.basename.includes(q)) hits.push(info);
      if (hits.length >= MAX_SEARCH_RESULTS) break;
    }
    hits.sort((a, b) => (a.storePath.name < b.storePath.name ? -1 : a.storePath.name > b.storePath.name ? 1 : 0));
    const rows = hits.map((i) => html`<li><a href="/ui/${i.storePath.hashPart}">${i.storePath.toAbsolute()}</a> (${formatBytes(i.narSize)})</li>`);
    return sendPage(
      reply,
      `Search: ${q}`,
      html`<p>${hits.length} found${hits.length >= MAX_SEARCH_RESULTS ? ' (first ones)' : ''}</p><ul id="results">${rows}</ul>`,
    );
  });

  app.get<PathRequest>('/ui/:hash', { schema: { params: HASH_PART_PARAMS } }, async (request, reply) => {
    const info = await pathInfo(request.params.hash);
    const referrers: PathInfo[] = [];
    for await (const other of store.pathInfos.list()) {
      if (other.references.some((r) => r.equals(info.storePath)) && !other.storePath.equals(info.storePath)) referrers.push(other);
    }
    const link = (p: { hashPart: string; toAbsolute(): string }) => html`<li><a href="/ui/${p.hashPart}">${p.toAbsolute()}</a></li>`;
    const body = html`<table>
<tr><th>StorePath</th><td class="m">${info.storePath.toAbsolute()}</td></tr>
<tr><th>NarHash</th><td class="m" id="narhash">${info.narHash.toString()}</td></tr>
<tr><th>NarSize</th><td>${formatBytes(info.narSize)} (${info.narSize.toLocaleString('en')} bytes)</td></tr>
<tr><th>Deriver</th><td class="m">${info.deriver?.basename ?? '—'}</td></tr>
<tr><th>CA</th><td class="m">${info.ca ? formatContentAddress(info.ca) : '—'}</td></tr>
<tr><th>NAR</th><td>${narLink(info.storePath.basename, info.node, info.narSize)} · <a href="/${info.storePath.hashPart}.narinfo">narinfo</a> · <a href="/${info.storePath.hashPart}.ls">listing</a></td></tr>
</table>
<h2>References (${info.references.length})</h2><ul id="references">${info.references.map(link)}</ul>
<h2>Referrers (${referrers.length})</h2><ul id="referrers">${referrers.map((r) => link(r.storePath))}</ul>
<h2>Signatures (${info.signatures.length})</h2><ul class="m">${info.signatures.map((s) => html`<li>${s.toString()}</li>`)}</ul>
<h2>Files</h2>${await treeView(info, '')}`;
    return sendPage(reply, info.storePath.basename, body);
  });

  app.get<PathRequest>('/ui/:hash/tree/*', async (request, reply) => {
    const info = await pathInfo(request.params.hash);
    const sub = request.params['*'] ?? '';
    return sendPage(reply, `${info.storePath.basename}/${sub}`, html`${breadcrumbs(info.storePath, sub)}${await treeView(info, sub)}`);
  });

  const treeView = async (info: PathInfo, sub: string): Promise<Html> => {
    const node = await nodeAt(info.node, sub);
    const base = `/ui/${info.storePath.hashPart}`;
    const href = (kind: 'tree' | 'file', path: string) => `${base}/${kind}/${path.split('/').map(encodeURIComponent).join('/')}`;
    /** The target, linked to its page when it points inside this store path. */
    const target = (at: string, bytes: Uint8Array) => {
      const text = utf8.decode(bytes);
      const inside = symlinkInside(info.storePath, at, text);
      if (inside === null) return html`<code>${text}</code>`;
      return html`<a class="m" href="${inside === '' ? base : href('tree', inside)}">${text}</a>`;
    };
    if (node.kind === 'symlink') return html`<p>symlink → ${target(sub, node.target.bytes)}</p>`;
    if (node.kind === 'file') {
      return html`<p>file, ${formatBytes(node.size)}${node.executable ? ', executable' : ''}: <a href="${href('file', sub)}">view</a> · <a href="${href('file', sub)}?download=1">download</a></p>`;
    }
    const directory = await store.directories.get(node.digest);
    if (!directory) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', 'directory is missing');
    // biome-ignore lint/suspicious/useIterableCallbackReturn: the switch below covers every node kind (TypeScript checks it)
    const rows = directory.entries.map(({ name, node: child }) => {
      const display = utf8.decode(name.bytes);
      const path = sub === '' ? display : `${sub.replace(/\/$/, '')}/${display}`;
      switch (child.kind) {
        case 'directory':
          return html`<tr><td class="m"><a href="${href('tree', path)}">${display}/</a></td><td></td></tr>`;
        case 'file':
          return html`<tr><td class="m"><a href="${href('file', path)}">${display}</a></td><td>${formatBytes(child.size)}${child.executable ? ' (x)' : ''} <a href="${href('file', path)}?download=1" aria-label="download ${display}">⤓</a></td></tr>`;
        case 'symlink':
          return html`<tr><td class="m">${display}</td><td>→ ${target(path, child.target.bytes)}</td></tr>`;
      }
    });
    return html`<table id="tree">${rows}</table>`;
  };

  app.get<PathRequest>('/ui/:hash/file/*', async (request, reply) => {
    const info = await pathInfo(request.params.hash);
    const sub = request.params['*'] ?? '';
    const node = await nodeAt(info.node, sub);
    if (node.kind !== 'file') throw new NarBridgeError('NB_ERR_NOT_FOUND', 'not a regular file');
    const name =
      sub
        .split('/')
        .filter((p) => p !== '')
        .at(-1) ?? info.storePath.name;
    reply
      .type(contentTypeFor(name, node.executable))
      .header('accept-ranges', 'bytes')
      // Store contents are untrusted: never let an HTML file run script on this origin, nor be sniffed into one.
      .header('content-security-policy', 'sandbox')
      .header('x-content-type-options', 'nosniff')
      .header('content-disposition', `${request.query.download ? 'attachment' : 'inline'}; filename*=UTF-8''${encodeURIComponent(name)}`);
    const range = parseRange(request.headers.range, node.size);
    if (range.kind === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${node.size}`).send();
    }
    // A range is read from its start: the blob service skips what comes before (chunks and all).
    const { start, end } = range.kind === 'range' ? range.range : { start: 0, end: node.size - 1 };
    const contents = await store.blobs.openRead(node.digest, { offset: start });
    if (!contents) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', 'file contents are missing');
    if (range.kind === 'range') {
      reply
        .code(206)
        .header('content-range', `bytes ${start}-${end}/${node.size}`)
        .header('content-length', String(end - start + 1));
      return reply.send(Readable.from(sliceBytes(contents, 0, end - start + 1), { objectMode: false }));
    }
    return reply.header('content-length', String(node.size)).send(Readable.from(contents, { objectMode: false }));
  });
}

/** `basename / a / b`, each part but the last linking to its page. */
function breadcrumbs(storePath: StorePath, sub: string): Html {
  const parts = sub.split('/').filter((p) => p !== '');
  const base = `/ui/${storePath.hashPart}`;
  const links = parts.map((part, i) => {
    if (i === parts.length - 1) return html` / <span>${part}</span>`;
    return html` / <a href="${base}/tree/${parts
      .slice(0, i + 1)
      .map(encodeURIComponent)
      .join('/')}">${part}</a>`;
  });
  return html`<nav id="breadcrumbs" class="m"><a href="${base}">${storePath.basename}</a>${links}</nav>`;
}
