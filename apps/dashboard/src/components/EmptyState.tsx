export const EVAL_COMMAND = 'npx dotrank eval --collection datasets/cranfield --out .dotrank/evals/cranfield';

/** What to run when the server has no eval output to show. */
export function EmptyState() {
  return (
    <section className="panel empty" data-testid="empty-state">
      <h2>No evaluation results yet</h2>
      <p>
        The server found no eval output under its <code>--eval-dir</code>. Produce one from the repository root, then
        reload this page:
      </p>
      <pre>
        <code>{EVAL_COMMAND}</code>
      </pre>
      <p className="muted">
        <code>npx dotrank serve</code> serves <code>.dotrank/evals</code> by default (or pass{' '}
        <code>--eval-dir &lt;dir&gt;</code>); every folder in it holding a <code>metrics.json</code> becomes a choice in
        the eval output selector.
      </p>
    </section>
  );
}
