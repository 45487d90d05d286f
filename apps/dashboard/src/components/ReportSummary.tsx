import type { MetricsReport } from '../types.js';
import { MetricsTable } from './MetricsTable.js';

function modelText(model: MetricsReport['model']): string {
  if (!model) return '';
  return ` · ${model.id}${model.revision ? `@${model.revision.slice(0, 10)}` : ''}`;
}

/** The collection, run settings and aggregate metrics of one eval output. */
export function ReportSummary({ report }: { report: MetricsReport }) {
  return (
    <section className="panel" aria-labelledby="summary-title">
      <header className="panel-head">
        <h2 id="summary-title">
          {report.collection.name}
          <span className="muted small">
            {' '}
            · {report.collection.queries.toLocaleString('en-US')} queries ·{' '}
            {report.collection.documents.toLocaleString('en-US')} documents · depth {report.depth}
            {modelText(report.model)}
            {report.createdAt
              ? ` · ${new Date(report.createdAt).toLocaleString('en-GB', { timeZone: 'UTC' })} UTC`
              : ''}
          </span>
        </h2>
      </header>
      <MetricsTable report={report} />
    </section>
  );
}
