// Copying a store to another set of services, one store path at a time, leaves first.
export { copyPath, type CopyEnd, type PathCopied } from './copy-path.js';
