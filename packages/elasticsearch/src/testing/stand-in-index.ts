// One index of the stand-in Elasticsearch: documents with any `_source` shape, a BM25 index (the embedded,
// Lucene-exact engine of @dotrank/bm25) per text field path, a mapping inferred as Elasticsearch's dynamic mapping
// would, and the query DSL subset tests need. Scores are BM25 per field as Lucene computes them on one shard; the
// way clauses combine follows Elasticsearch (bool sums, best_fields takes the best field plus tie_breaker, ...).
import { BM25Index } from '@dotrank/bm25';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An error Elasticsearch would answer with: HTTP status, error type and reason. */
export class StandInError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly reason: string,
    readonly extra: Json = {},
  ) {
    super(reason);
  }

  /** The body Elasticsearch sends: `{error: {root_cause, type, reason}, status}`. */
  body(): Json {
    const cause = { type: this.type, reason: this.reason, ...this.extra };
    return { error: { root_cause: [cause], ...cause }, status: this.status };
  }
}

export const parsingError = (reason: string) => new StandInError(400, 'parsing_exception', reason);
const unsupported = (what: string) =>
  new StandInError(400, 'parsing_exception', `[${what}] is not supported by the dotrank stand-in server`);

/** A document as given to the stand-in: its id and its `_source`, any shape. */
export interface StandInDocument {
  _id?: string;
  _source: Json;
}

/** Scores of the documents a query matches, by document id. */
type Scores = Map<string, number>;

/** Words as Lucene's standard analyzer sees them closely enough to decide `and` matching and phrases. */
export function roughTokens(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}_']+/u)
    .filter(Boolean);
}

/** Every leaf value at a path (arrays flattened, flat `a.b` keys and nested objects alike). */
export function valuesAt(source: unknown, path: string): unknown[] {
  const out: unknown[] = [];
  const visit = (value: unknown, rest: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v, rest);
      return;
    }
    if (rest === '') {
      if (value !== undefined && value !== null) out.push(value);
      return;
    }
    if (!isObject(value)) return;
    for (const [key, child] of Object.entries(value)) {
      if (rest === key) visit(child, '');
      else if (rest.startsWith(`${key}.`)) visit(child, rest.slice(key.length + 1));
    }
  };
  visit(source, path);
  return out;
}

/** Glob (`*` only) to a whole-string matcher. */
export function globMatcher(pattern: string): (s: string) => boolean {
  if (!pattern.includes('*')) return (s) => s === pattern;
  const re = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return (s) => re.test(s);
}
const escapeRegExp = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

type FieldType = 'text' | 'keyword' | 'long' | 'float' | 'boolean' | 'other';

/** Elasticsearch's dynamic mapping of one leaf value. */
function dynamicType(value: unknown): FieldType | undefined {
  if (typeof value === 'string') return 'text';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return Number.isInteger(value) ? 'long' : 'float';
  return undefined;
}

/** Leaf paths and their values of a `_source` (arrays flattened; paths through arrays of objects too). */
function leaves(source: Json): Map<string, unknown[]> {
  const out = new Map<string, unknown[]>();
  const visit = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v, path);
    } else if (isObject(value)) {
      for (const [key, child] of Object.entries(value)) visit(child, path ? `${path}.${key}` : key);
    } else if (value !== null && value !== undefined && path) {
      const list = out.get(path) ?? [];
      list.push(value);
      out.set(path, list);
    }
  };
  visit(source, '');
  return out;
}

const fround = Math.fround;

export interface StandInIndexDefinition {
  /** Explicit mapping properties (merged over the dynamic mapping: an analyzer, a keyword field, ...). */
  mappings?: { properties?: Json };
  settings?: Json;
}

export class StandInIndex {
  readonly docs = new Map<string, Json>();
  private readonly fieldTypes = new Map<string, FieldType>();
  /** Types of the explicit mapping by leaf path. */
  private readonly explicitTypes = new Map<string, FieldType>();
  private readonly textIndexes = new Map<string, BM25Index>();
  private nextId = 1;

