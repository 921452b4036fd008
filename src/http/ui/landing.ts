// The landing page at `/`: what a visitor needs to use the cache (its URL and keys as nix.conf lines, a netrc
// hint when reads need a token, how to push), what the store holds, and the paths pushed most recently.
import type { FastifyRequest } from 'fastify';
import { castoreNarPath, type RecentPathInfos, type RegisteredPathInfo } from '../../store/index.js';
import { formatBytes } from '../format-bytes.js';
import { html, type Html } from './html.js';

/** What the store holds, as measured by the composition root. */
interface StoreTotals {
  readonly pathInfos: number;
  /** Sum of NarSize over every path: the bytes of NARs the store can serve. */
  readonly narBytes: number;
  /** Bytes of blobs kept (each distinct content, or chunk, once). */
  readonly blobBytes: number;
}

/** What the landing page shows beyond the request itself; every part is optional. */
export interface LandingFacts {
  /** Public halves of the keys the server signs with (`name:base64`): what clients put in trusted-public-keys. */
  readonly publicKeys?: readonly string[];
  /** A measurement the caller caches (it walks the store), shared with /metrics. */
  readonly totals?: () => Promise<StoreTotals>;
  readonly recent?: RecentPathInfos;
}

/** A screenful: enough to see that a push landed. */
const RECENT_PATHS = 20;

/** The URL a client reaches this server at, as the request came in (a proxy's X-Forwarded-Proto honoured). */
export function cacheUrl(request: FastifyRequest): string {
  const forwarded = request.headers['x-forwarded-proto'];
  const proto = (typeof forwarded === 'string' ? forwarded.split(',')[0]?.trim() : undefined) || request.protocol;
  return `${proto}://${request.host}`;
}

export async function landingPage(url: string, facts: LandingFacts, privateReads: boolean): Promise<Html> {
  const [totals, recent] = await Promise.all([facts.totals?.(), facts.recent?.recent(RECENT_PATHS)]);
  return html`${useSection(url, facts.publicKeys ?? [], privateReads)}
${totals ? totalsSection(totals) : null}
${recent ? recentSection(recent) : null}`;
}

function useSection(url: string, publicKeys: readonly string[], privateReads: boolean): Html {
  const host = new URL(url).hostname;
  const lines = [`substituters = ${url}`, ...(publicKeys.length > 0 ? [`trusted-public-keys = ${publicKeys.join(' ')}`] : [])];
  const keys =
    publicKeys.length > 0
      ? html`<p>Paths served here are signed with ${publicKeys.length === 1 ? 'the key' : 'the keys'} above.</p>`
      : html`<p>This server signs nothing itself (no <code>--signing-key-file</code>): clients check the signatures the uploaders made, so list the uploaders' public keys in <code>trusted-public-keys</code>.</p>`;
  const netrc = privateReads
    ? html`<p>Reads need a token. Add <code>netrc-file = /etc/nix/netrc</code> to nix.conf, and to that file:</p>
<pre id="netrc">machine ${host} password READ-TOKEN</pre>`
    : null;
  return html`<section id="use"><h2>Use this cache</h2>
<p>In <code>/etc/nix/nix.conf</code> (these replace Nix's defaults; write <code>extra-substituters</code> and <code>extra-trusted-public-keys</code> to keep them):</p>
<pre id="nix-conf">${lines.join('\n')}</pre>
${keys}
${netrc}
<p>Push a closure. The server decompresses every upload, so Nix's default <code>xz</code> only costs the pushing machine time (minutes for a few hundred MB): use <code>zstd</code>, or <code>none</code> on a fast link.</p>
<pre id="push">nix copy --to '${url}?compression=zstd' /nix/store/…</pre></section>`;
}

function totalsSection({ pathInfos, narBytes, blobBytes }: StoreTotals): Html {
  const ratio = blobBytes > 0 ? `${(narBytes / blobBytes).toFixed(2)}×` : '—';
  return html`<section><h2>Store</h2><table id="totals">
<tr><th>Store paths</th><td id="total-paths">${pathInfos.toLocaleString('en')}</td></tr>
<tr><th>NAR bytes represented</th><td id="total-nar">${formatBytes(narBytes)}</td></tr>
<tr><th>Bytes kept (file contents, each once)</th><td id="total-kept">${formatBytes(blobBytes)}</td></tr>
<tr><th>Dedup ratio</th><td id="total-ratio">${ratio}</td></tr>
</table></section>`;
}

function recentSection(recent: readonly RegisteredPathInfo[]): Html {
  if (recent.length === 0) return html`<section><h2>Recently pushed</h2><p>Nothing yet.</p></section>`;
  const rows = recent.map(({ info, registeredAt }) => {
    const when = registeredAt ? `${registeredAt.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '—';
    return html`<tr><td class="m"><a href="/ui/${info.storePath.hashPart}">${info.storePath.basename}</a></td><td>${formatBytes(info.narSize)}</td><td>${when}</td><td>${narLink(info.storePath.basename, info.node, info.narSize)}</td></tr>`;
  });
  return html`<section><h2>Recently pushed</h2><table id="recent"><tr><th>Path</th><th>NAR size</th><th>Registered</th><th></th></tr>${rows}</table></section>`;
}

/** A link downloading the path's NAR, rendered from the store, under the path's name. */
export function narLink(basename: string, ...nar: Parameters<typeof castoreNarPath>): Html {
  return html`<a class="nar" href="/${castoreNarPath(...nar)}" download="${basename}.nar">NAR</a>`;
}
