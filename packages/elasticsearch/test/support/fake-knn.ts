// Dense search for the in-memory Elasticsearch of fake-es.ts: answers `knn` and `script_score` (our SCRIPT_SOURCE)
// search bodies by brute-force inner product over the stored vectors, with term/terms/exists filters, and accepts
// PUT /:index/_mapping. Scores follow Elasticsearch's max_inner_product mapping (s < 0 ? 1/(1-s) : s+1).
import { FakeElasticsearch, fieldValue, passesFilters } from './fake-es.js';

const mapScore = (s: number) => (s < 0 ? 1 / (1 - s) : s + 1);

export function fakeWithKnn(): FakeElasticsearch {
  const fake = new FakeElasticsearch();
  fake.mock.add({ method: 'PUT', path: '/:index/_mapping' }, (params) => {
    const name = decodeURIComponent(String((params as unknown as { path: string }).path).split('/')[1] ?? '');
    const index = fake.indices.get(name);
    if (!index) return { acknowledged: false };
    const mappings = (index.definition['mappings'] ??= { properties: {} }) as { properties: Record<string, unknown> };
    Object.assign(
      mappings.properties,
      (params as unknown as { body: { properties: Record<string, unknown> } }).body.properties,
    );
    return { acknowledged: true };
  });
  fake.intercept('search', (p) => {
    const body = (p.body ?? {}) as Record<string, unknown>;
    let field: string;
    let vector: number[];
    let filters: Array<Record<string, unknown>>;
    let size = (body['size'] as number | undefined) ?? 10;
    const knn = body['knn'] as
      | {
          field: string;
          query_vector: number[];
          k: number;
          num_candidates: number;
          filter?: Array<Record<string, unknown>>;
        }
      | undefined;
    const script = (
      body['query'] as
        | {
            script_score?: {
              query: { bool: { filter: Array<Record<string, unknown>> } };
              script: { params: { query_vector: number[]; field: string } };
            };
          }
        | undefined
    )?.script_score;
    if (knn) {
      field = knn.field;
      vector = knn.query_vector;
      filters = knn.filter ?? [];
      size = Math.min(size, knn.k);
    } else if (script) {
      field = script.script.params.field;
      vector = script.script.params.query_vector;
      filters = script.query.bool.filter;
    } else return undefined; // a lexical search: the fake's own handler
    const name = decodeURIComponent(p.path.split('/')[1] ?? '');
    const index = fake.indices.get(name)!;
    const includes = (body['_source'] as { includes?: string[] } | undefined)?.includes;
    const hits = [];
    for (const [id, doc] of index.docs) {
      const v = fieldValue(doc, field) as number[] | undefined;
      if (!v || !passesFilters(doc, filters)) continue;
      let s = 0;
      for (let i = 0; i < v.length; i++) s += v[i]! * vector[i]!;
      const source: Record<string, unknown> = {};
      for (const f of includes ?? Object.keys(doc)) if (f in doc) source[f] = doc[f];
      hits.push({ _index: name, _id: id, _score: mapScore(s), _source: source });
    }
    hits.sort((a, b) => b._score - a._score || a._id.localeCompare(b._id));
    const top = hits.slice(0, size);
    return {
      took: 1,
      timed_out: false,
      _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
      hits: { max_score: top[0]?._score ?? null, hits: top },
    };
  });
  return fake;
}
