import type * as protobuf from 'protobufjs';
import { BncError } from '../../ir/index.js';

// Protobuf text format (what .prototxt files are), parsed against the message types of proto/caffe.proto.
// The schema decides what a value means: an identifier is an enum value, `1` in a float field is a float,
// a repeated field collects every occurrence. Unknown `*_param` blocks (custom Caffe forks) are kept
// generically and reported as warnings; any other unknown field is an error with its line and column.

/** A parsed message: field name → value (arrays for repeated fields). Positions are kept for messages. */
export interface TextMessage {
  [field: string]: TextValue | TextValue[] | undefined;
}
export type TextValue = string | number | boolean | TextMessage;

/** Where a message started in the file, for error messages of later stages (non-enumerable). */
export function lineOf(message: object): number | undefined {
  return (message as { [POSITION]?: number })[POSITION];
}
const POSITION = Symbol('line');

/** Unknown fields met while parsing, by field name, kept as generic values (non-enumerable). */
export function unknownFieldsOf(message: object): Map<string, GenericValue[]> | undefined {
  return (message as { [UNKNOWN]?: Map<string, GenericValue[]> })[UNKNOWN];
}
const UNKNOWN = Symbol('unknown');
/** A value parsed without a schema: a scalar token's text, or a list of (name, value) pairs. */
export type GenericValue = string | [string, GenericValue][];

export interface TextParseOptions {
  file?: string;
  warn?: (message: string) => void;
  /** Fields a message type cannot declare itself (a fork's field whose number another Caffe uses), by name. */
  extraField?: (type: protobuf.Type, name: string) => protobuf.Field | undefined;
}

type TokenKind = 'ident' | 'number' | 'string' | 'punct' | 'eof';
interface Token {
  kind: TokenKind;
  text: string;
  /** Decoded string value for 'string' tokens. */
  value?: string;
  line: number;
  col: number;
}

const PUNCT = new Set(['{', '}', '<', '>', ':', '[', ']', ',', ';', '-']);

