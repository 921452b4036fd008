// Test helper run as its own process (node --import tsx): pushes a NAR whose first part deduplicates against what the
// parent deleted, says "paused" on stdout once that part is in, waits for a line on stdin, then finishes the NAR and
// stores the path `newcomer`. It stands for a serve worker with a push in flight while another process collects.
import { createHash } from 'node:crypto';
import { once as onceEvent } from 'node:events';
import { readFile } from 'node:fs/promises';
import { openLocalStore } from '../../../src/cli/open-store.js';
import { composeStore, receiveNar, verifiedByIngest } from '../../../src/store/index.js';
import { storePath } from './fixture.js';

const [dataDir, narFile] = process.argv.slice(2);
if (!dataDir || !narFile) throw new Error('usage: slow-push-child DATA_DIR NAR_FILE');
const bytes = await readFile(narFile);
const local = await openLocalStore(dataDir);
const served = composeStore(local.store);
async function* slowBody() {
  yield bytes.subarray(0, bytes.length - 8); // the shared file is deduplicated by now
  process.stdout.write('paused\n');
  await onceEvent(process.stdin, 'data');
  yield bytes.subarray(bytes.length - 8);
}
const upload = await receiveNar(served, createHash('sha256').update(bytes).digest(), slowBody());
await served.pathInfos.putVerified(
  verifiedByIngest(
    { storePath: storePath('newcomer'), node: upload.node, narHash: upload.narHash, narSize: upload.narSize, references: [], signatures: [] },
    upload,
  ),
);
await local.packs?.flush();
local.close();
process.exit(0);
