// Canonical protobuf for the castore model (tvix.castore.v1), and conversions to and from protobufjs messages.
//
// Digests are blake3 over the *canonical* encoding: fields in number order, default values (0, false, empty)
// left out, nothing else. That is written by hand below, so no protobufjs default-handling quirk can change a
// digest. Decoding uses the generated reader and then validates everything into model types.
import { NarBridgeError } from '../errors.js';
import { tvix } from '../proto/index.js';
import { B3Digest, blake3 } from './digest.js';
import { type Directory, DirectoryBuilder } from './directory.js';
import { uint64ToNumber } from './grpc/uint64.js';
import { checkNode, type DirectoryEntry, type Node } from './node.js';
import { PathComponent } from './path-component.js';
import { SymlinkTarget } from './symlink-target.js';

type ProtoDirectory = tvix.castore.v1.Directory.$Properties;
type ProtoDirectoryNode = tvix.castore.v1.DirectoryNode.$Properties;
type ProtoFileNode = tvix.castore.v1.FileNode.$Properties;
type ProtoSymlinkNode = tvix.castore.v1.SymlinkNode.$Properties;
type ProtoNode = tvix.castore.v1.Node.$Properties;

/**
 * Largest Directory message we encode or accept (~500k entries). It bounds memory per message from an
 * untrusted peer; a directory bigger than this is refused at ingest rather than stored unreadable.
 */
export const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
/** Largest root Node message accepted: a 255-byte name plus a 4095-byte symlink target fit many times over. */
export const MAX_ROOT_NODE_BYTES = 16 * 1024;

/** Field numbers shared by Directory's three lists and Node's oneof. */
const KIND_FIELD = { directory: 1, file: 2, symlink: 3 } as const;
const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const EMPTY = new Uint8Array(0);

// ---- canonical encoding ----------------------------------------------------------------------------------

function varintLength(n: number): number {
  let length = 1;
  for (let rest = n; rest >= 0x80; rest = Math.floor(rest / 0x80)) length++;
  return length;
}

// All field numbers here are < 16, so every tag is one byte.
function bytesFieldLength(value: Uint8Array): number {
  return value.length === 0 ? 0 : 1 + varintLength(value.length) + value.length;
}

function varintFieldLength(value: number): number {
  return value === 0 ? 0 : 1 + varintLength(value);
}

function messageFieldLength(bodyLength: number): number {
  return 1 + varintLength(bodyLength) + bodyLength;
}

class CanonicalWriter {
  readonly bytes: Uint8Array;
  #pos = 0;

  constructor(length: number) {
    this.bytes = new Uint8Array(length);
  }

