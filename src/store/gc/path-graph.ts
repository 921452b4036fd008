// The store paths as a graph (references), loaded once per GC or deletion: which paths refer to which, what a pin
// keeps, what may go without leaving a retained path with an incomplete closure.
import { NarBridgeError } from '../../errors.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from '../pathinfo/service.js';
import { pathKey, type PathKey } from './tables.js';

export class PathGraph {
  readonly #referrers = new Map<PathKey, PathKey[]>();

  private constructor(readonly paths: ReadonlyMap<PathKey, PathInfo>) {
    for (const [key, info] of paths) {
      for (const ref of info.references) {
        const target = pathKey(ref.digest);
        if (target === key || !paths.has(target)) continue; // a self-reference keeps nothing alive but itself
        const list = this.#referrers.get(target) ?? [];
        list.push(key);
        this.#referrers.set(target, list);
      }
    }
  }

  static async load(pathInfos: PathInfoService): Promise<PathGraph> {
    const paths = new Map<PathKey, PathInfo>();
    for await (const info of pathInfos.list()) paths.set(pathKey(info.storePath.digest), info);
    return new PathGraph(paths);
  }

  referrers(key: PathKey): readonly PathKey[] {
    return this.#referrers.get(key) ?? [];
  }

  /** `keys` and everything they refer to, transitively (only paths held here). */
  closure(keys: Iterable<PathKey>): Set<PathKey> {
    return this.#reach(keys, (key) => (this.paths.get(key)?.references ?? []).map((ref) => pathKey(ref.digest)));
  }

  /** `keys` and every path referring to them, transitively. */
  referrerClosure(keys: Iterable<PathKey>): Set<PathKey> {
    return this.#reach(keys, (key) => this.referrers(key));
  }

  #reach(keys: Iterable<PathKey>, next: (key: PathKey) => readonly PathKey[]): Set<PathKey> {
    const seen = new Set<PathKey>();
    const todo = [...keys].filter((k) => this.paths.has(k));
    for (let key = todo.pop(); key !== undefined; key = todo.pop()) {
      if (seen.has(key)) continue;
      seen.add(key);
      for (const target of next(key)) if (this.paths.has(target) && !seen.has(target)) todo.push(target);
    }
    return seen;
  }

  basename(key: PathKey): string {
    return this.paths.get(key)?.storePath.basename ?? key;
  }
}

/**
 * The paths a deletion of `targets` removes: refused (NB_ERR_CONFLICT, with the reason) while a path that stays
 * refers to one of them, unless `recursive` takes those referrers too; refused for anything a pin keeps.
 */
export function planDeletion(graph: PathGraph, targets: readonly PathKey[], pins: Iterable<PathKey>, recursive: boolean): Set<PathKey> {
  for (const target of targets) if (!graph.paths.has(target)) throw new NarBridgeError('NB_ERR_NOT_FOUND', `${target} is not stored`);
  const doomed = recursive ? graph.referrerClosure(targets) : new Set(targets);
  const pinned = graph.closure(pins);
  for (const key of doomed) {
    if (pinned.has(key)) throw new NarBridgeError('NB_ERR_CONFLICT', `${graph.basename(key)} is pinned or in the closure of a pinned path`);
  }
  for (const key of doomed) {
    const kept = graph.referrers(key).find((r) => !doomed.has(r));
    if (kept !== undefined) {
      throw new NarBridgeError(
        'NB_ERR_CONFLICT',
        `${graph.basename(key)} is referenced by ${graph.basename(kept)}, which is kept; delete recursively to delete its referrers too`,
      );
    }
  }
  return doomed;
}

/** A binary heap, smallest `rank` first. */
class MinHeap<T> {
  readonly #items: T[] = [];
  constructor(private readonly rank: (item: T) => number) {}

  push(item: T): void {
    const items = this.#items;
    items.push(item);
    for (let i = items.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (this.rank(items[parent] as T) <= this.rank(item)) break;
      items[i] = items[parent] as T;
      items[parent] = item;
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < items.length && this.rank(items[l] as T) < this.rank(items[least] as T)) least = l;
      if (r < items.length && this.rank(items[r] as T) < this.rank(items[least] as T)) least = r;
      if (least === i) break;
      [items[i], items[least]] = [items[least] as T, items[i] as T];
      i = least;
    }
    return top;
  }
}

export interface RetentionPolicy {
  /** Evict least-recently-used paths until the NarSizes of those kept add up to at most this. */
  readonly maxSizeBytes?: number;
  /** Evict paths not looked up (or, never looked up, not registered) for this long. */
  readonly maxAgeMs?: number;
}

/**
 * Paths to evict, in eviction order: least recently used first, and a path only once nothing kept refers to it
 * (reverse-topological), so no kept narinfo ever has an incomplete closure. Pinned closures are never evicted.
 * `lastUsed` is a path's last access, else its registration time, else 0.
 */
export function planEviction(graph: PathGraph, policy: RetentionPolicy, pins: Iterable<PathKey>, lastUsed: (key: PathKey) => number, now: number): PathKey[] {
  const { maxSizeBytes, maxAgeMs } = policy;
  if (maxSizeBytes === undefined && maxAgeMs === undefined) return [];
  const pinned = graph.closure(pins);
  let size = 0;
  for (const info of graph.paths.values()) size += info.narSize;
  const wanted = (key: PathKey) => (maxAgeMs !== undefined && lastUsed(key) < now - maxAgeMs) || (maxSizeBytes !== undefined && size > maxSizeBytes);
  // Evictable: unpinned and no kept referrer. Always take the least recently used of those; evicting it may make its
  // references evictable (their last referrer gone).
  const keptReferrers = new Map<PathKey, number>();
  for (const key of graph.paths.keys()) keptReferrers.set(key, graph.referrers(key).length);
  const heap = new MinHeap<PathKey>(lastUsed);
  for (const [key, count] of keptReferrers) if (count === 0 && !pinned.has(key)) heap.push(key);
  const order: PathKey[] = [];
  for (let key = heap.pop(); key !== undefined && wanted(key); key = heap.pop()) {
    order.push(key);
    const info = graph.paths.get(key);
    size -= info?.narSize ?? 0;
    for (const ref of new Set((info?.references ?? []).map((r) => pathKey(r.digest)))) {
      const left = keptReferrers.get(ref);
      if (ref === key || left === undefined) continue;
      keptReferrers.set(ref, left - 1);
      if (left === 1 && !pinned.has(ref)) heap.push(ref);
    }
  }
  return order;
}
