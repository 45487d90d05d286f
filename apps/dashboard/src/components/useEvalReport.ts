import { useEffect, useState } from 'react';
import { api } from '../api.js';
import { defaultComparedSystem, defaultDeltaMeasure } from '../data.js';
import type { MetricsReport } from '../types.js';

/**
 * The metrics report of the selected eval output, and what the user looks at in it: the system compared with the
 * baseline, the measure, the open query. A new selection resets them to the report's defaults.
 */
export function useEvalReport(selected: string | null) {
  const [report, setReport] = useState<MetricsReport | null>(null);
  const [reportError, setReportError] = useState<string | null>(null);
  const [system, setSystem] = useState<string | null>(null);
  const [measure, setMeasure] = useState<string | null>(null);
  const [openQid, setOpenQid] = useState<string | null>(null);

  useEffect(() => {
    if (!selected) return;
    let live = true;
    setReport(null);
    setReportError(null);
    setOpenQid(null);
    api.metrics(selected).then(
      (r) => {
        if (!live) return;
        setReport(r);
        setSystem(defaultComparedSystem(r) ?? null);
        setMeasure(defaultDeltaMeasure(r.measures) ?? null);
      },
      (e: unknown) => {
        if (live) setReportError(e instanceof Error ? e.message : String(e));
      },
    );
    return () => {
      live = false;
    };
  }, [selected]);

  return { report, reportError, system, setSystem, measure, setMeasure, openQid, setOpenQid };
}
