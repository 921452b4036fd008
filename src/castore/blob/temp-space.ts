// Temp space per process under a shared `tmp` folder: a CLI command opening the data dir of a live server must not
// touch the server's unfinished writes, yet what a crashed process left behind is removed by the next one.
//
// Each process writes in `<tmp>/<pid namespace>-<pid>-<start time>-<random>`. A folder is stale only when its
// process is known to be gone: same pid namespace (a pid means nothing across containers sharing a volume), and
// the pid is free or now names a process that started at another time (the pid was reused). Anything else, and
// any name not in this form, is kept: a leak is cheap, deleting a live writer's file is the bug this prevents.
// Start times come from /proc (Linux); without it a live pid is taken to be the writer, again erring on keeping.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const NAME = /^(\d+)-(\d+)-(\d+)-[0-9a-f]+$/;

/** Removes the stale temp spaces under `parent`, then makes this process's own and returns its path. */
export function claimTempSpace(parent: string): string {
  mkdirSync(parent, { recursive: true });
  const namespace = pidNamespace();
  for (const name of readdirSync(parent)) {
    const match = NAME.exec(name);
    if (match && match[1] === namespace && !isRunning(Number(match[2]), match[3]!)) {
      rmSync(join(parent, name), { recursive: true, force: true });
    }
  }
  const own = join(parent, `${namespace}-${process.pid}-${startTime(process.pid) ?? '0'}-${randomBytes(8).toString('hex')}`);
  mkdirSync(own);
  return own;
}

/** Whether `pid` may still be the process that started at `started` (a clock-tick count, or '0' if unknown). */
function isRunning(pid: number, started: string): boolean {
  try {
    process.kill(pid, 0); // signal 0: only checks that the pid exists (EPERM: it does, another user's)
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ESRCH') return false;
  }
  const now = startTime(pid);
  return now === null || started === '0' || now === started;
}

/** Field 22 of /proc/<pid>/stat, in clock ticks since boot; read after the last ')', as the name may hold one. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return /^\d+$/.test(fields[19] ?? '') ? fields[19]! : null;
  } catch {
    return null;
  }
}

/** The inode of this process's pid namespace ('0' where there are none to tell apart). */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}
