// The Grafana dashboard (deploy/grafana/dotrank.json) only charts metrics the API and the worker really export:
// every metric name in its queries is looked up in the live registries of ApiMetrics and createMetrics.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ApiMetrics } from '@dotrank/search-api';
import { createMetrics } from '@dotrank/reranker-worker';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { expr: string; refId: string }[];
}

const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'grafana', 'dotrank.json'), 'utf8')) as {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string }[] };
};

/** Series names Prometheus stores for the registries' metrics (histograms add _bucket, _sum and _count). */
async function exportedSeries(): Promise<Set<string>> {
  const api = new ApiMetrics(async () => ({ depth: 0, activeWorkers: 0 }));
  const worker = createMetrics();
  const names = new Set<string>();
  for (const registry of [api.registry, worker.registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === 'histogram' || String(m.type) === 'summary')
        for (const suffix of ['_bucket', '_sum', '_count']) names.add(m.name + suffix);
    }
  }
  return names;
}

describe('Grafana dashboard JSON', () => {
  it('queries only metrics the API and the worker export', async () => {
    const exported = await exportedSeries();
    const used = new Set<string>();
    for (const panel of dashboard.panels)
      for (const t of panel.targets ?? []) for (const m of t.expr.matchAll(/\bdotrank_[a-z0-9_]+/g)) used.add(m[0]);
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((name) => !exported.has(name))).toEqual([]);
  });

  it('is importable: unique panel ids, every query on the templated Prometheus datasource', () => {
    expect(dashboard.uid).toBe('dotrank-overview');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.map((v) => v.name)).toContain('datasource');
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    }
  });
});
