// Event intake: one event or a batch, in dotrank's field names or OpenSearch User Behavior Insights' ones, checked
// field by field (an error names the field, with its batch index) before anything is stored.
import { randomUUID } from 'node:crypto';
import { ValidationError } from '@dotrank/core';
import type { ExperimentStore } from './store.js';
import { EVENT_TYPES } from './types.js';
import type { EventType, ExperimentEvent, Impression } from './types.js';

/** The most events one request may carry. */
export const MAX_EVENTS_PER_REQUEST = 10_000;
const ID = /^[\x21-\x7e]{1,256}$/;

type Raw = Record<string, unknown>;

const isObject = (value: unknown): value is Raw => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `a.b.c` of a nested object, or undefined. */
function nested(raw: Raw, path: string[]): unknown {
  let value: unknown = raw;
  for (const key of path) value = isObject(value) ? value[key] : undefined;
  return value;
}

/** Dotted names split once (they are looked up for every event of every request). */
const paths = new Map<string, string[]>();

/** The first present of the dotrank name and the UBI name, with the name it was found under. */
function pick(raw: Raw, names: string[]): [unknown, string] {
  for (const name of names) {
    let path = paths.get(name);
    if (!path) paths.set(name, (path = name.split('.')));
    const value = path.length === 1 ? raw[name] : nested(raw, path);
    if (value !== undefined) return [value, name];
  }
  return [undefined, names[0]!];
}

function idField(raw: Raw, names: string[], at: string, required: boolean): string | undefined {
  const [value, name] = pick(raw, names);
  if (value === undefined && !required) return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || !ID.test(value))
    throw new ValidationError(`${at}${name}`, 'is required: a string of 1-256 printable ASCII characters');
  return value;
}

function timestampOf(raw: Raw, at: string, now: number): number {
  const [value] = pick(raw, ['timestamp']);
  if (value === undefined) return now;
  const ms = typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0)
    throw new ValidationError(`${at}timestamp`, 'must be epoch milliseconds or an ISO 8601 date-time');
  return ms;
}

/** A parsed event before its impression is looked up, with where it came from (for errors). */
interface Draft {
  event: Omit<ExperimentEvent, 'experiment'>;
  at: string;
  positionField: string;
}

function draftOf(raw: unknown, at: string, now: number): Draft {
  if (!isObject(raw)) throw new ValidationError(at || 'body', 'must be an event object (or an array of them)');
  const impressionId = idField(raw, ['impressionId', 'query_id'], at, true)!;
  const [type, typeName] = pick(raw, ['type', 'action_name']);
  if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type))
    throw new ValidationError(`${at}${typeName}`, `must be one of ${EVENT_TYPES.join(', ')}`);
  const docId = idField(raw, ['docId', 'event_attributes.object.object_id'], at, true)!;
  const [position, positionName] = pick(raw, ['position', 'position.ordinal']);
  const ordinal = isObject(position) ? position['ordinal'] : position;
  const positionField = isObject(position) ? `${at}position.ordinal` : `${at}${positionName}`;
  if (ordinal !== undefined && (typeof ordinal !== 'number' || !Number.isInteger(ordinal) || ordinal < 1))
    throw new ValidationError(positionField, 'must be an integer >= 1 (the top result is 1)');
  const eventId = idField(raw, ['eventId', 'event_id'], at, false) ?? randomUUID();
  const timestamp = timestampOf(raw, at, now);
  const event =
    ordinal === undefined
      ? { eventId, impressionId, type: type as EventType, docId, timestamp }
      : { eventId, impressionId, type: type as EventType, docId, position: ordinal as number, timestamp };
  return { event, at, positionField };
}

/** Checks an event against what its impression showed. */
function attach({ event, at, positionField }: Draft, impression: Impression | undefined): ExperimentEvent {
  if (!impression)
    throw new ValidationError(
      `${at}impressionId`,
      `unknown impression "${event.impressionId}" (never logged, or expired)`,
    );
  const shownAt = impression.shown.findIndex((r) => r.docId === event.docId);
  if (shownAt < 0)
    throw new ValidationError(
      `${at}docId`,
      `document "${event.docId}" was not shown in impression ${event.impressionId}`,
    );
  if (event.position !== undefined && event.position !== shownAt + 1) {
    const problem =
      event.position > impression.shown.length
        ? `is ${event.position} but impression ${event.impressionId} showed ${impression.shown.length} results`
        : `is ${event.position} but document "${event.docId}" was shown at ${shownAt + 1}`;
    throw new ValidationError(positionField, problem);
  }
  return { ...event, experiment: impression.experiment };
}

/**
 * Parses, validates and stores one event or a batch: all or nothing (one bad event refuses the batch, naming it).
 * Idempotent by eventId: a repeated one is counted as a duplicate, not stored again.
 */
export async function takeEvents(
  body: unknown,
  store: ExperimentStore,
  now: number = Date.now(),
): Promise<{ accepted: number; duplicates: number }> {
  const batch = Array.isArray(body);
  const raws = batch ? (body as unknown[]) : [body];
  if (raws.length === 0) throw new ValidationError('body', 'must hold at least one event');
  if (raws.length > MAX_EVENTS_PER_REQUEST)
    throw new ValidationError('body', `holds ${raws.length} events; at most ${MAX_EVENTS_PER_REQUEST} per request`);
  const drafts = raws.map((raw, i) => draftOf(raw, batch ? `[${i}].` : '', now));
  const impressions = await store.getImpressions(drafts.map((d) => d.event.impressionId));
  const events = drafts.map((d) => attach(d, impressions.get(d.event.impressionId)));
  return store.recordEvents(events);
}
