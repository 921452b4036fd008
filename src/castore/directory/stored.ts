// Reading back a Directory a database backend stored: the bytes are our own, so a failure is corruption, not bad input.
import { NarBridgeError } from '../../errors.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';
import { decodeDirectory } from '../wire.js';

/** The Directory in the row keyed `digest`; NB_ERR_STORAGE if it does not decode or is another Directory. */
export function decodeStoredDirectory(digest: B3Digest, bytes: Uint8Array): Directory {
  let directory: Directory;
  try {
    directory = decodeDirectory(bytes);
  } catch (err) {
    throw new NarBridgeError('NB_ERR_STORAGE', `directory store: row ${digest.toHex()} does not decode`, { cause: err });
  }
  if (!directory.digest().equals(digest)) {
    throw new NarBridgeError('NB_ERR_STORAGE', `directory store: row ${digest.toHex()} holds another directory`);
  }
  return directory;
}
