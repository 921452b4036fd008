// Parsing `--listen HOST:PORT` (IPv6 hosts in brackets).
import { NarBridgeError } from '../errors.js';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!host || !Number.isInteger(port) || port > 65535) {
    throw new NarBridgeError('NB_ERR_CONFIG', `--listen must be HOST:PORT, got '${text}'`);
  }
  return { host, port };
}

export function formatUrl({ host, port }: ListenAddress): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
