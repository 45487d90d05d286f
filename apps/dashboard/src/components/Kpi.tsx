/** One headline figure with its label; non-numeric values (e.g. "in-process") get the text style. */
export function Kpi({ label, value, testId, hint }: { label: string; value: string; testId: string; hint?: string }) {
  return (
    <div className="kpi" title={hint}>
      <div className="kpi-label">{label}</div>
      <div className={`kpi-value${/^[\d—]/.test(value) ? '' : ' text'}`} data-testid={testId}>
        {value}
      </div>
    </div>
  );
}