  constructor(
    readonly name: string,
    readonly definition: StandInIndexDefinition = {},
  ) {
    const visit = (properties: unknown, prefix: string): void => {
      if (!isObject(properties)) return;
      for (const [key, spec] of Object.entries(properties)) {
        if (!isObject(spec)) continue;
        const path = prefix ? `${prefix}.${key}` : key;
        if (isObject(spec['properties'])) visit(spec['properties'], path);
        else if (typeof spec['type'] === 'string') this.explicitTypes.set(path, explicitType(spec['type']));
      }
    };
    visit(definition.mappings?.properties, '');
  }

  /** Adds or replaces one document; returns its id. */
  put(doc: StandInDocument): string {
    if (!isObject(doc._source)) throw new StandInError(400, 'mapper_parsing_exception', 'a document must be an object');
    const id = doc._id ?? `standin-${this.nextId++}`;
    if (this.docs.has(id)) this.remove(id);
    this.docs.set(id, doc._source);
    for (const [path, values] of leaves(doc._source)) {
      const type = this.explicitTypes.get(path) ?? this.fieldTypes.get(path) ?? dynamicType(values[0]);
      if (!type) continue;
      this.fieldTypes.set(path, type);
      if (type !== 'text') continue;
      let index = this.textIndexes.get(path);
      if (!index) this.textIndexes.set(path, (index = new BM25Index()));
      // an array is indexed as its values one after another, as Lucene does for a multi-valued field
      index.add({ id, text: values.map(String).join(' ') });
    }
    return id;
  }

  remove(id: string): boolean {
    if (!this.docs.delete(id)) return false;
    for (const index of this.textIndexes.values()) if (index.has(id)) index.delete(id);
    return true;
  }

  /** The text field paths, in the order they were first seen. */
  textFields(): string[] {
    return [...this.textIndexes.keys()];
  }

