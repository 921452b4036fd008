// Content types for single files served from a store path, by extension; text we can't name is still text/plain.
const BY_EXTENSION: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  md: 'text/plain; charset=utf-8',
  nix: 'text/plain; charset=utf-8',
  sh: 'text/plain; charset=utf-8',
  c: 'text/plain; charset=utf-8',
  h: 'text/plain; charset=utf-8',
  py: 'text/plain; charset=utf-8',
  conf: 'text/plain; charset=utf-8',
  json: 'application/json',
  xml: 'application/xml',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css',
  js: 'text/javascript',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  pdf: 'application/pdf',
  gz: 'application/gzip',
  xz: 'application/x-xz',
  zst: 'application/zstd',
  tar: 'application/x-tar',
  zip: 'application/zip',
  so: 'application/octet-stream',
};

export function contentTypeFor(name: string, executable: boolean): string {
  const dot = name.lastIndexOf('.');
  const known = dot > 0 ? BY_EXTENSION[name.slice(dot + 1).toLowerCase()] : undefined;
  if (known) return known;
  // Extension-less executables in bin/ are mostly ELF; extension-less plain files mostly text.
  return executable ? 'application/octet-stream' : 'text/plain; charset=utf-8';
}
