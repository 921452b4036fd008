// gRPC's length-prefixed messages on an HTTP/2 stream: a flag byte (compressed or not), a 4-byte big-endian length,
// the message (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md, "Length-Prefixed-Message").
import { Buffer } from 'node:buffer';

const HEADER_BYTES = 5;

/** The framed bytes of one message, ready to write. */
export function frameMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(HEADER_BYTES + message.byteLength);
  framed[0] = 0; // never compressed: we announce only `identity`
  framed.writeUInt32BE(message.byteLength, 1);
  framed.set(message, HEADER_BYTES);
  return framed;
}

/** Why a peer's framing cannot be read; the caller turns it into a status. */
export class FramingError extends Error {
  constructor(
    readonly tooLarge: boolean,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Cuts DATA bytes into messages. A message that lies within one DATA chunk is returned as a view of it, without a
 * copy (the common case: our 256 KiB Read messages arrive in 16 KiB frames, but small ones fit one).
 */
export class MessageDecoder {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /** The whole messages now complete, in order. */
  push(chunk: Buffer): Buffer[] {
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    const messages: Buffer[] = [];
    for (;;) {
      if (this.#pendingBytes < HEADER_BYTES) break;
      const head = this.#peek(HEADER_BYTES);
      if (head[0] !== 0) throw new FramingError(false, 'peer sent a compressed message though we accept only identity');
      const length = head.readUInt32BE(1);
      if (length > this.maxMessageBytes) throw new FramingError(true, `peer sent a message of ${length} bytes, over the ${this.maxMessageBytes} limit`);
      if (this.#pendingBytes < HEADER_BYTES + length) break;
      messages.push(this.#take(HEADER_BYTES + length).subarray(HEADER_BYTES));
    }
    return messages;
  }

  /** Bytes left over when the stream ended: a truncated message. */
  get leftover(): number {
    return this.#pendingBytes;
  }

  #peek(count: number): Buffer {
    const first = this.#pending[0];
    if (first && first.byteLength >= count) return first;
    const joined = Buffer.concat(this.#pending);
    this.#pending = [joined];
    return joined;
  }

  #take(count: number): Buffer {
    const whole = this.#peek(count);
    const rest = whole.subarray(count);
    this.#pending[0] = rest;
    if (rest.byteLength === 0) this.#pending.shift();
    this.#pendingBytes -= count;
    return whole.subarray(0, count);
  }
}
