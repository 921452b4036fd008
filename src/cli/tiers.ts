// --composition FILE: far services put behind the store's own (near) ones. The file is TOML (or JSON, by its
// .json name), one optional table per service, each naming its far tier by service URL:
//   [blobs]        far = "grpc+http://10.0.0.2:9001"
//   [directories]  far = "grpc+http://10.0.0.2:9001"
//   [path_infos]   far = "grpc+http://10.0.0.2:9001"
import { readFile } from 'node:fs/promises';
import { parse as parseToml } from 'smol-toml';
import { TieredBlobService, TieredDirectoryService, type TierObserver } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { TieredPathInfoService, type Store } from '../store/index.js';
import { openServices } from './service-overrides.js';

const SERVICES = ['blobs', 'directories', 'path_infos'] as const;
type ServiceName = (typeof SERVICES)[number];
export type Composition = Partial<Record<ServiceName, string>>;

export async function readComposition(file: string): Promise<Composition> {
  let parsed: unknown;
  try {
    const text = await readFile(file, 'utf8');
    parsed = file.endsWith('.json') ? JSON.parse(text) : parseToml(text);
  } catch (err) {
    throw new NarBridgeError('NB_ERR_CONFIG', `cannot read composition file ${file}`, { cause: err });
  }
  const bad = (why: string) => new NarBridgeError('NB_ERR_CONFIG', `composition file ${file}: ${why}`);
  if (typeof parsed !== 'object' || parsed === null) throw bad('expected a table');
  const composition: Composition = {};
  for (const [name, table] of Object.entries(parsed)) {
    const service = SERVICES.find((s) => s === name);
    if (!service) throw bad(`unknown service [${name}] (known: ${SERVICES.join(', ')})`);
    if (typeof table !== 'object' || table === null) throw bad(`[${name}] must be a table`);
    for (const [key, value] of Object.entries(table)) {
      if (key !== 'far' || typeof value !== 'string') throw bad(`[${name}] takes only far = "URL"`);
      composition[service] = value;
    }
  }
  return composition;
}

interface TieredStore {
  readonly store: Store;
  close(): void;
}

/** Opens each far service (validated at startup, exit 2 on a bad URL) and puts it behind the near one. */
export async function withTiers(store: Store, composition: Composition, observer: TierObserver): Promise<TieredStore> {
  const far = await openServices({ blobs: composition.blobs, directories: composition.directories, pathInfos: composition.path_infos });
  const { blobs, directories, pathInfos } = far.services;
  return {
    store: {
      ...store,
      blobs: blobs ? new TieredBlobService(store.blobs, blobs, observer) : store.blobs,
      directories: directories ? new TieredDirectoryService(store.directories, directories, observer) : store.directories,
      pathInfos: pathInfos ? new TieredPathInfoService(store.pathInfos, pathInfos, observer) : store.pathInfos,
    },
    close: far.close,
  };
}
