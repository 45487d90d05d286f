// What a search endpoint (/search, the _search proxy) calls: decide whether a request takes part, then interleave or
// shadow, and log the impression. The endpoint keeps its own pipeline; this only sees ranked id lists.
import { randomUUID } from 'node:crypto';
import { mulberry32 } from '@dotrank/core';
import { seedFrom, seededCoin, teamDraftInterleave } from './interleave.js';
import type { ExperimentStore } from './store.js';
import type { ExperimentMode, Impression, ShownResult } from './types.js';

export interface ExperimentSettings {
  /** The experiment impressions are logged under (reports are per name). */
  name: string;
  /** The configured mode (DOTRANK_EXPERIMENT), for requests that do not ask for one. */
  mode: ExperimentMode;
  /** Share of requests in the configured mode (DOTRANK_EXPERIMENT_TRAFFIC), 0..1. */
  traffic: number;
  store: ExperimentStore;
  /** Told about failures of logging and of the background rerank; a search answer never waits for or fails on them. */
  onError?: (error: unknown, what: string) => void;
  now?: () => number;
}

/** Whether (and how) one request takes part, and the id its impression gets. */
export interface ExperimentPlan {
  mode: ExperimentMode;
  impressionId: string;
}

export interface ExperimentRequest {
  plan: ExperimentPlan;
  query: string;
  /** Results shown; both lists are cut to it. */
  k: number;
  /** The control ranking (BM25 / first-stage order), best first. */
  control: readonly string[];
  /**
   * The treatment ranking (TAS-B): the list itself (interleave), or, in shadow mode, a function the runner calls in
   * the background after the answer has gone (undefined or a rejection = the rerank failed; logged without it).
   */
  treatment: readonly string[] | (() => Promise<readonly string[] | undefined>);
}

export interface ExperimentOutcome {
  mode: ExperimentMode;
  impressionId?: string;
  /** What to show, with attribution (interleave: the interleaved list; shadow: the control list). */
  shown?: ShownResult[];
  /** Settles when the impression is logged (tests and benchmarks wait for it; endpoints do not). */
  logged: Promise<void>;
}

const ID = /^[A-Za-z0-9._:-]{1,128}$/;

export class ExperimentRunner {
  private readonly pending = new Set<Promise<void>>();
  private readonly now: () => number;

  constructor(readonly settings: ExperimentSettings) {
    this.now = settings.now ?? Date.now;
  }

  get store(): ExperimentStore {
    return this.settings.store;
  }

  /**
   * The mode of one request: the one it asks for, else the configured mode for a `traffic` share of requests (the
   * draw is seeded by the impression id, so it is reproducible). `givenId` is a client's own id (UBI `query_id`),
   * adopted when it is a plain token; otherwise a fresh UUID.
   */
  plan(requested?: ExperimentMode, givenId?: string): ExperimentPlan {
    const impressionId = givenId && ID.test(givenId) ? givenId : randomUUID();
    if (requested) return { mode: requested, impressionId };
    const { mode, traffic } = this.settings;
    if (mode === 'off' || traffic <= 0) return { mode: 'off', impressionId };
    const sampled = traffic >= 1 || mulberry32(seedFrom(`traffic:${impressionId}`))() < traffic;
    return { mode: sampled ? mode : 'off', impressionId };
  }

  /** Interleaves or shadows one answered request and logs its impression (without making the caller wait). */
  run(request: ExperimentRequest): ExperimentOutcome {
    const { plan } = request;
    if (plan.mode === 'off') return { mode: 'off', logged: Promise.resolve() };
    const control = request.control.slice(0, request.k);
    const base = { impressionId: plan.impressionId, experiment: this.settings.name, query: request.query, control };
    if (plan.mode === 'interleave') {
      if (typeof request.treatment === 'function') throw new TypeError('interleave needs the treatment ranking itself');
      const treatment = request.treatment.slice(0, request.k);
      const shown = teamDraftInterleave(control, treatment, request.k, seededCoin(seedFrom(plan.impressionId)));
      const impression: Impression = { ...base, mode: 'interleave', treatment, shown, time: this.now() };
      return { mode: 'interleave', impressionId: plan.impressionId, shown, logged: this.track(this.log(impression)) };
    }
    const shown: ShownResult[] = control.map((docId) => ({ docId, system: 'bm25' }));
    const treatment = request.treatment;
    const provisional: Impression = { ...base, mode: 'shadow', treatment: [], shown, time: this.now() };
    // known at once (events sent right after the answer are accepted); the log gets the record with both rankings
    const announced = this.log(provisional, { provisional: true });
    const logged = (async () => {
      let ranked: readonly string[] | undefined;
      try {
        ranked = typeof treatment === 'function' ? await treatment() : treatment;
      } catch (error) {
        this.settings.onError?.(error, 'shadow rerank');
      }
      await this.log({ ...provisional, treatment: [...(ranked ?? [])].slice(0, request.k) });
      await announced;
    })();
    return { mode: 'shadow', impressionId: plan.impressionId, shown, logged: this.track(logged) };
  }

  private async log(impression: Impression, options?: { provisional: true }): Promise<void> {
    try {
      await this.settings.store.recordImpression(impression, options);
    } catch (error) {
      this.settings.onError?.(error, 'impression log');
    }
  }

  private track(promise: Promise<void>): Promise<void> {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
    return promise;
  }

  /** Waits for every background rerank and log write started so far (server close, tests). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

/** The one call a search endpoint makes once it has both rankings (or, in shadow mode, a way to get the second). */
export function runExperiment(runner: ExperimentRunner, request: ExperimentRequest): ExperimentOutcome {
  return runner.run(request);
}