  /** The mapping as `GET /{index}/_mapping` gives it: dynamic types (strings as text + keyword) under explicit ones. */
  mapping(): Json {
    const properties: Json = {};
    for (const [path, type] of this.fieldTypes) {
      let node = properties;
      const parts = path.split('.');
      parts.slice(0, -1).forEach((part) => {
        const object = (node[part] ??= { properties: {} }) as Json;
        node = (object['properties'] ??= {}) as Json;
      });
      node[parts.at(-1)!] =
        type === 'text'
          ? { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } }
          : { type: type === 'other' ? 'object' : type };
    }
    return mergeMapping(properties, this.definition.mappings?.properties ?? {});
  }

  /** Evaluates a query clause: the documents it matches with their scores. */
  evaluate(query: unknown): Scores {
    if (query === undefined) return this.matchAll(1);
    if (!isObject(query)) throw parsingError('query malformed, must start with start_object');
    const kinds = Object.keys(query);
    if (kinds.length !== 1)
      throw parsingError(
        kinds.length === 0
          ? 'query malformed, empty clause found'
          : `[${kinds[1]}] malformed query, expected [END_OBJECT]`,
      );
    const kind = kinds[0]!;
    const spec = query[kind];
    switch (kind) {
      case 'match_all':
        return this.matchAll(boostOf(spec));
      case 'match_none':
        return new Map();
      case 'match':
      case 'match_phrase':
      case 'match_bool_prefix': {
        const [field, value] = singleField(kind, spec);
        const options = isObject(value) ? value : { query: value };
        const text = String(options['query'] ?? '');
        const phrase = kind === 'match_phrase';
        const operator = phrase ? 'and' : String(options['operator'] ?? 'or').toLowerCase();
        return scale(this.fieldScores(field, text, operator, phrase), boostOf(options));
      }
      case 'multi_match':
        return this.multiMatch(spec);
      case 'query_string':
      case 'simple_query_string':
        return this.queryString(kind, spec);
      case 'bool':
        return this.bool(spec);
      case 'term':
      case 'terms':
      case 'range':
      case 'exists':
      case 'ids':
        return this.constant((source, id) => this.filterMatches(kind, spec, source, id), boostOf(inner(spec)));
      case 'constant_score': {
        if (!isObject(spec) || spec['filter'] === undefined) throw parsingError('[constant_score] requires a filter');
        const matched = this.evaluate(spec['filter']);
        return new Map([...matched.keys()].map((id) => [id, fround(boostOf(spec))]));
      }
      case 'dis_max': {
        if (!isObject(spec) || !Array.isArray(spec['queries'])) throw parsingError('[dis_max] requires queries');
        return scale(
          combineBest(
            spec['queries'].map((q) => this.evaluate(q)),
            numberOr(spec['tie_breaker'], 0),
          ),
          boostOf(spec),
        );
      }
      case 'boosting': {
        if (!isObject(spec)) throw parsingError('[boosting] malformed');
        const positive = this.evaluate(spec['positive']);
        const negative = this.evaluate(spec['negative']);
        const factor = numberOr(spec['negative_boost'], 1);
        for (const id of negative.keys()) if (positive.has(id)) positive.set(id, fround(positive.get(id)! * factor));
        return scale(positive, boostOf(spec));
      }
      case 'nested':
        // documents here are whole objects: the inner query reads the nested paths directly
        if (!isObject(spec)) throw parsingError('[nested] malformed');
        return scale(this.evaluate(spec['query']), boostOf(spec));
      case 'function_score': {
        if (!isObject(spec)) throw parsingError('[function_score] malformed');
        if (
          spec['functions'] !== undefined ||
          spec['field_value_factor'] !== undefined ||
          spec['script_score'] !== undefined
        )
          throw unsupported('function_score functions');
        return scale(this.evaluate(spec['query']), boostOf(spec));
      }
      default:
        throw parsingError(`unknown query [${kind}]`);
    }
  }

  private matchAll(boost: number): Scores {
    return new Map([...this.docs.keys()].map((id) => [id, fround(boost)]));
  }

  private constant(test: (source: Json, id: string) => boolean, boost: number): Scores {
    const out: Scores = new Map();
    for (const [id, source] of this.docs) if (test(source, id)) out.set(id, fround(boost));
    return out;
  }

  /** Text fields a field name or pattern stands for (`*`, `body.*`), with the pattern's boost. */
  private expandFields(specs: unknown): Array<{ field: string; boost: number }> {
    const list = specs === undefined ? ['*'] : Array.isArray(specs) ? specs : [specs];
    const out: Array<{ field: string; boost: number }> = [];
    for (const spec of list) {
      if (typeof spec !== 'string') throw parsingError('[fields] must be field names');
      const [pattern, boost] = spec.split('^');
      const matches = globMatcher(pattern!);
      for (const field of this.textFields())
        if (matches(field)) out.push({ field, boost: boost === undefined ? 1 : Number(boost) });
    }
    return out;
  }

  /** BM25 scores of one text field for a text; `and` keeps documents holding every word, `phrase` them in order. */
  fieldScores(field: string, text: string, operator: string, phrase = false): Scores {
    const index = this.textIndexes.get(field);
    if (!index || index.size === 0 || text.trim() === '') return new Map();
    const scores: Scores = new Map(index.search(text, { k: index.size }).map((h) => [h.id, h.score]));
    if (operator !== 'and' && !phrase) return scores;
    const words = roughTokens(text);
    for (const id of [...scores.keys()]) {
      const tokens = valuesAt(this.docs.get(id), field).flatMap((v) => roughTokens(String(v)));
      const keep = phrase ? containsSequence(tokens, words) : words.every((w) => tokens.includes(w));
      if (!keep) scores.delete(id);
    }
    return scores;
  }

  private multiMatch(spec: unknown): Scores {
    if (!isObject(spec) || typeof spec['query'] !== 'string') throw parsingError('[multi_match] requires query');
    const type = String(spec['type'] ?? 'best_fields');
    const operator = String(spec['operator'] ?? 'or').toLowerCase();
    const phrase = type === 'phrase';
    const perField = this.expandFields(spec['fields']).map(({ field, boost }) =>
      scale(this.fieldScores(field, spec['query'] as string, operator, phrase), boost),
    );
    const combined =
      type === 'most_fields' || type === 'cross_fields'
        ? combineSum(perField)
        : combineBest(perField, numberOr(spec['tie_breaker'], 0));
    return scale(combined, boostOf(spec));
  }

  /** `query_string`: `field:word` terms on their field, the rest on the given fields; operators and quotes dropped. */
  private queryString(kind: string, spec: unknown): Scores {
    if (!isObject(spec) || typeof spec['query'] !== 'string') throw parsingError(`[${kind}] requires query`);
    const defaults = spec['fields'] ?? (spec['default_field'] !== undefined ? [spec['default_field']] : undefined);
    const free: string[] = [];
    const byField: Scores[] = [];
    const cleaned = spec['query'].replace(/\b(AND|OR|NOT)\b/g, ' ').replace(/[+\-!(){}[\]^"~*?\\/|&]/g, ' ');
    for (const token of cleaned.split(/\s+/).filter(Boolean)) {
      const colon = token.indexOf(':');
      if (colon > 0 && colon < token.length - 1) {
        const field = token.slice(0, colon);
        byField.push(
          combineBest(
            this.expandFields([field]).map((f) => this.fieldScores(f.field, token.slice(colon + 1), 'or')),
            0,
          ),
        );
      } else free.push(token.replace(/:/g, ' '));
    }
    const fields = this.expandFields(defaults);
    const freeText = free.join(' ');
    const perField = fields.map(({ field, boost }) => scale(this.fieldScores(field, freeText, 'or'), boost));
    return scale(combineSum([combineBest(perField, 0), ...byField]), boostOf(spec));
  }

  private bool(spec: unknown): Scores {
    if (!isObject(spec)) throw parsingError('[bool] malformed');
    const list = (name: string): unknown[] => {
      const v = spec[name];
      return v === undefined ? [] : Array.isArray(v) ? v : [v];
    };
    for (const key of Object.keys(spec))
      if (!['must', 'should', 'filter', 'must_not', 'minimum_should_match', 'boost', '_name'].includes(key))
        throw parsingError(`[bool] query does not support [${key}]`);
    const must = list('must').map((q) => this.evaluate(q));
    const filter = list('filter').map((q) => this.evaluate(q));
    const should = list('should').map((q) => this.evaluate(q));
    const mustNot = list('must_not').map((q) => this.evaluate(q));
    const msm =
      spec['minimum_should_match'] !== undefined
        ? Number(spec['minimum_should_match'])
        : must.length === 0 && filter.length === 0 && should.length > 0
          ? 1
          : 0;
    const out: Scores = new Map();
    for (const id of this.docs.keys()) {
      if (!must.every((m) => m.has(id)) || !filter.every((f) => f.has(id)) || mustNot.some((n) => n.has(id))) continue;
      const matchedShould = should.filter((s) => s.has(id));
      if (matchedShould.length < msm) continue;
      let score = 0;
      for (const m of must) score += m.get(id)!;
      for (const s of matchedShould) score += s.get(id)!;
      out.set(id, fround(score * boostOf(spec)));
    }
    return out;
  }

  /** term / terms / range / exists / ids on one document. */
  private filterMatches(kind: string, spec: unknown, source: Json, id: string): boolean {
    if (kind === 'ids') {
      const values = isObject(spec) && Array.isArray(spec['values']) ? spec['values'] : [];
      return values.includes(id);
    }
    if (kind === 'exists') {
      const field = isObject(spec) ? spec['field'] : undefined;
      if (typeof field !== 'string') throw parsingError('[exists] requires field');
      return this.values(source, field).length > 0;
    }
    const [field, value] = singleField(kind, spec, kind === 'terms' ? ['boost', '_name'] : []);
    const values = this.values(source, field);
    const analyzed = !field.endsWith('.keyword') && this.fieldTypes.get(field) === 'text';
    const equals = (wanted: unknown) =>
      values.some(
        (v) => v === wanted || (analyzed && typeof v === 'string' && roughTokens(v).includes(String(wanted))),
      );
    if (kind === 'term') return equals(isObject(value) ? value['value'] : value);
    if (kind === 'terms') {
      if (!Array.isArray(value)) throw parsingError('[terms] query requires an array of values');
      return value.some(equals);
    }
    // range
    if (!isObject(value)) throw parsingError('[range] query malformed');
    return values.some((v) => {
      if (typeof v !== 'number' && typeof v !== 'string') return false;
      const cmp = (bound: unknown) =>
        typeof v === 'number' ? v - Number(bound) : String(v).localeCompare(String(bound));
      return (
        (value['gte'] === undefined || cmp(value['gte']) >= 0) &&
        (value['gt'] === undefined || cmp(value['gt']) > 0) &&
        (value['lte'] === undefined || cmp(value['lte']) <= 0) &&
        (value['lt'] === undefined || cmp(value['lt']) < 0)
      );
    });
  }

  /** A field's values; `x.keyword` reads `x` (the keyword sub-field of dynamic mapping). */
  values(source: Json, field: string): unknown[] {
    const direct = valuesAt(source, field);
    if (direct.length > 0 || !field.endsWith('.keyword')) return direct;
    return valuesAt(source, field.slice(0, -'.keyword'.length));
  }
}

function explicitType(type: string): FieldType {
  if (type === 'text' || type === 'match_only_text') return 'text';
  if (type === 'keyword' || type === 'constant_keyword' || type === 'wildcard') return 'keyword';
  if (type === 'boolean') return 'boolean';
  if (['long', 'integer', 'short', 'byte'].includes(type)) return 'long';
  if (['float', 'double', 'half_float', 'scaled_float'].includes(type)) return 'float';
  return 'other';
}

function inner(spec: unknown): unknown {
  if (!isObject(spec)) return undefined;
  const entries = Object.entries(spec).filter(([k]) => k !== 'boost' && k !== '_name');
  return entries.length === 1 ? entries[0]![1] : undefined;
}

function boostOf(spec: unknown): number {
  return isObject(spec) && typeof spec['boost'] === 'number' ? spec['boost'] : 1;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

/** `{field: value}` of match/term-like queries; extra keys beside the field are an error as in Elasticsearch. */
function singleField(kind: string, spec: unknown, allowed: string[] = []): [string, unknown] {
  if (!isObject(spec)) throw parsingError(`[${kind}] query malformed, no start_object after query name`);
  const fields = Object.entries(spec).filter(([k]) => !allowed.includes(k));
  if (fields.length !== 1)
    throw parsingError(
      `[${kind}] query doesn't support multiple fields, found [${fields.map(([k]) => k).join('] and [')}]`,
    );
  return fields[0]!;
}

function scale(scores: Scores, factor: number): Scores {
  if (factor === 1) return scores;
  return new Map([...scores].map(([id, s]) => [id, fround(s * factor)]));
}

function combineSum(parts: Scores[]): Scores {
  const out: Scores = new Map();
  for (const part of parts) for (const [id, s] of part) out.set(id, (out.get(id) ?? 0) + s);
  for (const [id, s] of out) out.set(id, fround(s));
  return out;
}

/** dis_max: the best score plus tie_breaker times the others. */
function combineBest(parts: Scores[], tieBreaker: number): Scores {
  const out: Scores = new Map();
  const ids = new Set(parts.flatMap((p) => [...p.keys()]));
  for (const id of ids) {
    const scores = parts.map((p) => p.get(id)).filter((s): s is number => s !== undefined);
    const best = Math.max(...scores);
    const rest = scores.reduce((a, b) => a + b, 0) - best;
    out.set(id, fround(best + tieBreaker * rest));
  }
  return out;
}

function containsSequence(tokens: string[], words: string[]): boolean {
  if (words.length === 0) return true;
  outer: for (let i = 0; i + words.length <= tokens.length; i++) {
    for (let j = 0; j < words.length; j++) if (tokens[i + j] !== words[j]) continue outer;
    return true;
  }
  return false;
}

function mergeMapping(dynamic: Json, explicit: Json): Json {
  const out: Json = { ...dynamic };
  for (const [key, value] of Object.entries(explicit)) {
    const existing = out[key];
    if (isObject(existing) && isObject(value) && isObject(existing['properties']) && isObject(value['properties'])) {
      out[key] = { ...existing, ...value, properties: mergeMapping(existing['properties'], value['properties']) };
    } else out[key] = isObject(existing) && isObject(value) ? { ...existing, ...value } : value;
  }
  return out;
}
