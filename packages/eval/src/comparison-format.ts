import { ValidationError } from '@dotrank/core';
import type { RunComparison } from './compare-runs.js';
import { formatFixed4 } from './format.js';
import { isCountMeasure } from './measures.js';

export const COMPARISON_FORMATS = ['table', 'markdown', 'latex', 'json'] as const;
export type ComparisonFormat = (typeof COMPARISON_FORMATS)[number];

/** The letter naming the i-th system in superscripts (a, b, ..., z, then aa, ab, ...). */
export function systemLetter(i: number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  return i < 26 ? letters[i]! : `${systemLetter(Math.floor(i / 26) - 1)}${letters[i % 26]}`;
}

const SUPERSCRIPT: Record<string, string> = Object.fromEntries(
  [...'abcdefghijklmnoprstuvwxyz'].map((c, i) => [c, 'ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ'[i]!]),
);

function superscriptText(letters: string[]): string {
  const plain = letters.join('');
  // Unicode has no superscript q: fall back to ^(...) when a letter lacks one
  if ([...plain].every((c) => SUPERSCRIPT[c])) return [...plain].map((c) => SUPERSCRIPT[c]).join('');
  return `^(${letters.join(',')})`;
}

function value(measure: string, mean: number): string {
  return isCountMeasure(measure) ? String(Math.round(mean)) : formatFixed4(mean);
}

function testName(c: RunComparison): string {
  const test =
    c.test === 't' ? 'paired t-test' : `paired randomization test, ${c.trials.toLocaleString('en-US')} trials`;
  const correction =
    c.correction === 'none' ? 'uncorrected' : `${c.correction === 'holm' ? 'Holm' : 'Bonferroni'}-corrected`;
  return `${test}, ${correction}, p < ${c.alpha}`;
}

function escapeLatex(text: string): string {
  return text.replace(/[\\&%$#_{}~^]/g, (ch) =>
    ch === '\\'
      ? '\\textbackslash{}'
      : ch === '~'
        ? '\\textasciitilde{}'
        : ch === '^'
          ? '\\textasciicircum{}'
          : `\\${ch}`,
  );
}

function escapeMarkdown(text: string): string {
  return text.replace(/[|\\*_`<>]/g, (ch) => `\\${ch}`);
}

interface Layout {
  c: RunComparison;
  label: (m: string) => string;
  letters: Map<string, string>;
  best: Map<string, number>;
  beatsOf: (s: string, m: string) => string[];
  note: string;
}

/**
 * A comparison as a text table, Markdown, LaTeX (booktabs) or JSON. Each system has a letter; a value carries †
 * when it differs significantly from the baseline and the letters of the systems it beats significantly (ranx's
 * superscripts); Markdown and LaTeX bold each measure's best value. A note under the table names the test.
 */
export function formatComparison(c: RunComparison, format: ComparisonFormat, labels?: Record<string, string>): string {
  const letters = new Map(c.systems.map((s, i) => [s, systemLetter(i)]));
  const layout: Layout = {
    c,
    label: (m) => labels?.[m] ?? m,
    letters,
    best: new Map(c.measures.map((m) => [m, Math.max(...c.systems.map((s) => c.cells[s]![m]!.mean))] as const)),
    beatsOf: (s, m) => c.cells[s]![m]!.beats.map((b) => letters.get(b)!).sort(),
    note: `† differs from ${c.baseline}; superscripts: better than those systems (${testName(c)}; ${c.queries.length} queries)`,
  };
  switch (format) {
    case 'json':
      return formatJson(layout);
    case 'table':
      return formatText(layout);
    case 'markdown':
      return formatMarkdown(layout);
    case 'latex':
      return formatLatex(layout);
    default:
      throw new ValidationError('format', `must be one of ${COMPARISON_FORMATS.join(', ')}, got ${String(format)}`);
  }
}

function formatJson({ c, letters }: Layout): string {
  const out = {
    baseline: c.baseline,
    measures: c.measures,
    queries: c.queries.length,
    test: c.test,
    correction: c.correction,
    alpha: c.alpha,
    trials: c.trials,
    seed: c.seed,
    level: c.level,
    systems: Object.fromEntries(c.systems.map((s) => [s, { letter: letters.get(s), measures: c.cells[s] }])),
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}

function formatText({ c, label, letters, beatsOf, note }: Layout): string {
  const header = ['', 'system', ...c.measures.map(label)];
  const rows = c.systems.map((s) => [
    letters.get(s)!,
    s,
    ...c.measures.map((m) => {
      const cell = c.cells[s]![m]!;
      const beats = beatsOf(s, m);
      return `${value(m, cell.mean)}${cell.significant ? '†' : ''}${beats.length ? superscriptText(beats) : ''}`;
    }),
  ]);
  const width = (text: string) => [...text].length;
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i]!))));
  const line = (cells: string[]) =>
    cells
      .map((text, i) =>
        i < 2 ? text + ' '.repeat(widths[i]! - width(text)) : ' '.repeat(widths[i]! - width(text)) + text,
      )
      .join('  ')
      .trimEnd();
  return `${[line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line), note].join('\n')}\n`;
}

function formatMarkdown({ c, label, letters, best, beatsOf, note }: Layout): string {
  const header = `| | system | ${c.measures.map((m) => escapeMarkdown(label(m))).join(' | ')} |`;
  const rule = `|---|---|${c.measures.map(() => '---:').join('|')}|`;
  const rows = c.systems.map((s) => {
    const cells = c.measures.map((m) => {
      const cell = c.cells[s]![m]!;
      let text = value(m, cell.mean);
      if (cell.mean === best.get(m) && c.systems.length > 1) text = `**${text}**`;
      const beats = beatsOf(s, m);
      return `${text}${cell.significant ? '†' : ''}${beats.length ? `<sup>${beats.join('')}</sup>` : ''}`;
    });
    return `| ${letters.get(s)} | ${escapeMarkdown(s)} | ${cells.join(' | ')} |`;
  });
  return `${[header, rule, ...rows, '', note].join('\n')}\n`;
}

function formatLatex({ c, label, letters, best, beatsOf, note }: Layout): string {
  const rows = c.systems.map((s) => {
    const cells = c.measures.map((m) => {
      const cell = c.cells[s]![m]!;
      let text = value(m, cell.mean);
      if (cell.mean === best.get(m) && c.systems.length > 1) text = `\\textbf{${text}}`;
      const beats = beatsOf(s, m);
      return `${text}${cell.significant ? '$^\\dagger$' : ''}${beats.length ? `\\textsuperscript{${beats.join('')}}` : ''}`;
    });
    return `(${letters.get(s)}) & ${escapeLatex(s)} & ${cells.join(' & ')} \\\\`;
  });
  const lines = [
    `\\begin{tabular}{ll${'r'.repeat(c.measures.length)}}`,
    '\\toprule',
    ` & System & ${c.measures.map((m) => escapeLatex(label(m))).join(' & ')} \\\\`,
    '\\midrule',
    ...rows,
    '\\bottomrule',
    '\\end{tabular}',
    `% ${note}`,
  ];
  return `${lines.join('\n')}\n`;
}
