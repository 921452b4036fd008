// Which of this test process's children are still running a given program, to check none outlives its request.
import { execFileSync } from 'node:child_process';

export function childrenNamed(program: string): string[] {
  try {
    return execFileSync('pgrep', ['-P', String(process.pid), '-x', program], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}
