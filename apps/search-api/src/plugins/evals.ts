// `/api/evals/*`: eval outputs (metrics, runs) and the dashboard's drill-down into their collections.
import type { FastifyPluginAsync } from 'fastify';
import { evalRoutes } from '../evals.js';
import { assertQueryDecoded } from '../querystring.js';
import { evalExtraRoutes } from '../routes/evals-extra.js';

export interface EvalsPluginOptions {
  /** Folder of eval outputs (one sub-folder each, holding a metrics.json). */
  evalDir: string;
  /** Collection folders eval outputs may name (metrics.json `collection.name`). */
  collectionDirs?: string[];
}

export const evalsPlugin: FastifyPluginAsync<EvalsPluginOptions> = async (app, { evalDir, collectionDirs = [] }) => {
  app.addHook('preValidation', async (request) => assertQueryDecoded(request.query));
  await app.register(evalRoutes, { evalDir });
  await app.register(evalExtraRoutes, { evalDir, collectionDirs });
};
