// The compatibility endpoints' JSON schemas: they validate the request (an unknown field is refused, naming it) and
// document the route in /docs. Checks a schema cannot make (UTF-8 bytes, visible text per document) are in compat.ts.
import { MAX_QUERY_BYTES } from '@dotrank/core';
import { MESSAGE_KEYWORD } from '../validator.js';

const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    field: { type: 'string' },
    message: { type: 'string' },
    reason: { type: 'string', description: '503 only: why no scores could be given (timeout, no_workers, ...)' },
  },
};

const errors = { 400: errorSchema, 413: errorSchema, 415: errorSchema, 503: errorSchema };

const QUERY = {
  type: 'string',
  maxLength: MAX_QUERY_BYTES,
  pattern: '[^\\s\\p{Cc}\\p{Cf}]',
  [MESSAGE_KEYWORD]: 'must contain a visible character (not only whitespace or control characters)',
  description: `Query text, at most ${MAX_QUERY_BYTES} bytes of UTF-8 (encoded with the query max length)`,
};

const TRUNCATE = {
  type: 'boolean',
  default: true,
  description:
    'true (default here; TEI defaults to false): texts longer than the passage max length are truncated to it. false: such a text is refused (413, naming it)',
};

const TEXTS_NOTE = 'non-empty (a visible character), at most 64 KiB of UTF-8 each';

/** `POST /v1/rerank` (Cohere / Jina). */
export function cohereRerankSchema(maxDocuments: number) {
  const text = { type: 'string' };
  return {
    tags: ['compat'],
    summary: 'Rerank documents (Cohere / Jina compatible): raw TAS-B dot products, best first',
    body: {
      type: 'object',
      required: ['query', 'documents'],
      additionalProperties: false,
      properties: {
        query: QUERY,
        documents: {
          type: 'array',
          minItems: 1,
          maxItems: maxDocuments,
          description: `Documents to score: strings or {"text": string} (${TEXTS_NOTE}); at most ${maxDocuments} (DOTRANK_MAX_CANDIDATES)`,
          items: {
            [MESSAGE_KEYWORD]: 'must be a string or an object {"text": string}',
            anyOf: [text, { type: 'object', required: ['text'], additionalProperties: false, properties: { text } }],
          },
        },
        top_n: { type: 'integer', minimum: 1, description: 'Return only the best n (default: all documents)' },
        return_documents: {
          type: 'boolean',
          default: false,
          description: 'Include each document as {"text"} (default false, as Cohere; Jina defaults to true)',
        },
        model: { type: 'string', description: 'Accepted and echoed; the model is the one dotrank serves' },
        truncate: TRUNCATE,
      },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          id: { type: 'string', description: 'The request id' },
          model: { type: 'string' },
          results: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                index: { type: 'integer', description: 'Position of the document in the request' },
                relevance_score: { type: 'number', description: 'Raw TAS-B dot product (unbounded, not 0..1)' },
                document: { type: 'object', properties: { text: { type: 'string' } } },
              },
            },
          },
          meta: {
            type: 'object',
            properties: {
              cache: { type: 'object', properties: { hits: { type: 'integer' }, misses: { type: 'integer' } } },
              timings: { type: 'object', additionalProperties: { type: 'number' } },
            },
          },
        },
      },
      ...errors,
    },
  };
}

/** `POST /rerank` (Hugging Face Text Embeddings Inference). */
export function teiRerankSchema(maxDocuments: number) {
  return {
    tags: ['compat'],
    summary: 'Rerank texts (Hugging Face TEI compatible): raw TAS-B dot products, best first',
    body: {
      type: 'object',
      required: ['query', 'texts'],
      additionalProperties: false,
      properties: {
        query: QUERY,
        texts: {
          type: 'array',
          minItems: 1,
          maxItems: maxDocuments,
          items: { type: 'string' },
          description: `Texts to score (${TEXTS_NOTE}); at most ${maxDocuments} (DOTRANK_MAX_CANDIDATES)`,
        },
        return_text: { type: 'boolean', default: false, description: 'Include each text (default false, as TEI)' },
        raw_scores: {
          type: 'boolean',
          default: false,
          description: 'Accepted; scores are always the raw dot products (TEI applies a sigmoid when false)',
        },
        truncate: TRUNCATE,
      },
    },
    response: {
      200: {
        type: 'array',
        items: {
          type: 'object',
          properties: { index: { type: 'integer' }, score: { type: 'number' }, text: { type: 'string' } },
        },
      },
      ...errors,
    },
  };
}

const INPUTS_NOTE = (maxDocuments: number) =>
  `A text or a list of texts (${TEXTS_NOTE}); at most ${maxDocuments} (DOTRANK_MAX_CANDIDATES)`;

const oneOrMany = (maxDocuments: number) => ({
  [MESSAGE_KEYWORD]: 'must be a string or a non-empty array of strings',
  anyOf: [{ type: 'string' }, { type: 'array', minItems: 1, maxItems: maxDocuments, items: { type: 'string' } }],
  description: INPUTS_NOTE(maxDocuments),
});

/** `POST /embed` (TEI). */
export function teiEmbedSchema(maxDocuments: number) {
  return {
    tags: ['compat'],
    summary: 'Passage vectors (Hugging Face TEI compatible): raw TAS-B vectors, not normalised unless asked',
    body: {
      type: 'object',
      required: ['inputs'],
      additionalProperties: false,
      properties: {
        inputs: oneOrMany(maxDocuments),
        normalize: {
          type: 'boolean',
          default: false,
          description:
            'false (default here; TEI defaults to true): raw vectors, as TAS-B ranks by dot product. true: unit length',
        },
        truncate: TRUNCATE,
      },
    },
    response: { 200: { type: 'array', items: { type: 'array', items: { type: 'number' } } }, ...errors },
  };
}

/** `POST /v1/embeddings` (OpenAI). */
export function openAiEmbeddingsSchema(maxDocuments: number) {
  return {
    tags: ['compat'],
    summary: 'Passage vectors (OpenAI compatible): raw TAS-B vectors, as floats or base64 float32',
    body: {
      type: 'object',
      required: ['input'],
      additionalProperties: false,
      properties: {
        input: oneOrMany(maxDocuments),
        model: { type: 'string', description: 'Accepted; the response names the model dotrank serves' },
        encoding_format: {
          type: 'string',
          enum: ['float', 'base64'],
          default: 'float',
          description: 'float (default) or base64: the little-endian float32 bytes, base64 (what OpenAI SDKs ask for)',
        },
        dimensions: { type: 'integer', minimum: 1, description: "Only the model's own dimension is accepted" },
        user: { type: 'string', description: 'Accepted and ignored' },
      },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          object: { type: 'string' },
          data: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                object: { type: 'string' },
                index: { type: 'integer' },
                embedding: {
                  anyOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }],
                  description: 'float: numbers; base64: little-endian float32 bytes',
                },
              },
            },
          },
          model: { type: 'string' },
          usage: {
            type: 'object',
            properties: { prompt_tokens: { type: 'integer' }, total_tokens: { type: 'integer' } },
          },
        },
      },
      ...errors,
    },
  };
}
