// HTML for the browser view: a tagged template that escapes every interpolated value unless it is already Html.
const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Markup we built ourselves; anything else interpolated into `html` is escaped. */
export class Html {
  constructor(readonly text: string) {}
}

type Part = Html | string | number | readonly Html[] | null | undefined;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(part: Part): string {
  if (part === null || part === undefined) return '';
  if (part instanceof Html) return part.text;
  if (Array.isArray(part)) return part.map((p: Html) => p.text).join('');
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < parts.length ? render(parts[i]) : ''), ''));
}

/** A whole page: no scripts, one small inline stylesheet, so it works (and renders fast) without JavaScript. */
export function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · nar-bridge</title>
<style>body{font:14px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em}code,pre,.m{font-family:ui-monospace,monospace}
table{border-collapse:collapse}td,th{padding:.2em .8em .2em 0;text-align:left;vertical-align:top}a{color:#1a5fb4}
pre{background:#f3f3f3;padding:.6em .8em;overflow-x:auto}ul.m{overflow-wrap:anywhere}nav{margin-bottom:1em}
input[type=search]{width:30em}</style></head>
<body><header><a href="/">nar-bridge</a> · <form style="display:inline" action="/" method="get"><input type="search" name="q" placeholder="name or hash" aria-label="search"> <button>Search</button></form></header>
<h1>${title}</h1>
${body}
</body></html>
`.text;
}
