// The records an experiment keeps: impressions (what was shown, and from which system) and events (what users did).

/** How a request takes part: not at all, control answer + background treatment, or an interleaved list. */
export const EXPERIMENT_MODES = ['off', 'shadow', 'interleave'] as const;
export type ExperimentMode = (typeof EXPERIMENT_MODES)[number];

/** The two systems compared: the control (first-stage order) and the treatment (TAS-B rerank). */
export const SYSTEMS = ['bm25', 'tasb'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export const EVENT_TYPES = ['click', 'dwell', 'conversion'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One shown result and the system whose turn placed it there. */
export interface ShownResult {
  docId: string;
  system: SystemName;
}

/** One answered request of an experiment. */
export interface Impression {
  impressionId: string;
  experiment: string;
  mode: Exclude<ExperimentMode, 'off'>;
  query: string;
  /** The control ranking's top-k ids (BM25). */
  control: string[];
  /** The treatment ranking's top-k ids (TAS-B); empty in shadow mode when the background rerank failed. */
  treatment: string[];
  /** What the user saw, in order, with attribution (interleave); the control list in shadow mode. */
  shown: ShownResult[];
  /** Epoch milliseconds. */
  time: number;
}

/** One user action on a shown result. */
export interface ExperimentEvent {
  eventId: string;
  /** The experiment of its impression (filled in when the event is taken in). */
  experiment: string;
  impressionId: string;
  type: EventType;
  docId: string;
  /** 1-based position in the shown list (the top result is 1). */
  position?: number;
  /** Epoch milliseconds (the client's, else when it arrived). */
  timestamp: number;
}
