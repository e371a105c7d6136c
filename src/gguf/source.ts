/** Positioned reads over a file or an in-memory buffer. */
export interface ByteSource {
  readonly size: number;
  /** Fills dst with the bytes at [position, position + dst.length); returns bytes read. */
  readInto(position: number, dst: Uint8Array): number;
  close(): void;
  readonly path?: string;
}

// Reading a file by path is the platform's (src/platform/node.ts: FileSource).

export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    private bytes: Uint8Array,
    readonly path?: string,
  ) {
    this.size = bytes.length;
  }
  readInto(position: number, dst: Uint8Array): number {
    const end = Math.min(this.size, position + dst.length);
    const n = Math.max(0, end - position);
    dst.set(this.bytes.subarray(position, position + n));
    return n;
  }
  close(): void {}
}
