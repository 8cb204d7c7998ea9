// A route's small chart: tasks finished per minute (bars, the failed part in red) and p95 run time (a line, on its
// own axis), over the last 15 minutes of GET api/stats.
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { duration } from './format.js';
import type { RoutePoint } from './types.js';

/** The page's colours, from its CSS, so that the canvas follows light and dark mode. */
function palette() {
  const style = getComputedStyle(document.documentElement);
  const read = (name: string) => style.getPropertyValue(name).trim();
  return { text: read('--muted'), grid: read('--grid'), bars: read('--chart-bars'), failed: read('--chart-failed'), line: read('--chart-line') };
}

function toData(series: RoutePoint[]): uPlot.AlignedData {
  return [
    series.map((point) => Date.parse(point.at) / 1000),
    series.map((point) => point.succeeded + point.failed + point.canceled),
    series.map((point) => point.failed),
    series.map((point) => point.runP95),
  ];
}

const shortDuration = (ms: number): string => (ms < 1000 ? `${Math.round(ms)}ms` : `${+(ms / 1000).toFixed(1)}s`);

function options(width: number, colours: ReturnType<typeof palette>): uPlot.Options {
  const font = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  const axis = { stroke: colours.text, font, size: 26, ticks: { show: false }, grid: { stroke: colours.grid, width: 1 } };
  return {
    width,
    height: 120,
    padding: [8, 4, 0, 0],
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    scales: {
      // Half a minute either side, so that the first and last bars are whole.
      x: { time: true, range: (_u, min, max) => [min - 30, max + 30] },
      n: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
      ms: { range: (_u, _min, max) => [0, Math.max(10, max * 1.15)] },
    },
    series: [
      {},
      {
        label: 'finished / min',
        scale: 'n',
        stroke: colours.bars,
        fill: colours.bars,
        width: 0,
        paths: uPlot.paths.bars!({ size: [0.7, 14] }),
        points: { show: false },
      },
      // Over the bar of all finished, from its foot: the failed part of it.
      {
        label: 'failed / min',
        scale: 'n',
        stroke: colours.failed,
        fill: colours.failed,
        width: 0,
        paths: uPlot.paths.bars!({ size: [0.7, 14] }),
        points: { show: false },
      },
      { label: 'p95 run', scale: 'ms', stroke: colours.line, width: 2, spanGaps: true, points: { show: false }, value: (_u, v) => duration(v) },
    ],
    axes: [
      { ...axis, space: 60, values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })) },
      { ...axis, scale: 'n', size: 30, space: 24, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) },
      { ...axis, scale: 'ms', side: 1, size: 40, space: 24, grid: { show: false }, values: (_u, ticks) => ticks.map(shortDuration) },
    ],
  };
}

export function RouteChart({ series, theme }: { series: RoutePoint[]; theme: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(series);
  latest.current = series;

  // Made again when the colour scheme changes: uPlot draws on a canvas with fixed colours.
  useEffect(() => {
    const element = box.current!;
    const chart = new uPlot(options(Math.max(120, element.clientWidth), palette()), toData(latest.current), element);
    plot.current = chart;
    const observer = new ResizeObserver(() => {
      const width = Math.max(120, element.clientWidth);
      if (width !== chart.width) chart.setSize({ width, height: 120 });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [theme]);

  useEffect(() => {
    plot.current?.setData(toData(series));
  }, [series]);

  return html`<div class="chart" ref=${box} role="img" aria-label="Tasks finished per minute and p95 run time, last 15 minutes"></div>`;
}
