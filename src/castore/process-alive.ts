// Whether a process id names a live process: how a lock or a pack left by a killed process is recognised.

/** True unless the process is certainly gone (a process of another user counts as alive). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !(err instanceof Error && 'code' in err && err.code === 'ESRCH');
  }
}
