import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Positioned reads over a file or an in-memory buffer. */
export interface ByteSource {
  readonly size: number;
  /** Fills dst with the bytes at [position, position + dst.length); returns bytes read. */
  readInto(position: number, dst: Uint8Array): number;
  close(): void;
  readonly path?: string;
}

export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number;
  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    try {
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }
  readInto(position: number, dst: Uint8Array): number {
    let done = 0;
    while (done < dst.length) {
      // Large reads are split: readSync takes at most 2 GiB at a time.
      const len = Math.min(dst.length - done, 1 << 30);
      const n = readSync(this.fd, dst, done, len, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(private bytes: Uint8Array) {
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
