import { formatSigned } from '../data.js';
import type { WinTieLoss } from '../data.js';

/** Wins, ties and losses of the compared system over the baseline, and the mean Δ. */
export function WinTieLossCounts({ wtl, mean }: { wtl: WinTieLoss; mean: number | null }) {
  return (
    <dl className="wtl" data-testid="wtl">
      <div className="win">
        <dt>wins</dt>
        <dd data-testid="wins">{wtl.wins.toLocaleString('en-US')}</dd>
      </div>
      <div className="tie">
        <dt>ties</dt>
        <dd data-testid="ties">{wtl.ties.toLocaleString('en-US')}</dd>
      </div>
      <div className="loss">
        <dt>losses</dt>
        <dd data-testid="losses">{wtl.losses.toLocaleString('en-US')}</dd>
      </div>
      <div>
        <dt>mean Δ</dt>
        <dd>{formatSigned(mean)}</dd>
      </div>
    </dl>
  );
}
