// Test helpers of @dotrank/elasticsearch (imported from '@dotrank/elasticsearch/testing', never from production code).
export { startStandInElasticsearch, StandInError, StandInIndex, valuesAt } from './stand-in-server.js';
export type {
  ReceivedRequest,
  StandInDocument,
  StandInElasticsearch,
  StandInIndexDefinition,
  StandInIndexInput,
  StandInOptions,
} from './stand-in-server.js';
