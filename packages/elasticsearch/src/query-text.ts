// The text TAS-B reranks with, read from an Elasticsearch query: the full-text leaves (`match`, `match_phrase`,
// `multi_match`, `query_string`, `simple_query_string`, …) wherever they sit in compound queries, with the syntax of
// the query-string languages (operators, field prefixes, boosts, fuzziness, negated clauses) taken out.

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Leaves whose text sits under the field name (`{match: {title: 'x'}}` or `{match: {title: {query: 'x'}}}`). */
const BY_FIELD = new Set(['match', 'match_phrase', 'match_phrase_prefix', 'match_bool_prefix']);
/** Leaves whose text is their `query` (plain text). */
const PLAIN_QUERY = new Set(['multi_match', 'combined_fields']);
/** Leaves whose `query` is a query-string language. */
const QUERY_STRING = new Set(['query_string', 'simple_query_string']);

/**
 * Where compound queries keep the clauses that carry query text: `bool.filter`, `bool.must_not` and
 * `boosting.negative` are left out (they select or demote, they are not what the user asked for).
 */
const COMPOUND_CHILDREN: Record<string, readonly string[]> = {
  bool: ['must', 'should'],
  function_score: ['query'],
  script_score: ['query'],
  dis_max: ['queries'],
  constant_score: ['filter'],
  boosting: ['positive'],
  nested: ['query'],
  has_child: ['query'],
  has_parent: ['query'],
  pinned: ['organic'],
};

const MAX_DEPTH = 32;

function textOfByField(spec: unknown): string[] {
  if (!isObject(spec)) return [];
  const out: string[] = [];
  for (const value of Object.values(spec)) {
    if (typeof value === 'string') out.push(value);
    else if (isObject(value) && typeof value['query'] === 'string') out.push(value['query']);
  }
  return out;
}

/** The texts of one query node (and, through compound queries, of its children). */
function visit(node: unknown, depth: number, out: string[]): void {
  if (depth > MAX_DEPTH) return;
  if (Array.isArray(node)) {
    for (const child of node) visit(child, depth + 1, out);
    return;
  }
  if (!isObject(node)) return;
  for (const [kind, spec] of Object.entries(node)) {
    const children = COMPOUND_CHILDREN[kind];
    if (children) {
      if (isObject(spec)) for (const name of children) visit(spec[name], depth + 1, out);
    } else if (BY_FIELD.has(kind)) {
      out.push(...textOfByField(spec));
    } else if (PLAIN_QUERY.has(kind) && isObject(spec) && typeof spec['query'] === 'string') {
      out.push(spec['query']);
    } else if (QUERY_STRING.has(kind) && isObject(spec) && typeof spec['query'] === 'string') {
      out.push(queryStringText(spec['query']));
    }
  }
}

/**
 * The text of `match`, `match_phrase`, `multi_match`, `combined_fields`, `query_string` and `simple_query_string`
 * queries wherever they sit (`bool.must`/`should`, `function_score`, `script_score`, `dis_max`, `constant_score`,
 * `boosting.positive`, `nested`, `has_child`, `has_parent`, `pinned`), joined by a space, each distinct text once;
 * undefined when there is none (`term`, `range`, filters only). Filters, `must_not` and `boosting.negative` are not
 * query text.
 */
export function extractQueryText(query: unknown): string | undefined {
  const texts: string[] = [];
  visit(query, 0, texts);
  const distinct = [...new Set(texts.map((t) => t.replace(/\s+/g, ' ').trim()).filter((t) => t !== ''))];
  const text = distinct.join(' ');
  return text === '' ? undefined : text;
}

/** One lexical token of the query-string languages. */
type Token =
  | { kind: 'word'; text: string }
  | { kind: 'phrase'; text: string }
  | { kind: 'open' }
  | { kind: 'close' }
  | { kind: 'not' }
  | { kind: 'skip' };

const OPERATOR_WORDS = new Set(['AND', 'OR', 'NOT', '&&', '||']);

