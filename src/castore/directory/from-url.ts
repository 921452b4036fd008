// DirectoryService from a URL: memory://, sqlite:///abs/file, postgresql://…, grpc+http://host:port, grpc+https://…,
// grpc+unix:///abs/socket.
import { POSTGRES_SCHEMES } from '../postgres.js';
import { grpcScheme, memoryScheme, postgresScheme, serviceFromUrl, sqliteScheme, type OpenedService, type SchemeTable } from '../service-url.js';
import { GrpcDirectoryService } from './grpc.js';
import { MemoryDirectoryService } from './memory.js';
import { PostgresDirectoryService } from './postgres.js';
import type { DirectoryService } from './service.js';
import { SqliteDirectoryService } from './sqlite.js';

const DIRECTORY_SCHEMES: SchemeTable<DirectoryService> = new Map([
  ['memory', memoryScheme<DirectoryService>(() => new MemoryDirectoryService())],
  ['sqlite', sqliteScheme<DirectoryService>((db) => new SqliteDirectoryService(db))],
  ['grpc', grpcScheme<DirectoryService>((connection) => new GrpcDirectoryService(connection))],
  ...POSTGRES_SCHEMES.map((scheme) => [scheme, postgresScheme<DirectoryService>((db) => PostgresDirectoryService.open(db))] as const),
]);

export function directoryServiceFromUrl(raw: string, schemes: SchemeTable<DirectoryService> = DIRECTORY_SCHEMES): Promise<OpenedService<DirectoryService>> {
  return serviceFromUrl(raw, schemes);
}