  varint(n: number): void {
    let rest = n;
    while (rest >= 0x80) {
      this.bytes[this.#pos++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.bytes[this.#pos++] = rest;
  }

  bytesField(field: number, value: Uint8Array): void {
    if (value.length === 0) return;
    this.varint((field << 3) | WIRE_LEN);
    this.varint(value.length);
    this.bytes.set(value, this.#pos);
    this.#pos += value.length;
  }

  varintField(field: number, value: number): void {
    if (value === 0) return;
    this.varint((field << 3) | WIRE_VARINT);
    this.varint(value);
  }

  messageHeader(field: number, bodyLength: number): void {
    this.varint((field << 3) | WIRE_LEN);
    this.varint(bodyLength);
  }

  finish(): Uint8Array {
    if (this.#pos !== this.bytes.length) throw new Error(`canonical encoder wrote ${this.#pos} of ${this.bytes.length} bytes`);
    return this.bytes;
  }
}

/** Length of a DirectoryNode / FileNode / SymlinkNode message body. */
function nodeBodyLength(name: Uint8Array, node: Node): number {
  switch (node.kind) {
    case 'directory':
      return bytesFieldLength(name) + bytesFieldLength(node.digest.bytes) + varintFieldLength(node.size);
    case 'file':
      return bytesFieldLength(name) + bytesFieldLength(node.digest.bytes) + varintFieldLength(node.size) + varintFieldLength(node.executable ? 1 : 0);
    case 'symlink':
      return bytesFieldLength(name) + bytesFieldLength(node.target.bytes);
  }
}

function writeNodeBody(w: CanonicalWriter, name: Uint8Array, node: Node): void {
  w.bytesField(1, name);
  switch (node.kind) {
    case 'directory':
      w.bytesField(2, node.digest.bytes);
      w.varintField(3, node.size);
      return;
    case 'file':
      w.bytesField(2, node.digest.bytes);
      w.varintField(3, node.size);
      w.varintField(4, node.executable ? 1 : 0);
      return;
    case 'symlink':
      w.bytesField(2, node.target.bytes);
      return;
  }
}

export function encodeDirectory(directory: Directory): Uint8Array {
  const bodyLengths = directory.entries.map((e) => nodeBodyLength(e.name.bytes, e.node));
  const total = bodyLengths.reduce((sum, body) => sum + messageFieldLength(body), 0);
  if (total > MAX_DIRECTORY_BYTES) {
    throw new NarBridgeError('NB_ERR_TOO_LARGE', `directory encodes to ${total} bytes, limit ${MAX_DIRECTORY_BYTES}`);
  }
  const w = new CanonicalWriter(total);
  // The three repeated fields in number order; each keeps the entries' global (sorted) order.
  for (const kind of ['directory', 'file', 'symlink'] as const) {
    directory.entries.forEach((entry, i) => {
      if (entry.node.kind !== kind) return;
      w.messageHeader(KIND_FIELD[kind], bodyLengths[i] ?? 0);
      writeNodeBody(w, entry.name.bytes, entry.node);
    });
  }
  return w.finish();
}

/** blake3(encodeDirectory(d)); use Directory.digest(), which caches this. */
export function directoryDigest(directory: Directory): B3Digest {
  return blake3(encodeDirectory(directory));
}

/** A tvix.castore.v1.Node message (the oneof wrapper). `name` may be empty, as in narinfo URLs. */
export function encodeRootNode(name: Uint8Array, node: Node): Uint8Array {
  checkNode(node);
  const body = nodeBodyLength(name, node);
  const w = new CanonicalWriter(messageFieldLength(body));
  w.messageHeader(KIND_FIELD[node.kind], body); // a set oneof member is written even when empty
  writeNodeBody(w, name, node);
  return w.finish();
}

// ---- decoding (untrusted) ----------------------------------------------------------------------------------

function decodeProto<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    throw new NarBridgeError('NB_ERR_INVALID_NODE', `malformed ${what} message`, { cause: err });
  }
}

/** Untrusted bytes → Directory; throws typed errors for bad names, order, duplicates, digests or targets. */
export function decodeDirectory(bytes: Uint8Array): Directory {
  if (bytes.length > MAX_DIRECTORY_BYTES) {
    throw new NarBridgeError('NB_ERR_TOO_LARGE', `directory message of ${bytes.length} bytes, limit ${MAX_DIRECTORY_BYTES}`);
  }
  return directoryFromProto(decodeProto('Directory', () => tvix.castore.v1.Directory.decode(bytes)));
}

export function decodeRootNode(bytes: Uint8Array): { name: Uint8Array; node: Node } {
  if (bytes.length > MAX_ROOT_NODE_BYTES) {
    throw new NarBridgeError('NB_ERR_TOO_LARGE', `node message of ${bytes.length} bytes, limit ${MAX_ROOT_NODE_BYTES}`);
  }
  return nodeFromProto(decodeProto('Node', () => tvix.castore.v1.Node.decode(bytes)));
}

// ---- protobufjs messages ⇄ model (for gRPC transports and store/wire.ts) ------------------------------------

function directoryNodeFromProto(p: ProtoDirectoryNode): Node {
  return { kind: 'directory', digest: B3Digest.parse(p.digest ?? EMPTY), size: uint64ToNumber(p.size, 'directory size') };
}

function fileNodeFromProto(p: ProtoFileNode): Node {
  return {
    kind: 'file',
    digest: B3Digest.parse(p.digest ?? EMPTY),
    size: uint64ToNumber(p.size, 'file size'),
    executable: p.executable ?? false,
  };
}

function symlinkNodeFromProto(p: ProtoSymlinkNode): Node {
  return { kind: 'symlink', target: SymlinkTarget.parse(p.target ?? EMPTY) };
}

function entriesFromProto<P extends { name?: Uint8Array | null }>(
  list: readonly P[] | null | undefined,
  listName: string,
  toNode: (p: P) => Node,
): DirectoryEntry[] {
  const entries = (list ?? []).map((p) => ({ name: PathComponent.parse(p.name ?? EMPTY), node: toNode(p) }));
  for (let i = 1; i < entries.length; i++) {
    const [prev, next] = [entries[i - 1], entries[i]];
    if (prev && next && PathComponent.compare(prev.name, next.name) >= 0) {
      throw new NarBridgeError('NB_ERR_INVALID_NAME', `${listName} not sorted or has duplicate ${JSON.stringify(next.name.toString())}`);
    }
  }
  return entries;
}

/** Validates a decoded message into a Directory: each list sorted, names unique across all three. */
export function directoryFromProto(p: ProtoDirectory): Directory {
  const entries = [
    ...entriesFromProto(p.directories, 'directories', directoryNodeFromProto),
    ...entriesFromProto(p.files, 'files', fileNodeFromProto),
    ...entriesFromProto(p.symlinks, 'symlinks', symlinkNodeFromProto),
  ].sort((a, b) => PathComponent.compare(a.name, b.name));
  const builder = new DirectoryBuilder(); // rejects a name that appears in two lists
  for (const { name, node } of entries) builder.add(name, node);
  return builder.build();
}

function nodeBodyToProto(name: Uint8Array, node: Node): ProtoDirectoryNode & ProtoFileNode & ProtoSymlinkNode {
  // Defaults are left unset so protobufjs output matches the canonical encoding.
  const body: ProtoDirectoryNode & ProtoFileNode & ProtoSymlinkNode = name.length > 0 ? { name } : {};
  if (node.kind === 'symlink') return { ...body, target: node.target.bytes };
  if (node.size !== 0) body.size = node.size;
  if (node.kind === 'file' && node.executable) body.executable = true;
  return { ...body, digest: node.digest.bytes };
}

export function directoryToProto(directory: Directory): ProtoDirectory {
  const list = (kind: Node['kind']) => directory.entries.filter((e) => e.node.kind === kind).map((e) => nodeBodyToProto(e.name.bytes, e.node));
  return { directories: list('directory'), files: list('file'), symlinks: list('symlink') };
}

/** A decoded Node message → its name (unvalidated: roots may be unnamed or carry a store path basename) and node. */
export function nodeFromProto(p: ProtoNode): { name: Uint8Array; node: Node } {
  const set = [p.directory, p.file, p.symlink].filter((m) => m !== null && m !== undefined);
  if (set.length !== 1) throw new NarBridgeError('NB_ERR_INVALID_NODE', `Node must set exactly one of directory, file, symlink`);
  if (p.directory) return { name: p.directory.name ?? EMPTY, node: directoryNodeFromProto(p.directory) };
  if (p.file) return { name: p.file.name ?? EMPTY, node: fileNodeFromProto(p.file) };
  if (p.symlink) return { name: p.symlink.name ?? EMPTY, node: symlinkNodeFromProto(p.symlink) };
  throw new NarBridgeError('NB_ERR_INVALID_NODE', 'Node sets no member');
}

export function nodeToProto(name: Uint8Array, node: Node): ProtoNode {
  checkNode(node);
  return { [node.kind]: nodeBodyToProto(name, node) };
}
