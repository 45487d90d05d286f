// The shared CandidateSource contract against the ES source talking to an in-memory Elasticsearch
// (@elastic/elasticsearch-mock transport; see test/support/fake-es.ts for its scoring).
import { loadConfig } from '@dotrank/core';
import { candidateSourceContract } from '@dotrank/core/testing';
import { createElasticsearchSource } from '../src/source.js';
import { FakeElasticsearch } from './support/fake-es.js';

candidateSourceContract('elasticsearch (mock transport)', async () => {
  const fake = new FakeElasticsearch();
  const config = loadConfig({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200', ELASTICSEARCH_INDEX: 'contract' });
  return createElasticsearchSource(config, { clientOptions: { Connection: fake.connection() } });
});

candidateSourceContract('elasticsearch (mock transport, one text field, top-level metadata)', async () => {
  const fake = new FakeElasticsearch();
  const config = loadConfig({ ELASTICSEARCH_URL: 'http://127.0.0.1:9200' });
  return createElasticsearchSource(config, {
    index: 'contract-flat',
    idField: 'doc_id',
    searchFields: ['body'],
    textFields: ['body'],
    metadataField: null,
    metadataFields: ['topic', 'year'],
    clientOptions: { Connection: fake.connection() },
  });
});
