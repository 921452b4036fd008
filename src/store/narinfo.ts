// PathInfo → the narinfo we serve. NARs are addressed by their root node, so serving one needs no lookup.
import { Buffer } from 'node:buffer';
import { decodeRootNode, encodeRootNode, type Node } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import type { NarInfo } from '../nix/index.js';
import type { PathInfo } from './path-info.js';

export const CASTORE_NAR_PREFIX = 'nar/tvix-castore/';
const EMPTY_NAME = new Uint8Array(0);
/** A root Node message is one name-less node: a few dozen bytes, or a symlink target (≤ 4 KiB). */
const MAX_NODE_TEXT = 8192;

export function castoreNarPath(node: Node, narSize: number): string {
  return `${CASTORE_NAR_PREFIX}${encodeNodeText(node)}?narsize=${narSize}`;
}

export function encodeNodeText(node: Node): string {
  return Buffer.from(encodeRootNode(EMPTY_NAME, node)).toString('base64url');
}

/** Decodes the `<base64url(Node)>` part of a castore NAR URL; the name inside must be empty. */
export function decodeNodeText(text: string): Node {
  if (text.length > MAX_NODE_TEXT || !/^[A-Za-z0-9_-]+$/.test(text)) {
    throw new NarBridgeError('NB_ERR_INVALID_NODE', 'NAR URL does not hold a base64url-encoded node');
  }
  const { name, node } = decodeRootNode(Buffer.from(text, 'base64url'));
  if (name.byteLength !== 0) throw new NarBridgeError('NB_ERR_INVALID_NODE', 'NAR URL node must have an empty name');
  return node;
}

/** The narinfo served for `info`: uncompressed NAR, so FileHash/FileSize equal NarHash/NarSize. */
export function narInfoFor(info: PathInfo): NarInfo {
  return {
    storePath: info.storePath,
    url: castoreNarPath(info.node, info.narSize),
    compression: 'none',
    fileHash: info.narHash,
    fileSize: info.narSize,
    narHash: info.narHash,
    narSize: info.narSize,
    references: [...info.references],
    ...(info.deriver ? { deriver: info.deriver } : {}),
    sigs: [...info.signatures],
    ...(info.ca ? { ca: info.ca } : {}),
  };
}