class Lexer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: Token | undefined;

  constructor(private readonly src: string, private readonly file: string) {}

  error(at: { line: number; col: number }, message: string): BncError {
    return new BncError(`${this.file}:${at.line}:${at.col}: ${message}`, { file: this.file, code: 'SYNTAX' });
  }

  peek(): Token {
    return (this.peeked ??= this.scan());
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private skipSpaceAndComments(): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '\n') {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.pos++;
      } else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else break;
    }
  }

  private scan(): Token {
    this.skipSpaceAndComments();
    const s = this.src;
    const line = this.line;
    const col = this.pos - this.lineStart + 1;
    if (this.pos >= s.length) return { kind: 'eof', text: 'end of file', line, col };
    const start = this.pos;
    const c = s[this.pos]!;
    if (/[A-Za-z_]/.test(c)) {
      while (this.pos < s.length && /[A-Za-z0-9_.]/.test(s[this.pos]!)) this.pos++;
      return { kind: 'ident', text: s.slice(start, this.pos), line, col };
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[this.pos + 1] ?? ''))) {
      // Number: decimal, float with exponent, hex, octal; a trailing f/F is allowed on floats.
      if (c === '0' && /[xX]/.test(s[this.pos + 1] ?? '')) {
        this.pos += 2;
        while (this.pos < s.length && /[0-9A-Fa-f]/.test(s[this.pos]!)) this.pos++;
      } else {
        while (this.pos < s.length && /[0-9]/.test(s[this.pos]!)) this.pos++;
        if (s[this.pos] === '.') {
          this.pos++;
          while (this.pos < s.length && /[0-9]/.test(s[this.pos]!)) this.pos++;
        }
        if (/[eE]/.test(s[this.pos] ?? '') && /[-+0-9]/.test(s[this.pos + 1] ?? '')) {
          this.pos += 2;
          while (this.pos < s.length && /[0-9]/.test(s[this.pos]!)) this.pos++;
        }
        if (/[fF]/.test(s[this.pos] ?? '')) this.pos++;
      }
      if (this.pos < s.length && /[A-Za-z0-9_]/.test(s[this.pos]!)) {
        throw this.error({ line, col }, `expected a number, found '${s.slice(start, this.pos + 1)}'`);
      }
      return { kind: 'number', text: s.slice(start, this.pos), line, col };
    }
    if (c === '"' || c === "'") return this.scanString(c, line, col);
    if (PUNCT.has(c)) {
      this.pos++;
      return { kind: 'punct', text: c, line, col };
    }
    throw this.error({ line, col }, `unexpected character '${c}'`);
  }

  private scanString(quote: string, line: number, col: number): Token {
    const s = this.src;
    const start = this.pos;
    this.pos++;
    let out = '';
    // Escapes produce bytes (\xHH, \ooo) or characters; collected as UTF-8 bytes and decoded at the end.
    const bytes: number[] = [];
    const flushText = () => {
      if (out) {
        bytes.push(...new TextEncoder().encode(out));
        out = '';
      }
    };
    for (;;) {
      if (this.pos >= s.length || s[this.pos] === '\n') {
        throw this.error({ line, col }, `expected a closing ${quote}, found ${this.pos >= s.length ? 'end of file' : 'end of line'}`);
      }
      const ch = s[this.pos]!;
      if (ch === quote) {
        this.pos++;
        break;
      }
      if (ch !== '\\') {
        out += ch;
        this.pos++;
        continue;
      }
      const e = s[this.pos + 1] ?? '';
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
      if (e in simple) {
        out += simple[e];
        this.pos += 2;
      } else if (e === 'x' || e === 'X') {
        const m = /^[0-9A-Fa-f]{1,2}/.exec(s.slice(this.pos + 2, this.pos + 4));
        if (!m) throw this.error({ line: this.line, col: this.pos - this.lineStart + 1 }, `expected hex digits after \\x, found '${s[this.pos + 2] ?? ''}'`);
        flushText();
        bytes.push(parseInt(m[0], 16));
        this.pos += 2 + m[0].length;
      } else if (/[0-7]/.test(e)) {
        const m = /^[0-7]{1,3}/.exec(s.slice(this.pos + 1, this.pos + 4))!;
        flushText();
        bytes.push(parseInt(m[0], 8) & 0xff);
        this.pos += 1 + m[0].length;
      } else if (e === 'u' || e === 'U') {
        const len = e === 'u' ? 4 : 8;
        const hex = s.slice(this.pos + 2, this.pos + 2 + len);
        if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) {
          throw this.error({ line: this.line, col: this.pos - this.lineStart + 1 }, `expected ${len} hex digits after \\${e}, found '${hex}'`);
        }
        out += String.fromCodePoint(parseInt(hex, 16));
        this.pos += 2 + len;
      } else {
        throw this.error({ line: this.line, col: this.pos - this.lineStart + 1 }, `expected an escape sequence, found '\\${e}'`);
      }
    }
    flushText();
    const value = new TextDecoder().decode(Uint8Array.from(bytes));
    return { kind: 'string', text: s.slice(start, this.pos), value, line, col };
  }
}

/** Deepest nesting of blocks accepted (Caffe nets use 3 or 4). */
const MAX_NESTING = 100;

function describe(t: Token): string {
  if (t.kind === 'eof') return 'end of file';
  return `'${t.text}'`;
}

/**
 * Parse protobuf text format into a plain object for `type` (a protobufjs Type). Throws a BncError
 * `file:line:col: expected X, found Y` on the first syntax or type error.
 */
