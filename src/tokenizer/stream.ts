/**
 * Incremental detokenization: turns token ids into text as they are generated, holding back
 * the bytes of a character that is split across several byte-fallback tokens until it is
 * complete.
 */
import type { PieceOptions } from './tokenizer.js';

/** What the stream decoder needs from a tokenizer. */
export interface PieceSource {
  tokenToPieceBytes(id: number, opts?: PieceOptions): Uint8Array;
}

export interface StreamDecoderOptions {
  /** Render control and unknown tokens as their text. Default false. */
  special?: boolean;
  /**
   * Remove one leading space from the first token's piece. Default false: the stream usually
   * continues a prompt, where that space belongs to the text (llama.cpp's generation loop uses
   * lstrip 0). Pass true to get exactly `decode(ids)` of a whole sequence that encode() made.
   */
  stripLeadingSpace?: boolean;
}

export class StreamDecoder {
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private first = true;
  private readonly special: boolean;
  private readonly stripLeadingSpace: boolean;

  constructor(
    private readonly tokenizer: PieceSource,
    opts: StreamDecoderOptions = {},
  ) {
    this.special = opts.special ?? false;
    this.stripLeadingSpace = opts.stripLeadingSpace ?? false;
  }

  /**
   * Adds one token; returns the text completed by it (possibly ""). An incomplete UTF-8
   * sequence at the end is held back; bytes that can never form a character come out as U+FFFD.
   */
  push(id: number): string {
    const bytes = this.tokenizer.tokenToPieceBytes(id, {
      special: this.special,
      lstrip: this.first && this.stripLeadingSpace ? 1 : 0,
    });
    this.first = false;
    return bytes.length === 0 ? '' : this.decoder.decode(bytes, { stream: true });
  }

  /** Ends the stream: returns held-back bytes as U+FFFD (or "") and starts a new stream. */
  flush(): string {
    const rest = this.decoder.decode();
    this.first = true;
    return rest;
  }

  /** Drops held-back bytes and starts a new stream. */
  reset(): void {
    this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    this.first = true;
  }
}
