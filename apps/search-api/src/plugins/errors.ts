// One error handler for the whole server: every failure is JSON naming the field, never a stack trace.
import fp from 'fastify-plugin';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isDotrankError } from '@dotrank/core';
import type { DotrankError } from '@dotrank/core';
import { validationErrorFrom } from '../validator.js';

const STATUS_BY_CODE: Partial<Record<DotrankError['code'], number>> = {
  invalid_input: 400,
  not_found: 404,
  unavailable: 503,
  timeout: 504,
};

type ErrorBody = { error: string; field?: string; message: string };

/** The status and body for an error Fastify itself raised (parsing, schema validation), or undefined. */
function fastifyErrorBody(error: FastifyError, bodyLimit: number): [number, ErrorBody] | undefined {
  if (error.validation) return [400, validationErrorFrom(error.validation, error.validationContext ?? 'body').toJSON()];
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return [
        413,
        { error: 'payload_too_large', field: 'body', message: `body: larger than the ${bodyLimit} byte limit` },
      ];
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return [400, { error: 'invalid_input', field: 'body', message: `body: malformed JSON (${error.message})` }];
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return [
        415,
        { error: 'unsupported_media_type', field: 'content-type', message: 'content-type: send application/json' },
      ];
  }
  if (error instanceof SyntaxError)
    return [400, { error: 'invalid_input', field: 'body', message: `body: malformed JSON (${error.message})` }];
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return [error.statusCode, { error: 'invalid_input', field: 'request', message: `request: ${error.message}` }];
  }
  return undefined;
}

export interface ErrorsPluginOptions {
  /** The server's body limit, for the 413 message. */
  bodyLimit: number;
}

const errorsPlugin: FastifyPluginAsync<ErrorsPluginOptions> = async (app, { bodyLimit }) => {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (isDotrankError(error)) {
      const status = STATUS_BY_CODE[error.code] ?? 500;
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(status).send(error.toJSON());
    }
    const known = fastifyErrorBody(error, bodyLimit);
    if (known) return reply.code(known[0]).send(known[1]);
    request.log.error({ err: error }, 'request failed');
    return reply
      .code(500)
      .send({ error: 'internal', message: 'internal error (see the server log for the request id)' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      field: 'path',
      message: `path: no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );
};

/** Sets the server's error and not-found handlers (so it is registered at the root). */
export default fp(errorsPlugin, { name: 'dotrank-errors', fastify: '5.x' });
