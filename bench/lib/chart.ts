// A hand-drawn SVG bar chart, so results need no chart dependency and render on any forge.
// One panel per metric; inside it one group per params; one horizontal bar per subject at its
// median, a whisker from the low to the high sample, the value at the end and the Quire/peer
// ratio on the group's line. Each group has its own scale (the groups of one metric can differ
// by 100x, e.g. 256 B vs 64 KiB records), which the subtitle says.

import { formatNumber } from './stats.js';

export interface ChartBar {
  readonly subject: string;
  readonly median: number;
  /** Whisker ends: the lowest and highest sample (or p10/p90). */
  readonly low: number;
  readonly high: number;
}

export interface ChartGroup {
  readonly label: string;
  readonly bars: readonly ChartBar[];
  /** Written on the group's line, e.g. "quire/rocksdb 12.3×". */
  readonly ratioText: string;
}

export interface ChartPanel {
  readonly title: string;
  readonly groups: readonly ChartGroup[];
}

const widthPx = 960;
const labelWidthPx = 150;
const barAreaPx = 560;
const rowPx = 18;
const groupHeaderPx = 20;
const groupGapPx = 8;
const panelTitlePx = 30;
const panelGapPx = 16;
const marginPx = 12;

const subjectColours: Readonly<Record<string, string>> = {
  quire: '#2b6cb0',
  rocksdb: '#c05621',
  disk: '#4a5568',
  dovecot: '#2f855a',
  ts: '#805ad5',
};
const fallbackColours = ['#b7791f', '#00838f', '#9b2c2c', '#6b46c1'];

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function colourOf(subject: string, others: Map<string, string>): string {
  const known = subjectColours[subject];
  if (known !== undefined) return known;
  let colour = others.get(subject);
  if (colour === undefined) {
    colour = fallbackColours[others.size % fallbackColours.length];
    others.set(subject, colour);
  }
  return colour;
}

export function renderChart(title: string, panels: readonly ChartPanel[]): string {
  const others = new Map<string, string>();
  const parts: string[] = [];
  let y = marginPx + 20;
  parts.push(`<text x="${marginPx}" y="${y}" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);
  y += 16;
  parts.push(
    `<text x="${marginPx}" y="${y}" font-size="11" fill="#555">bar = median, whisker = lowest to highest round; each group has its own scale</text>`,
  );
  y += panelGapPx;

  for (const panel of panels) {
    y += panelTitlePx - 10;
    parts.push(`<text x="${marginPx}" y="${y}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`);
    y += 10;
    for (const group of panel.groups) {
      y += groupHeaderPx - 6;
      parts.push(`<text x="${marginPx}" y="${y}" font-size="12" font-weight="bold">${escapeXml(group.label)}</text>`);
      if (group.ratioText !== '') {
        parts.push(
          `<text x="${widthPx - marginPx}" y="${y}" font-size="12" text-anchor="end" fill="#2b6cb0" font-weight="bold">${escapeXml(group.ratioText)}</text>`,
        );
      }
      y += 6;
      const scaleMax = Math.max(...group.bars.map((b) => Math.max(b.high, b.median)), Number.MIN_VALUE);
      const x0 = marginPx + labelWidthPx;
      for (const bar of group.bars) {
        const scale = (v: number): number => x0 + (Math.max(0, v) / scaleMax) * barAreaPx;
        const barTop = y + 3;
        const barHeight = rowPx - 6;
        const mid = barTop + barHeight / 2;
        const colour = colourOf(bar.subject, others);
        parts.push(
          `<text x="${x0 - 8}" y="${mid + 4}" font-size="11" text-anchor="end">${escapeXml(bar.subject)}</text>`,
          `<rect class="bar" x="${x0}" y="${barTop}" width="${(scale(bar.median) - x0).toFixed(1)}" height="${barHeight}" fill="${colour}"/>`,
          `<line class="whisker" x1="${scale(bar.low).toFixed(1)}" y1="${mid}" x2="${scale(bar.high).toFixed(1)}" y2="${mid}" stroke="#000" stroke-width="1.5"/>`,
          `<text x="${(scale(bar.high) + 6).toFixed(1)}" y="${mid + 4}" font-size="11">${escapeXml(formatNumber(bar.median))}</text>`,
        );
        y += rowPx;
      }
      y += groupGapPx;
    }
    y += panelGapPx;
  }
  const heightPx = y + marginPx;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${widthPx}" height="${heightPx}" viewBox="0 0 ${widthPx} ${heightPx}" font-family="sans-serif">`,
    `<rect x="0" y="0" width="${widthPx}" height="${heightPx}" fill="#fff"/>`,
    ...parts,
    `</svg>`,
    '',
  ].join('\n');
}
