// Charts drawn as SVG by the page (no library): horizontal bars and
// grouped daily columns. Each chart is an <svg role="img"> with an
// aria-label saying what it shows; the views put the same numbers in a
// table for screen readers. Colours are CSS classes (the CSP allows no
// style attributes), sized by SVG attributes and a viewBox so they scale.

const NS = 'http://www.w3.org/2000/svg';

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A rounded-up axis maximum (1, 2, 5 × 10^n) and its tick step. */
export function niceMax(v) {
  if (!(v > 0)) return [1, 1];
  if (v <= 5) return [Math.ceil(v), 1]; // counts: whole-number ticks
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return [m * p, (m * p) / (m === 1 || m === 10 ? 5 : m === 2 ? 4 : 5)];
  return [v, v / 5];
}

function truncate(text, n) {
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

/**
 * Horizontal bars: rows [{label, value}], one per line, the value printed
 * at the bar's end. Long labels are cut on the chart (whole in the table).
 */
export function hbar(rows, { label, unit = '', cls = 'series-a', width = 600 } = {}) {
  const line = 28;
  const left = 230;
  const right = 60;
  const height = Math.max(1, rows.length) * line + 8;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const scale = (width - left - right) / max;
  const svg = s('svg', { role: 'img', 'aria-label': label, viewBox: `0 0 ${width} ${height}`, width, height, class: 'chart' });
  if (!rows.length) svg.append(s('text', { x: 8, y: 20, class: 'axis' }, 'Nothing to show.'));
  rows.forEach((r, i) => {
    const y = 4 + i * line;
    const w = Math.max(r.value > 0 ? 2 : 0, r.value * scale);
    svg.append(
      s('text', { x: left - 8, y: y + 18, 'text-anchor': 'end', class: 'label' }, truncate(r.label, 34), s('title', {}, r.label)),
      s('rect', { x: left, y: y + 4, width: w.toFixed(1), height: line - 10, class: cls, rx: 2 }),
      s('text', { x: left + w + 6, y: y + 18, class: 'value' }, `${r.value}${unit}`));
  });
  return svg;
}

/**
 * Daily columns for one agreement: days [{day, a, b}], a and b side by
 * side (disclosures, denials), with a y axis and the first, middle and
 * last day named under the columns.
 */
export function columns(days, { label, names = ['a', 'b'], width = 560, height = 170 } = {}) {
  const top = 10;
  const bottom = 36;
  const left = 44;
  const right = 10;
  const [max, step] = niceMax(Math.max(0, ...days.flatMap((d) => [d.a, d.b])));
  const plotH = height - top - bottom;
  const plotW = width - left - right;
  const slot = plotW / Math.max(1, days.length);
  const bar = Math.max(1, Math.min(14, (slot - 4) / 2));
  const y = (v) => top + plotH - (v / max) * plotH;
  const svg = s('svg', { role: 'img', 'aria-label': label, viewBox: `0 0 ${width} ${height}`, width, height, class: 'chart' });
  for (let v = 0; v <= max + 1e-9; v += step) {
    svg.append(s('line', { x1: left, x2: width - right, y1: y(v).toFixed(1), y2: y(v).toFixed(1), class: 'grid' }),
      s('text', { x: left - 6, y: (y(v) + 4).toFixed(1), 'text-anchor': 'end', class: 'axis' }, String(Math.round(v * 100) / 100)));
  }
  days.forEach((d, i) => {
    const x = left + i * slot + slot / 2;
    const ha = plotH * (d.a / max);
    const hb = plotH * (d.b / max);
    svg.append(
      s('rect', { x: (x - bar - 1).toFixed(1), y: (top + plotH - ha).toFixed(1), width: bar.toFixed(1), height: ha.toFixed(1), class: 'series-a' }, s('title', {}, `${d.day}: ${d.a} ${names[0]}`)),
      s('rect', { x: (x + 1).toFixed(1), y: (top + plotH - hb).toFixed(1), width: bar.toFixed(1), height: hb.toFixed(1), class: 'series-b' }, s('title', {}, `${d.day}: ${d.b} ${names[1]}`)));
  });
  // The first, middle and last day are named; the ends are anchored
  // inwards so that their labels stay inside the chart.
  const named = new Set([0, Math.floor((days.length - 1) / 2), days.length - 1]);
  for (const i of named) {
    if (!days[i]) continue;
    const x = left + i * slot + slot / 2;
    const anchor = days.length > 1 && i === 0 ? 'start' : days.length > 1 && i === days.length - 1 ? 'end' : 'middle';
    const ax = anchor === 'start' ? x - slot / 2 : anchor === 'end' ? x + slot / 2 : x;
    svg.append(s('text', { x: ax.toFixed(1), y: height - bottom + 16, 'text-anchor': anchor, class: 'axis' }, days[i].day));
  }
  svg.append(s('line', { x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: 'baseline' }));
  return svg;
}
