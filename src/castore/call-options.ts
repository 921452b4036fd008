// What every service call may carry: the signal that abandons it.
export interface CallOptions {
  readonly signal?: AbortSignal;
}
