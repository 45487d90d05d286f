import type { ExperimentReport } from '../online-types.js';

type Shadow = NonNullable<ExperimentReport['shadow']>;

/** How much BM25 and TAS-B differ on shadowed traffic: the RBO distribution and the queries they disagree on most. */
export function ShadowPanel({ shadow }: { shadow: Shadow }) {
  const max = Math.max(1, ...shadow.rboHistogram);
  return (
    <section className="panel" aria-labelledby="shadow-title" data-testid="shadow-panel">
      <header className="panel-head">
        <h2 id="shadow-title">Shadow: how different the rankings are</h2>
        <span className="muted small">
          {shadow.impressions} impressions · mean Jaccard@10 {shadow.meanJaccard10.toFixed(3)} · RBO (p = 0.9){' '}
          {shadow.meanRbo.toFixed(3)} · Kendall τ {shadow.meanKendallTau.toFixed(3)}
        </span>
      </header>
      <div className="histogram" aria-label="Impressions by rank-biased overlap" role="img">
        {shadow.rboHistogram.map((count, i) => (
          <div key={i} className="histogram-bar" title={`RBO ${i / 10}–${(i + 1) / 10}: ${count}`}>
            <div style={{ height: `${(count / max) * 80}px`, background: 'currentColor', opacity: 0.6 }} />
            <small>{(i / 10).toFixed(1)}</small>
          </div>
        ))}
      </div>
      <h3>Queries where they disagree most</h3>
      {shadow.disagreements.slice(0, 10).map((d) => (
        <details key={d.query} data-testid="shadow-disagreement">
          <summary>
            {d.query} · RBO {d.rbo.toFixed(3)} · Jaccard@10 {d.jaccard10.toFixed(2)}
          </summary>
          <div className="side-by-side" style={{ display: 'grid', gridTemplateColumns: '1fr 1fr', gap: '1rem' }}>
            <ol aria-label="BM25">
              <strong>BM25</strong>
              {d.control.map((id) => (
                <li key={id}>{id}</li>
              ))}
            </ol>
            <ol aria-label="TAS-B">
              <strong>TAS-B</strong>
              {d.treatment.map((id) => (
                <li key={id}>{id}</li>
              ))}
            </ol>
          </div>
        </details>
      ))}
    </section>
  );
}
