// Whether two root nodes name the same contents: equal canonical encodings (digests, sizes, flags, targets).
import { Buffer } from 'node:buffer';
import type { Node } from './node.js';
import { encodeRootNode } from './wire.js';

const NO_NAME = new Uint8Array(0);

export function sameNode(a: Node, b: Node): boolean {
  return Buffer.from(encodeRootNode(NO_NAME, a)).equals(encodeRootNode(NO_NAME, b));
}