/** Splits query-string syntax into words, phrases, groups and negations; field prefixes, boosts and fuzziness go. */
function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = input.length;
  while (i < n) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(') {
      tokens.push({ kind: 'open' });
      i++;
    } else if (c === ')') {
      tokens.push({ kind: 'close' });
      i++;
      i = skipSuffix(input, i);
    } else if (c === '-' || c === '!') {
      tokens.push({ kind: 'not' });
      i++;
    } else if (c === '+' || c === '|' || c === '&') {
      i++;
    } else if (c === '"') {
      const end = input.indexOf('"', i + 1);
      const stop = end === -1 ? n : end;
      tokens.push({ kind: 'phrase', text: input.slice(i + 1, stop) });
      i = skipSuffix(input, stop + 1);
    } else if (c === '[' || c === '{') {
      // a range (`[1 TO 5]`): not text
      const close = input.slice(i).search(/[\]}]/);
      i = close === -1 ? n : i + close + 1;
      tokens.push({ kind: 'skip' });
    } else if (c === '/') {
      const end = input.indexOf('/', i + 1);
      i = end === -1 ? n : end + 1;
      tokens.push({ kind: 'skip' });
    } else {
      i = readWord(input, i, tokens);
    }
  }
  return tokens;
}

/** Skips a `^boost` or `~fuzziness` suffix. */
function skipSuffix(input: string, at: number): number {
  let i = at;
  while (i < input.length && (input[i] === '^' || input[i] === '~')) {
    i++;
    while (i < input.length && /[0-9.]/.test(input[i]!)) i++;
  }
  return i;
}

/** Reads a word (a `field:` prefix dropped, its suffixes skipped); `_exists_:f` and operator words add nothing. */
function readWord(input: string, start: number, tokens: Token[]): number {
  let i = start;
  let word = '';
  while (i < input.length && !/[\s()"^~[\]{}]/.test(input[i]!)) {
    if (input[i] === '\\' && i + 1 < input.length) {
      word += input[i + 1];
      i += 2;
      continue;
    }
    if (input[i] === ':') {
      // what came before was a field name (`title:`, `body.content:`)
      const field = word;
      word = '';
      i++;
      if (field === '_exists_') {
        while (i < input.length && !/[\s()]/.test(input[i]!)) i++;
        tokens.push({ kind: 'skip' });
        return i;
      }
      if (input[i] === '/') return i; // a regular expression follows: tokenize skips it
      continue;
    }
    word += input[i];
    i++;
  }
  i = skipSuffix(input, i);
  if (word === '' || OPERATOR_WORDS.has(word)) {
    if (word === 'NOT') tokens.push({ kind: 'not' });
    return i === start ? start + 1 : i;
  }
  const cleaned = word.replace(/[*?]+/g, ' ').trim();
  tokens.push(cleaned === '' ? { kind: 'skip' } : { kind: 'word', text: cleaned });
  return i;
}

/**
 * The words of a `query_string` / `simple_query_string` query: operators (`AND`, `OR`, `NOT`, `+`, `-`, `|`, `&&`,
 * `||`), field prefixes (`title:`), boosts (`^2`), fuzziness and proximity (`~2`), wildcards, ranges and regular
 * expressions removed, and negated words, phrases and groups (`-x`, `NOT "a b"`, `!(…)`) left out entirely, since
 * the user asked for documents without them.
 */
export function queryStringText(query: string): string {
  const tokens = tokenize(query);
  const words: string[] = [];
  let depth = 0;
  /** Group depth at which a negation is in force, or -1. */
  let negatedAt = -1;
  let pendingNot = false;
  for (const token of tokens) {
    if (token.kind === 'not') {
      pendingNot = true;
      continue;
    }
    if (token.kind === 'open') {
      if (pendingNot && negatedAt === -1) negatedAt = depth;
      pendingNot = false;
      depth++;
      continue;
    }
    if (token.kind === 'close') {
      depth = Math.max(0, depth - 1);
      if (negatedAt === depth) negatedAt = -1;
      continue;
    }
    const negated = pendingNot || negatedAt !== -1;
    pendingNot = false;
    if (negated || token.kind === 'skip') continue;
    words.push(token.text.trim());
  }
  return words
    .filter((w) => w !== '')
    .join(' ')
    .replace(/\s+/g, ' ');
}
