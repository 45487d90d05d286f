/**
 * Errors that reach users. Each names what was wrong (`field`) and why (`problem`), so that the CLI,
 * the API and the worker can report it without a stack trace.
 */
export const ERROR_CODES = [
  'invalid_input',
  'invalid_config',
  'not_found',
  'model_error',
  'unavailable',
  'timeout',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class DotrankError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly problem: string;

  constructor(code: ErrorCode, problem: string, options: { field?: string; cause?: unknown } = {}) {
    super(options.field ? `${options.field}: ${problem}` : problem, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = options.field;
    this.problem = problem;
  }

  toJSON(): { error: ErrorCode; field?: string; message: string } {
    return { error: this.code, ...(this.field ? { field: this.field } : {}), message: this.message };
  }
}

/** Bad input from a user: a request field, a CLI flag, a file line. */
export class ValidationError extends DotrankError {
  constructor(field: string, problem: string, options: { cause?: unknown } = {}) {
    super('invalid_input', problem, { field, ...options });
  }
}

/** Bad configuration: an environment variable, a flag, a manifest entry. */
export class ConfigError extends DotrankError {
  constructor(field: string, problem: string, options: { cause?: unknown } = {}) {
    super('invalid_config', problem, { field, ...options });
  }
}

export class NotFoundError extends DotrankError {
  constructor(what: string, problem: string, options: { cause?: unknown } = {}) {
    super('not_found', problem, { field: what, ...options });
  }
}

export class ModelError extends DotrankError {
  constructor(problem: string, options: { field?: string; cause?: unknown } = {}) {
    super('model_error', problem, options);
  }
}

export class UnavailableError extends DotrankError {
  constructor(what: string, problem: string, options: { cause?: unknown } = {}) {
    super('unavailable', problem, { field: what, ...options });
  }
}

export function isDotrankError(error: unknown): error is DotrankError {
  return error instanceof DotrankError;
}

/** A message fit for a user: our errors as they are, anything else by its message only. */
export function describeError(error: unknown): string {
  if (error instanceof DotrankError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
