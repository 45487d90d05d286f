// `/docs` (Swagger UI) and `/docs/json` (OpenAPI 3), generated from the route schemas that also validate.
import fp from 'fastify-plugin';
import type { FastifyPluginAsync } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';

export interface DocsPluginOptions {
  /** Whether routes need the API key (the description then says how to send it). */
  secured: boolean;
}

const docsPlugin: FastifyPluginAsync<DocsPluginOptions> = async (app, { secured }) => {
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'dotrank search API',
        version: '0.1.0',
        description: 'BM25 candidates reranked with TAS-B; degrades to BM25 order on deadline.',
      },
      tags: [
        {
          name: 'compat',
          description:
            'Endpoints in the shapes Cohere/Jina (/v1/rerank), Hugging Face TEI (/rerank, /embed) and OpenAI (/v1/embeddings) clients send, for Elasticsearch inference endpoints and the usual SDKs: raw TAS-B dot products and raw vectors; 503 with Retry-After past the deadline',
        },
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
          bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <DOTRANK_API_KEY>' },
        },
      },
      ...(secured ? { security: [{ apiKey: [] }, { bearer: [] }] } : {}),
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
};

/** Registered before the routes, at the root, so every route's schema is collected. */
export default fp(docsPlugin, { name: 'dotrank-docs', fastify: '5.x' });
