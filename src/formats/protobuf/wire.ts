// Protobuf wire format, read and written directly. Generic decoders copy packed floats one call per value
// and drop fields they do not know; model files need the opposite on both counts: weights as views over
// the file bytes, and unknown fields kept verbatim so a round trip loses nothing.

export const enum WireType {
  VARINT = 0,
  I64 = 1,
  LEN = 2,
  SGROUP = 3,
  EGROUP = 4,
  I32 = 5,
}

/** Thrown on malformed bytes; readers turn it into a BncError that names the file and the message. */
export class WireError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
  }
}

const textDecoder = new TextDecoder('utf-8');
const textEncoder = new TextEncoder();

export class WireReader {
  pos: number;
  readonly end: number;
  private readonly view: DataView;

  /**
   * The reader owns `buf` and may move bytes inside it (see packedFixed). Only for a buffer nobody else
   * reads, such as a file's bytes just read from disk and decoded once, front to back.
   */
  readonly overwritable: boolean;

  constructor(readonly buf: Uint8Array, start = 0, end = buf.length, options: { overwritable?: boolean } = {}) {
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.overwritable = !!options.overwritable;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** Varint as an unsigned 32-bit number (higher bits discarded, as protobuf does for uint32). */
  uint32(): number {
    let result = 0;
    let shift = 0;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) throw new WireError('truncated varint', start);
      const b = this.buf[this.pos++]!;
      if (shift < 32) result |= (b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
      if (shift > 63) throw new WireError('varint longer than 10 bytes', start);
    }
    return result >>> 0;
  }

  /** Varint as a signed 64-bit integer in a JS number (exact up to 2^53, saturating beyond). */
  int64(): number {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) throw new WireError('truncated varint', start);
      const b = this.buf[this.pos++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else if (shift < 64) hi |= (b & 0x7f) << (shift - 32);
      if (!(b & 0x80)) break;
      shift += 7;
      if (shift > 63) throw new WireError('varint longer than 10 bytes', start);
    }
    lo >>>= 0;
    if (hi & 0x80000000) {
      // two's complement negative
      const nlo = (~lo + 1) >>> 0;
      const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
      return -(nhi * 4294967296 + nlo);
    }
    return (hi >>> 0) * 4294967296 + lo;
  }

  /** Varint as its exact unsigned 64-bit value (int64 tensor data beyond 2^53, such as INT64_MAX, stays exact). */
  uint64Big(): bigint {
    let result = 0n;
    let shift = 0n;
    const start = this.pos;
    for (;;) {
      if (this.pos >= this.end) throw new WireError('truncated varint', start);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7n;
      if (shift > 63n) throw new WireError('varint longer than 10 bytes', start);
    }
    return BigInt.asUintN(64, result);
  }

  bool(): boolean {
    return this.uint32() !== 0;
  }

  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Length-delimited payload as a view (no copy). The length is checked against the buffer first. */
  bytes(): Uint8Array {
    const start = this.pos;
    const len = this.uint32();
    if (len > this.end - this.pos) {
      throw new WireError(`field length ${len} runs past the end of the data (${this.end - this.pos} bytes left)`, start);
    }
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  string(): string {
    return textDecoder.decode(this.bytes());
  }

  /** A sub-reader over a length-delimited field. */
  message(): WireReader {
    const b = this.bytes();
    return new WireReader(this.buf, b.byteOffset - this.buf.byteOffset, b.byteOffset - this.buf.byteOffset + b.length, { overwritable: this.overwritable });
  }

  tag(): { field: number; wire: number } {
    const start = this.pos;
    const t = this.uint32();
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 0) throw new WireError('field number 0 (not a valid protobuf message)', start);
    if (wire > 5) throw new WireError(`invalid wire type ${wire}`, start);
    return { field, wire };
  }

  skip(wire: number, depth = 0): void {
    switch (wire) {
      case WireType.VARINT:
        this.int64();
        return;
      case WireType.I64:
        this.need(8);
        this.pos += 8;
        return;
      case WireType.LEN:
        this.bytes();
        return;
      case WireType.I32:
        this.need(4);
        this.pos += 4;
        return;
      case WireType.SGROUP: {
        if (depth > 64) throw new WireError('groups nested too deeply', this.pos);
        for (;;) {
          const { wire: w } = this.tag();
          if (w === WireType.EGROUP) return;
          this.skip(w, depth + 1);
        }
      }
      default:
        throw new WireError(`unexpected wire type ${wire}`, this.pos);
    }
  }

  /** Skip the field whose tag started at `tagStart` and return its encoded bytes (tag included), as a view. */
  skipKeep(tagStart: number, wire: number): Uint8Array {
    this.skip(wire);
    return this.buf.subarray(tagStart, this.pos);
  }

  private need(n: number): void {
    if (this.end - this.pos < n) throw new WireError(`truncated: needed ${n} bytes`, this.pos);
  }

  /**
   * Packed fixed-width values (float, double, fixed32...) as a typed array. A view over the input when
   * the offset is aligned, else one bulk copy: never a per-element call. `tagStart` is where this field's
   * tag began: on an overwritable reader, a misaligned payload is moved back onto an aligned address over
   * its own tag and length bytes (already decoded, never read again) and viewed there, so large weights
   * cost no second copy of the file.
   */
  packedFixed<T extends Float32Array | Float64Array | Int32Array | Uint32Array>(
    ctor: { new (b: ArrayBufferLike, off: number, len: number): T; new (n: number): T; BYTES_PER_ELEMENT: number },
    tagStart?: number,
  ): T {
    const bytes = tagStart === undefined ? this.bytes() : this.alignedBytes(ctor.BYTES_PER_ELEMENT, tagStart);
    return viewAs(bytes, ctor);
  }

  /**
   * A length-delimited payload, on an overwritable reader moved to an address that is a multiple of
   * `alignment` when there is room between the field's tag (at `tagStart`) and the payload; as it is
   * otherwise. Typed-array views of it then need no copy.
   */
  alignedBytes(alignment: number, tagStart: number): Uint8Array {
    const bytes = this.bytes();
    const shift = bytes.byteOffset % alignment;
    const at = bytes.byteOffset - this.buf.byteOffset;
    if (shift === 0 || !this.overwritable || at - shift < tagStart) return bytes;
    this.buf.copyWithin(at - shift, at, at + bytes.length);
    return this.buf.subarray(at - shift, at - shift + bytes.length);
  }
}

