// OVSDB (RFC 7047) sends consecutive JSON texts on a stream with no delimiter. This splitter
// finds the end of each top-level object by tracking strings, escapes and brace depth. It works
// on bytes so that a multi-byte UTF-8 character split across chunks is decoded whole.

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export class JsonStreamSplitter {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  /** Feed a chunk; returns every complete JSON text it finished. */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (b === BACKSLASH) this.escaped = true;
        else if (b === QUOTE) this.inString = false;
        continue;
      }
      if (b === QUOTE) this.inString = true;
      else if (b === OPEN_BRACE || b === OPEN_BRACKET) this.depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth < 0) throw new Error('malformed JSON stream: unbalanced closing bracket');
        if (this.depth === 0) {
          out.push(this.take(chunk.subarray(start, i + 1)));
          start = i + 1;
        }
      } else if (this.depth === 0 && !isSpace(b)) {
        throw new Error(`malformed JSON stream: unexpected byte 0x${b.toString(16)} between messages`);
      }
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.depth > 0 || this.inString) this.keep(rest);
    }
    return out;
  }

  private keep(part: Buffer): void {
    this.pending.push(Buffer.from(part));
    this.pendingLength += part.length;
  }

  private take(last: Buffer): unknown {
    const whole = this.pendingLength === 0 ? last : Buffer.concat([...this.pending, last]);
    this.pending = [];
    this.pendingLength = 0;
    return JSON.parse(this.decoder.decode(whole));
  }
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}
