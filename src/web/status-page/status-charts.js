// Small live charts (uPlot, loaded as the global uPlot before this module runs): the last few
// minutes of one or two series, time on x, zero at the bottom of y.

/** How many refreshes a chart keeps: 5 minutes at one every 2 s. */
const POINTS = 150;
const HEIGHT = 110;
const COLOURS = ['#2f6fde', '#d9822b', '#3a9a5b'];
/** Tick steps of a chart of counts: whole numbers only. */
const WHOLE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];
const clock = (t) => new Date(t * 1000).toLocaleTimeString('en-GB');

/** One chart of a node card; push() adds the values of a refresh (null: a gap). */
export class LiveChart {
  #plot;
  #data;

  /** series: [{label}], format: how a y value reads (units included); whole: the values are counts. */
  constructor(container, title, series, format, whole = false) {
    const box = document.createElement('figure');
    box.className = 'chart';
    const caption = document.createElement('figcaption');
    caption.textContent = title;
    box.append(caption);
    container.append(box);
    this.#data = [[], ...series.map(() => [])];
    const axis = { stroke: '#667', grid: { stroke: '#e4e6ea', width: 1 }, ticks: { show: false }, font: '11px system-ui, sans-serif' };
    this.#plot = new globalThis.uPlot(
      {
        width: Math.max(220, box.clientWidth || 260),
        height: HEIGHT,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] } },
        axes: [
          { ...axis, size: 24, space: 70, values: (_u, ticks) => ticks.map(clock) },
          { ...axis, size: 60, values: (_u, ticks) => ticks.map(format), ...(whole ? { incrs: WHOLE_STEPS } : {}) },
        ],
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLOURS[i], width: 1.5, spanGaps: false, value: (_u, v) => (v == null ? '–' : format(v)) }))],
      },
      this.#data,
      box,
    );
    new ResizeObserver(() => this.#plot.setSize({ width: Math.max(220, box.clientWidth), height: HEIGHT })).observe(box);
  }

  /** Adds one refresh at time t (ms). */
  push(t, values) {
    this.#data[0].push(t / 1000);
    values.forEach((v, i) => this.#data[i + 1].push(v ?? null));
    if (this.#data[0].length > POINTS) for (const column of this.#data) column.shift();
    this.#plot.setData(this.#data);
  }
}
