// Route schemas validate as well as document. JSON bodies are checked as they are (`"k": "5"`, `"k": null` and
// `"k": true` are wrong types), while query strings and path parameters arrive as text, so their numbers are parsed.
// Fastify's own Ajv compiler is used twice with those two settings and chosen per request part.
import { AjvCompiler } from '@fastify/ajv-compiler';
import type { ErrorObject, Options as AjvOptions } from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';
import { ValidationError } from '@dotrank/core';

/** Annotation keyword: the message a `pattern` or `anyOf` failure reports (Ajv's own would say "must match ..."). */
export const MESSAGE_KEYWORD = 'x-message';

// verbose: errors carry the offending value and the schema, so a message can say what was given and what is allowed;
// removeAdditional off: an unknown field is refused (additionalProperties: false), never silently dropped.
const COMMON: AjvOptions = { useDefaults: true, removeAdditional: false, allErrors: false, verbose: true };
const BODY_OPTIONS: AjvOptions = { ...COMMON, coerceTypes: false };
const TEXT_OPTIONS: AjvOptions = { ...COMMON, coerceTypes: true };

type BuildValidator = ReturnType<typeof AjvCompiler>;
/** What Fastify asks a validator compiler for: one part (body, querystring, params, headers) of one route. */
interface RouteSchema {
  schema: object;
  method: string;
  url: string;
  httpPart?: string;
}
type RouteValidator = (route: RouteSchema) => unknown;
const onCreate = (ajv: { addKeyword(keyword: string): unknown }) => ajv.addKeyword(MESSAGE_KEYWORD);

function compilerFor(customOptions: AjvOptions): RouteValidator {
  return (AjvCompiler() as BuildValidator)({}, {
    customOptions,
    onCreate,
  } as Parameters<BuildValidator>[1]) as unknown as RouteValidator;
}

const bodyCompiler = compilerFor(BODY_OPTIONS);

/** Fastify's `schemaController`: body schemas compiled without type coercion, query string and params with it. */
// (Fastify's typings describe the factory's result as taking a bare schema; at run time it gets the RouteSchema.)
export const schemaController = {
  compilersFactory: {
    buildValidator: () => {
      const textCompiler = compilerFor(TEXT_OPTIONS);
      return (route: RouteSchema) => (route.httpPart === 'body' ? bodyCompiler(route) : textCompiler(route));
    },
  },
} as unknown as NonNullable<FastifyServerOptions['schemaController']>;

/** A validator for a value that is JSON already (e.g. the query string's URL-encoded `filter`), with body rules. */
export function compileJsonValidator(schema: object, field: string): (value: unknown) => void {
  const validate = bodyCompiler({ schema, method: 'GET', url: '/', httpPart: 'body' }) as {
    (value: unknown): boolean;
    errors?: ErrorObject[] | null;
  };
  return (value) => {
    if (!validate(value)) throw validationErrorFrom(validate.errors ?? [], field);
  };
}

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

/** The value as the client sent it, as far as JSON can say (`1e400` parses to Infinity, which JSON cannot write). */
function given(data: unknown): string {
  if (typeof data === 'number' && !Number.isFinite(data)) return 'a number too large to represent';
  const text = JSON.stringify(data) ?? String(data);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function problemOf(error: ErrorObject): string {
  const schema = (error.parentSchema ?? {}) as Record<string, unknown>;
  const got = `(got ${given(error.data)})`;
  switch (error.keyword) {
    case 'required':
      return 'is required';
    case 'additionalProperties':
      return `unknown field (known: ${Object.keys((schema['properties'] as object | undefined) ?? {}).join(', ')})`;
    case 'type': {
      const types = ([] as string[]).concat(error.params['type'] as string | string[]);
      return `must be ${types.map(article).join(' or ')} ${got}`;
    }
    case 'minimum':
    case 'maximum':
      return schema['minimum'] !== undefined && schema['maximum'] !== undefined
        ? `must be between ${String(schema['minimum'])} and ${String(schema['maximum'])} ${got}`
        : `must be ${error.keyword === 'minimum' ? '>=' : '<='} ${String(error.params['limit'])} ${got}`;
    case 'enum':
      return `must be one of ${(error.params['allowedValues'] as unknown[]).join(', ')} ${got}`;
    case 'maxLength':
      return `must be at most ${String(error.params['limit'])} characters`;
    default:
      return typeof schema[MESSAGE_KEYWORD] === 'string'
        ? `${schema[MESSAGE_KEYWORD]} ${got}`
        : `${error.message ?? 'is not valid'} ${got}`;
  }
}

/** One ValidationError naming the field (`k`, `filter.topic`, `body`) for what Ajv reported. */
export function validationErrorFrom(errors: readonly ErrorObject[], root: string): ValidationError {
  // an anyOf failure comes after its branches' errors (nested ones first) and speaks for them
  const error = [...errors].reverse().find((e) => e.keyword === 'anyOf') ?? errors[0];
  if (!error) return new ValidationError(root, 'is not valid');
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra =
    error.keyword === 'required'
      ? error.params['missingProperty']
      : error.keyword === 'additionalProperties'
        ? error.params['additionalProperty']
        : undefined;
  if (typeof extra === 'string') path.push(extra);
  const field =
    root === 'body' || root === 'querystring' || root === 'params'
      ? path.join('.') || (root === 'body' ? 'body' : root)
      : [root, ...path].join('.');
  return new ValidationError(field, problemOf(error));
}