export function parseTextFormat(src: string, type: protobuf.Type, options: TextParseOptions = {}): TextMessage {
  const file = options.file ?? '<text>';
  const lex = new Lexer(src, file);
  const warn = options.warn ?? (() => undefined);
  const unknownSeen = new Map<string, { where: string; field: string; type: string; count: number }>();

  const expect = (text: string, what = `'${text}'`): Token => {
    const t = lex.next();
    if (t.kind !== 'punct' || t.text !== text) throw lex.error(t, `expected ${what}, found ${describe(t)}`);
    return t;
  };
  const accept = (text: string): boolean => {
    const t = lex.peek();
    if (t.kind === 'punct' && t.text === text) {
      lex.next();
      return true;
    }
    return false;
  };

  // Blocks opened and not yet closed: a hostile file of 100k '{' must fail cleanly, not overflow the stack.
  let depth = 0;
  const enter = (open: Token) => {
    if (++depth > MAX_NESTING) throw lex.error(open, `blocks nested more than ${MAX_NESTING} deep`);
  };

  function parseMessage(msgType: protobuf.Type, close: string | undefined, line: number): TextMessage {
    const out: TextMessage = {};
    Object.defineProperty(out, POSITION, { value: line, enumerable: false });
    for (;;) {
      const t = lex.peek();
      if (close === undefined ? t.kind === 'eof' : t.kind === 'punct' && t.text === close) {
        lex.next();
        return out;
      }
      if (t.kind === 'eof') throw lex.error(t, `expected '${close}' to close the message opened on line ${line}, found end of file`);
      if (t.kind !== 'ident') throw lex.error(t, `expected a field name, found ${describe(t)}`);
      lex.next();
      const field = msgType.fields[t.text] ?? options.extraField?.(msgType, t.text);
      if (!field) {
        const value = parseUnknownValue();
        const hint = t.text.endsWith('_param') ? 'a parameter block of a custom Caffe fork' : 'a field of a newer or custom Caffe';
        // One warning per field and message type (a fork's field repeats in every layer), then a count.
        const key = `${msgType.name}.${t.text}`;
        const seen = unknownSeen.get(key);
        if (seen) seen.count++;
        else {
          unknownSeen.set(key, { where: `${t.line}:${t.col}`, field: t.text, type: msgType.name, count: 1 });
          warn(`${file}:${t.line}:${t.col}: unknown field '${t.text}' in ${msgType.name} (${hint}); kept but not used`);
        }
        let unknown = unknownFieldsOf(out);
        if (!unknown) {
          unknown = new Map();
          Object.defineProperty(out, UNKNOWN, { value: unknown, enumerable: false });
        }
        const list = unknown.get(t.text) ?? [];
        list.push(value);
        unknown.set(t.text, list);
      } else {
        parseField(out, field, t);
      }
      // Fields may be separated by ',' or ';'.
      if (!accept(',')) accept(';');
    }
  }

  function store(out: TextMessage, field: protobuf.Field, value: TextValue): void {
    if (field.repeated) {
      const list = (out[field.name] as TextValue[] | undefined) ?? [];
      list.push(value);
      out[field.name] = list;
    } else {
      out[field.name] = value;
    }
  }

  function parseField(out: TextMessage, field: protobuf.Field, nameTok: Token): void {
    const resolved = field.resolve().resolvedType;
    const isMessage = resolved !== null && !('values' in resolved);
    if (isMessage) {
      accept(':');
      const parseOne = () => {
        const open = lex.next();
        if (open.kind !== 'punct' || (open.text !== '{' && open.text !== '<')) {
          throw lex.error(open, `expected '{' to open ${field.name}, found ${describe(open)}`);
        }
        enter(open);
        store(out, field, parseMessage(resolved as protobuf.Type, open.text === '{' ? '}' : '>', open.line));
        depth--;
      };
      if (accept('[')) {
        if (!accept(']')) {
          do parseOne();
          while (accept(','));
          expect(']');
        }
      } else parseOne();
      return;
    }
    expect(':', `':' after '${nameTok.text}'`);
    if (accept('[')) {
      if (!accept(']')) {
        do store(out, field, parseScalar(field));
        while (accept(','));
        expect(']');
      }
      return;
    }
    store(out, field, parseScalar(field));
  }

  function parseScalar(field: protobuf.Field): TextValue {
    const resolved = field.resolvedType;
    if (resolved && 'values' in resolved) return parseEnum(resolved as protobuf.Enum, field);
    switch (field.type) {
      case 'string':
      case 'bytes':
        return parseString(field);
      case 'bool':
        return parseBool(field);
      case 'float':
      case 'double':
        return parseFloat(field);
      default:
        return parseInteger(field);
    }
  }

  function parseString(field: protobuf.Field): string {
    let t = lex.next();
    if (t.kind !== 'string') throw lex.error(t, `expected a string for '${field.name}', found ${describe(t)}`);
    let value = t.value!;
    // Adjacent string literals concatenate.
    while ((t = lex.peek()).kind === 'string') value += lex.next().value!;
    return value;
  }

  function parseBool(field: protobuf.Field): boolean {
    const t = lex.next();
    if (t.kind === 'ident' && ['true', 'True', 't'].includes(t.text)) return true;
    if (t.kind === 'ident' && ['false', 'False', 'f'].includes(t.text)) return false;
    if (t.kind === 'number' && (t.text === '1' || t.text === '0')) return t.text === '1';
    throw lex.error(t, `expected true or false for '${field.name}', found ${describe(t)}`);
  }

  /** A number token, with an optional leading '-', and the identifiers inf/infinity/nan. */
  function numberToken(field: protobuf.Field, what: string): { neg: boolean; tok: Token } {
    const neg = accept('-');
    const tok = lex.next();
    if (tok.kind === 'number' || tok.kind === 'ident') return { neg, tok };
    throw lex.error(tok, `expected ${what} for '${field.name}', found ${describe(tok)}`);
  }

  function parseFloat(field: protobuf.Field): number {
    const { neg, tok } = numberToken(field, 'a number');
    let v: number;
    const lower = tok.text.toLowerCase();
    if (tok.kind === 'ident') {
      if (lower === 'inf' || lower === 'infinity' || lower === 'inff' || lower === 'infinityf') v = Infinity;
      else if (lower === 'nan' || lower === 'nanf') v = NaN;
      else throw lex.error(tok, `expected a number for '${field.name}', found ${describe(tok)}`);
    } else if (/^0[xX]/.test(tok.text)) {
      v = parseInt(tok.text.slice(2), 16);
    } else {
      v = Number(tok.text.replace(/[fF]$/, ''));
      if (Number.isNaN(v)) throw lex.error(tok, `expected a number for '${field.name}', found ${describe(tok)}`);
    }
    return neg ? -v : v;
  }

  function parseInteger(field: protobuf.Field): number {
    const { neg, tok } = numberToken(field, 'an integer');
    let v: number;
    if (/^0[xX][0-9A-Fa-f]+$/.test(tok.text)) v = parseInt(tok.text.slice(2), 16);
    else if (/^0[0-7]+$/.test(tok.text)) v = parseInt(tok.text.slice(1), 8);
    else if (/^[0-9]+$/.test(tok.text)) v = Number(tok.text);
    else throw lex.error(tok, `expected an integer for '${field.name}', found ${describe(tok)}`);
    if (neg && field.type.startsWith('u')) throw lex.error(tok, `expected a non-negative integer for '${field.name}', found '-${tok.text}'`);
    return neg ? -v : v;
  }

  function parseEnum(e: protobuf.Enum, field: protobuf.Field): number {
    const t = lex.peek();
    if (t.kind === 'ident') {
      lex.next();
      const v = e.values[t.text];
      if (v === undefined) {
        throw lex.error(t, `expected one of ${Object.keys(e.values).join(', ')} for '${field.name}', found ${describe(t)}`);
      }
      return v;
    }
    const { neg, tok } = numberToken(field, `one of ${Object.keys(e.values).join(', ')}`);
    if (!/^[0-9]+$/.test(tok.text)) throw lex.error(tok, `expected one of ${Object.keys(e.values).join(', ')} for '${field.name}', found ${describe(tok)}`);
    return neg ? -Number(tok.text) : Number(tok.text);
  }

  /** Value of a field the schema does not know: a scalar after ':', a message, or a list of either. */
  function parseUnknownValue(): GenericValue {
    const colon = accept(':');
    const t = lex.peek();
    if (t.kind === 'punct' && (t.text === '{' || t.text === '<')) return parseUnknownMessage();
    if (!colon) throw lex.error(t, `expected ':' or '{', found ${describe(t)}`);
    if (accept('[')) {
      const items: [string, GenericValue][] = [];
      if (!accept(']')) {
        do items.push(['', parseUnknownScalarOrMessage()]);
        while (accept(','));
        expect(']');
      }
      return items;
    }
    return parseUnknownScalarOrMessage();
  }

  function parseUnknownScalarOrMessage(): GenericValue {
    const t = lex.peek();
    if (t.kind === 'punct' && (t.text === '{' || t.text === '<')) return parseUnknownMessage();
    const neg = accept('-');
    const v = lex.next();
    if (v.kind === 'string') {
      let s = v.value!;
      while (lex.peek().kind === 'string') s += lex.next().value!;
      return s;
    }
    if (v.kind !== 'number' && v.kind !== 'ident') throw lex.error(v, `expected a value, found ${describe(v)}`);
    return (neg ? '-' : '') + v.text;
  }

  function parseUnknownMessage(): GenericValue {
    const open = lex.next();
    enter(open);
    const close = open.text === '{' ? '}' : '>';
    const fields: [string, GenericValue][] = [];
    for (;;) {
      const t = lex.next();
      if (t.kind === 'punct' && t.text === close) {
        depth--;
        return fields;
      }
      if (t.kind !== 'ident') throw lex.error(t, t.kind === 'eof' ? `expected '${close}' to close the block opened on line ${open.line}, found end of file` : `expected a field name, found ${describe(t)}`);
      fields.push([t.text, parseUnknownValue()]);
      if (!accept(',')) accept(';');
    }
  }

  const message = parseMessage(type, undefined, 1);
  for (const u of unknownSeen.values()) {
    if (u.count > 1) warn(`${file}: unknown field '${u.field}' in ${u.type} appears ${u.count - 1} more time${u.count > 2 ? 's' : ''} after ${u.where} (not repeated above)`);
  }
  return message;
}
