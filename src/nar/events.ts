// The flat event model shared by the NAR reader and writer: one event per node, plus 'end' to leave a directory.

/**
 * A NAR as a depth-first walk. `name` is null only for the root node; below the root, siblings come in strictly
 * ascending bytewise name order. Every 'directory' (the root included) is closed by exactly one 'end'.
 */
export type NarEvent<Contents = AsyncIterable<Uint8Array>> =
  | { readonly type: 'directory'; readonly name: Uint8Array | null }
  | { readonly type: 'end' }
  | {
      readonly type: 'file';
      readonly name: Uint8Array | null;
      readonly executable: boolean;
      /** Bytes; `contents` yields exactly this many. */
      readonly size: number;
      /** From readNar: views of the input, readable only until the next event is pulled. */
      readonly contents: Contents;
    }
  | { readonly type: 'symlink'; readonly name: Uint8Array | null; readonly target: Uint8Array };

/**
 * What writeNar takes: file contents may also be chunks already in memory, which it writes without awaiting anything
 * (a tree of small files read ahead in batches is then one await per batch, not several per file).
 */
export type NarOutputEvent = NarEvent<AsyncIterable<Uint8Array> | readonly Uint8Array[]>;
