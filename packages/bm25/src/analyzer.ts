/**
 * Elasticsearch's `standard` analyzer: Unicode UAX#29 word segmentation (as Lucene's StandardTokenizer),
 * lowercase per code point (Java `Character.toLowerCase`), tokens longer than `maxTokenLength` split, no stop words.
 *
 * Pure-ASCII stretches go through a hand-written scanner implementing the UAX#29 rules that can apply to ASCII
 * (WB5-WB13b); anything else goes through `Intl.Segmenter`, with Lucene's token types on top (each Han or
 * Hiragana character is its own token; connector-only runs such as `___` are not tokens).
 */
export const DEFAULT_MAX_TOKEN_LENGTH = 255;

// Character classes for the ASCII scanner.
const OTHER = 0;
const LETTER = 1; // ALetter
const DIGIT = 2; // Numeric
const UNDERSCORE = 3; // ExtendNumLet
const MID_LETTER = 4; // ':' (MidLetter)
const MID_NUM = 5; // ',' ';' (MidNum)
const MID_NUM_LET = 6; // '.' and "'" (MidNumLet, Single_Quote)

const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z]/.test(ch)) ASCII_CLASS[c] = LETTER;
  else if (/[0-9]/.test(ch)) ASCII_CLASS[c] = DIGIT;
  else if (ch === '_') ASCII_CLASS[c] = UNDERSCORE;
  else if (ch === ':') ASCII_CLASS[c] = MID_LETTER;
  else if (ch === ',' || ch === ';') ASCII_CLASS[c] = MID_NUM;
  else if (ch === '.' || ch === "'") ASCII_CLASS[c] = MID_NUM_LET;
  else ASCII_CLASS[c] = OTHER;
}

function isWordChar(cls: number): boolean {
  return cls === LETTER || cls === DIGIT || cls === UNDERSCORE;
}

/** May `mid` join a `before` and an `after` character (WB6/WB7 for letters, WB11/WB12 for digits)? */
function joins(before: number, mid: number, after: number): boolean {
  if (before === LETTER && after === LETTER) return mid === MID_LETTER || mid === MID_NUM_LET;
  if (before === DIGIT && after === DIGIT) return mid === MID_NUM || mid === MID_NUM_LET;
  return false;
}

function pushToken(out: string[], token: string, maxTokenLength: number): void {
  if (token.length <= maxTokenLength) {
    out.push(token);
    return;
  }
  for (let i = 0; i < token.length; i += maxTokenLength) out.push(token.slice(i, i + maxTokenLength));
}

/** Scans an ASCII string (already lowercased) into word tokens. */
function scanAscii(text: string, out: string[], maxTokenLength: number): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const cls = ASCII_CLASS[text.charCodeAt(i)]!;
    if (!isWordChar(cls)) {
      i++;
      continue;
    }
    const start = i;
    let onlyUnderscore = cls === UNDERSCORE;
    let prev = cls;
    i++;
    while (i < n) {
      const c = ASCII_CLASS[text.charCodeAt(i)]!;
      if (isWordChar(c)) {
        if (c !== UNDERSCORE) onlyUnderscore = false;
        prev = c;
        i++;
        continue;
      }
      if (i + 1 < n && joins(prev, c, ASCII_CLASS[text.charCodeAt(i + 1)]!)) {
        i += 2; // the mid character and the letter/digit after it
        continue;
      }
      break;
    }
    if (!onlyUnderscore) pushToken(out, text.slice(start, i), maxTokenLength);
  }
}

const segmenter = new Intl.Segmenter('und', { granularity: 'word' });
const SPLIT_PER_CHAR = /[\p{Script=Han}\p{Script=Hiragana}]/u;
const CONNECTOR_ONLY = /^[\p{Pc}\u202F]+$/u;
const PICTOGRAPHIC = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;

/** Java's `Character.toLowerCase(int)` applied per code point (no context-dependent or multi-character mappings). */
function javaLowerCase(token: string): string {
  const lower = token.toLowerCase();
  if (lower.length === token.length && !/\u03C2/.test(lower)) return lower;
  let out = '';
  for (const ch of token) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x130) out += 'i';
    else if (cp === 0x3a3) out += '\u03C3';
    else {
      const l = ch.toLowerCase();
      out += [...l].length === 1 ? l : ch;
    }
  }
  return out;
}

const SOUTHEAST_ASIAN =
  /^[\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}\p{Script=New_Tai_Lue}\p{Script=Tai_Tham}\p{Script=Tai_Viet}]+$/u;

function scanUnicode(chunk: string, out: string[], maxTokenLength: number): void {
  // Lucene keeps a run of South-East Asian script as one token (no dictionary), where ICU splits it into words.
  let run = '';
  let runEnd = -1;
  const flushRun = () => {
    if (run) pushToken(out, run, maxTokenLength);
    run = '';
  };
  for (const seg of segmenter.segment(chunk)) {
    const s = seg.segment;
    if (seg.isWordLike && SOUTHEAST_ASIAN.test(s)) {
      if (run && runEnd !== seg.index) flushRun();
      run += s;
      runEnd = seg.index + s.length;
      continue;
    }
    flushRun();
    if (!seg.isWordLike) {
      if (PICTOGRAPHIC.test(s)) pushToken(out, s, maxTokenLength); // Lucene's EMOJI token type
      continue;
    }
    if (CONNECTOR_ONLY.test(s)) continue;
    if (SPLIT_PER_CHAR.test(s)) {
      // Lucene emits each ideograph / hiragana character on its own; other runs in the segment stay together.
      let run = '';
      for (const ch of s) {
        if (SPLIT_PER_CHAR.test(ch)) {
          if (run) pushToken(out, javaLowerCase(run), maxTokenLength);
          run = '';
          out.push(ch);
        } else run += ch;
      }
      if (run) pushToken(out, javaLowerCase(run), maxTokenLength);
      continue;
    }
    pushToken(out, javaLowerCase(s), maxTokenLength);
  }
  flushRun();
}

// eslint-disable-next-line no-control-regex
const NON_ASCII = /[^\x00-\x7F]/;
const WHITESPACE_RUN = /[ \t\n\r\f\v]+/;

/** The general path alone (Intl.Segmenter), exported for tests that check the ASCII scanner against it. */
export function analyzeWithSegmenter(text: string, maxTokenLength: number = DEFAULT_MAX_TOKEN_LENGTH): string[] {
  const out: string[] = [];
  for (const chunk of text.split(WHITESPACE_RUN)) if (chunk !== '') scanUnicode(chunk, out, maxTokenLength);
  return out;
}

/** Analyses text into index/query terms, in order (duplicates kept). */
export function analyze(text: string, maxTokenLength: number = DEFAULT_MAX_TOKEN_LENGTH): string[] {
  const out: string[] = [];
  if (!NON_ASCII.test(text)) {
    scanAscii(text.toLowerCase(), out, maxTokenLength);
    return out;
  }
  // Word boundaries always fall at ASCII whitespace, so pure-ASCII pieces keep the fast path.
  for (const chunk of text.split(WHITESPACE_RUN)) {
    if (chunk === '') continue;
    if (NON_ASCII.test(chunk)) scanUnicode(chunk, out, maxTokenLength);
    else scanAscii(chunk.toLowerCase(), out, maxTokenLength);
  }
  return out;
}
