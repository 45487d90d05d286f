// The experiment variables in core's configuration schema: defaults, and errors that name the variable.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@dotrank/core';

describe('experiment configuration', () => {
  it('is off by default, with all traffic, a million records and thirty days when turned on', () => {
    expect(loadConfig({})).toMatchObject({
      DOTRANK_EXPERIMENT: 'off',
      DOTRANK_EXPERIMENT_TRAFFIC: 1,
      DOTRANK_EXPERIMENT_MAX_EVENTS: 1_000_000,
      DOTRANK_EXPERIMENT_RETENTION_DAYS: 30,
      DOTRANK_EXPERIMENT_NAME: 'default',
    });
    expect(
      loadConfig({
        DOTRANK_EXPERIMENT: 'interleave',
        DOTRANK_EXPERIMENT_TRAFFIC: '0.25',
        DOTRANK_EXPERIMENT_NAME: 'tasb-v2',
      }),
    ).toMatchObject({
      DOTRANK_EXPERIMENT: 'interleave',
      DOTRANK_EXPERIMENT_TRAFFIC: 0.25,
      DOTRANK_EXPERIMENT_NAME: 'tasb-v2',
    });
  });

  it('names the variable of a bad value', () => {
    expect(() => loadConfig({ DOTRANK_EXPERIMENT: 'ab' })).toThrow(/^DOTRANK_EXPERIMENT: /);
    expect(() => loadConfig({ DOTRANK_EXPERIMENT_TRAFFIC: '1.5' })).toThrow(
      /^DOTRANK_EXPERIMENT_TRAFFIC: must be a number between 0 and 1/,
    );
    expect(() => loadConfig({ DOTRANK_EXPERIMENT_TRAFFIC: 'half' })).toThrow(/^DOTRANK_EXPERIMENT_TRAFFIC: /);
    expect(() => loadConfig({ DOTRANK_EXPERIMENT_RETENTION_DAYS: '0' })).toThrow(
      /^DOTRANK_EXPERIMENT_RETENTION_DAYS: /,
    );
    expect(() => loadConfig({ DOTRANK_EXPERIMENT_MAX_EVENTS: '10' })).toThrow(/^DOTRANK_EXPERIMENT_MAX_EVENTS: /);
    expect(() => loadConfig({ DOTRANK_EXPERIMENT_NAME: 'a b' })).toThrow(/^DOTRANK_EXPERIMENT_NAME: /);
  });
});
