#!/usr/bin/env node
// Entry point: load the TypeScript sources through tsx so `npx nar-bridge` works right after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