/** Reinterpret little-endian bytes as a typed array: a view when aligned, otherwise one copy. */
export function viewAs<T extends Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | BigInt64Array | BigUint64Array>(
  bytes: Uint8Array,
  ctor: { new (b: ArrayBufferLike, off: number, len: number): T; new (n: number): T; BYTES_PER_ELEMENT: number },
): T {
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.length % size !== 0) throw new WireError(`${bytes.length} bytes is not a whole number of ${size}-byte values`, 0);
  const n = bytes.length / size;
  if (bytes.byteOffset % size === 0) return new ctor(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new ctor(copy.buffer, 0, n);
}

/**
 * Builds an encoded message as a list of chunks; large payloads (tensor bytes) are referenced, not copied,
 * until the single final concatenation.
 */
export class WireWriter {
  private chunks: Uint8Array[] = [];
  private scratch = new Uint8Array(256);
  private spos = 0;
  length = 0;

  private flushScratch(): void {
    if (this.spos > 0) {
      this.chunks.push(this.scratch.slice(0, this.spos));
      this.spos = 0;
    }
  }

  private ensure(n: number): void {
    if (this.spos + n > this.scratch.length) {
      this.flushScratch();
      if (n > this.scratch.length) this.scratch = new Uint8Array(n);
    }
  }

  private byte(b: number): void {
    this.scratch[this.spos++] = b;
    this.length++;
  }

  varint(value: number): this {
    this.ensure(10);
    if (value >= 0 && value < 0x80000000) {
      let v = value;
      while (v >= 0x80) {
        this.byte((v & 0x7f) | 0x80);
        v >>>= 7;
      }
      this.byte(v);
      return this;
    }
    // 64-bit path, two's complement for negatives; saturate beyond the int64 range.
    let big = BigInt(Math.trunc(Math.max(-9223372036854775808, Math.min(9223372036854775807, value))));
    if (big > 9223372036854775807n) big = 9223372036854775807n;
    if (big < 0n) big += 1n << 64n;
    while (big >= 0x80n) {
      this.byte(Number(big & 0x7fn) | 0x80);
      big >>= 7n;
    }
    this.byte(Number(big));
    return this;
  }

  tag(field: number, wire: WireType): this {
    return this.varint(field * 8 + wire);
  }

  uint(field: number, value: number): this {
    return this.tag(field, WireType.VARINT).varint(value);
  }

  float(field: number, value: number): this {
    this.tag(field, WireType.I32);
    this.ensure(4);
    new DataView(this.scratch.buffer).setFloat32(this.spos, value, true);
    this.spos += 4;
    this.length += 4;
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, WireType.I64);
    this.ensure(8);
    new DataView(this.scratch.buffer).setFloat64(this.spos, value, true);
    this.spos += 8;
    this.length += 8;
    return this;
  }

  /** Append raw bytes (no tag, no length): a view is kept, not copied. */
  raw(bytes: Uint8Array): this {
    if (bytes.length === 0) return this;
    if (bytes.length <= 64) {
      this.ensure(bytes.length);
      this.scratch.set(bytes, this.spos);
      this.spos += bytes.length;
    } else {
      this.flushScratch();
      this.chunks.push(bytes);
    }
    this.length += bytes.length;
    return this;
  }

  bytes(field: number, bytes: Uint8Array): this {
    return this.tag(field, WireType.LEN).varint(bytes.length).raw(bytes);
  }

  string(field: number, s: string): this {
    return this.bytes(field, textEncoder.encode(s));
  }

  /** Embed a sub-message written by `fill` as a length-delimited field. */
  message(field: number, fill: (w: WireWriter) => void): this {
    const sub = new WireWriter();
    fill(sub);
    this.tag(field, WireType.LEN).varint(sub.length);
    this.flushScratch();
    for (const c of sub.finishChunks()) this.chunks.push(c);
    this.length += sub.length;
    return this;
  }

  packedVarints(field: number, values: ArrayLike<number>): this {
    if (values.length === 0) return this;
    const sub = new WireWriter();
    for (let i = 0; i < values.length; i++) sub.varint(values[i]!);
    this.tag(field, WireType.LEN).varint(sub.length);
    this.flushScratch();
    for (const c of sub.finishChunks()) this.chunks.push(c);
    this.length += sub.length;
    return this;
  }

  /** Packed float/double/fixed values from a typed array: its bytes are referenced, not re-encoded. */
  packedFixed(field: number, values: Float32Array | Float64Array | Uint32Array | Int32Array): this {
    if (values.length === 0) return this;
    return this.bytes(field, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }

  finishChunks(): Uint8Array[] {
    this.flushScratch();
    return this.chunks;
  }

  finish(): Uint8Array {
    const chunks = this.finishChunks();
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

export function utf8(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}
