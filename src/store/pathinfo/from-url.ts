// PathInfoService from a URL: memory://, sqlite:///abs/file, postgresql://…, grpc+http://host:port, grpc+https://…,
// grpc+unix:///abs/socket.
import {
  grpcScheme,
  memoryScheme,
  POSTGRES_SCHEMES,
  postgresScheme,
  serviceFromUrl,
  sqliteScheme,
  type OpenedService,
  type SchemeTable,
} from '../../castore/index.js';
import { GrpcPathInfoService } from './grpc.js';
import { MemoryPathInfoService } from './memory.js';
import type { PathInfoService } from './service.js';
import { PostgresPathInfoService } from './postgres.js';
import { SqlitePathInfoService } from './sqlite.js';

const PATH_INFO_SCHEMES: SchemeTable<PathInfoService> = new Map([
  ['memory', memoryScheme<PathInfoService>(() => new MemoryPathInfoService())],
  ['sqlite', sqliteScheme<PathInfoService>((db) => new SqlitePathInfoService(db))],
  ['grpc', grpcScheme<PathInfoService>((connection) => new GrpcPathInfoService(connection))],
  ...POSTGRES_SCHEMES.map((scheme) => [scheme, postgresScheme<PathInfoService>((db) => PostgresPathInfoService.open(db))] as const),
]);

export function pathInfoServiceFromUrl(raw: string, schemes: SchemeTable<PathInfoService> = PATH_INFO_SCHEMES): Promise<OpenedService<PathInfoService>> {
  return serviceFromUrl(raw, schemes);
}
