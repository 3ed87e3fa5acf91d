// The Grafana dashboard (config/grafana/overseer.json), made from the panels of grafana-panels.ts,
// which name the catalog's metrics. `npm run docs` writes it; a test fails when the file and the
// code disagree, and another when a panel names a metric the catalog does not have.
// Import asks for a Prometheus datasource (the DS_PROMETHEUS input): it becomes the default of the
// `datasource` variable that every panel uses, so one dashboard serves several Prometheus servers.
import { ROWS, type PanelSpec } from './grafana-panels.ts';

/** Where the dashboard lives, from the repository root. */
export const GRAFANA_FILE = 'config/grafana/overseer.json';

/** Every panel and target points at the dashboard's datasource variable. */
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;

/** Grid: 24 columns; three panels a line. */
const PANEL_WIDTH = 8;
const PANEL_HEIGHT = 8;

type Json = Record<string, unknown>;

/** One panel's JSON at a place in the grid. */
function panelJson(spec: PanelSpec, id: number, x: number, y: number): Json {
  const steps = spec.thresholds === undefined
    ? [{ color: 'green', value: null }]
    : [{ color: spec.baseColor ?? 'green', value: null }, ...spec.thresholds.map((t) => ({ color: t.color, value: t.value }))];
  return {
    id,
    type: 'timeseries',
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { h: PANEL_HEIGHT, w: PANEL_WIDTH, x, y },
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        min: 0,
        ...(spec.max === undefined ? {} : { max: spec.max }),
        color: { mode: 'palette-classic' },
        thresholds: { mode: 'absolute', steps },
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: 10,
          showPoints: 'never',
          spanNulls: false,
          thresholdsStyle: { mode: spec.thresholds === undefined ? 'off' : 'line' },
        },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets: spec.queries.map((q, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      editorMode: 'code',
      expr: q.expr,
      legendFormat: q.legend,
      range: true,
    })),
  };
}

/** The `datasource` and `node` variables. */
function templating(): Json {
  const nodeQuery = 'label_values(overseer_threads, node)';
  return {
    list: [
      {
        name: 'datasource',
        label: 'Prometheus',
        type: 'datasource',
        query: 'prometheus',
        // Import replaces ${DS_PROMETHEUS} with the datasource picked for the input.
        current: { selected: false, text: '${DS_PROMETHEUS}', value: '${DS_PROMETHEUS}' },
        hide: 0,
        includeAll: false,
        multi: false,
        options: [],
        refresh: 1,
        regex: '',
        skipUrlSync: false,
      },
      {
        name: 'node',
        label: 'Node',
        type: 'query',
        datasource: DATASOURCE,
        definition: nodeQuery,
        query: { query: nodeQuery, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
        current: {},
        hide: 0,
        includeAll: true,
        allValue: '.+',
        multi: true,
        options: [],
        refresh: 2,
        regex: '',
        skipUrlSync: false,
        sort: 1,
      },
    ],
  };
}

/** The dashboard as Grafana's JSON model (schema 39, Grafana 10 and later), panels in rows. */
export function dashboard(): Json {
  const panels: Json[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    row.panels.forEach((spec, i) => {
      const column = i % (24 / PANEL_WIDTH);
      panels.push(panelJson(spec, id++, column * PANEL_WIDTH, y + Math.floor(i / (24 / PANEL_WIDTH)) * PANEL_HEIGHT));
    });
    y += Math.ceil(row.panels.length / (24 / PANEL_WIDTH)) * PANEL_HEIGHT;
  }
  return {
    __inputs: [
      {
        name: 'DS_PROMETHEUS',
        label: 'Prometheus',
        description: 'The Prometheus that scrapes the overseer nodes (config/prometheus/prometheus.yml)',
        type: 'datasource',
        pluginId: 'prometheus',
        pluginName: 'Prometheus',
      },
    ],
    __elements: {},
    __requires: [
      { type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' },
      { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' },
      { type: 'panel', id: 'timeseries', name: 'Time series', version: '' },
    ],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    description: 'overseer nodes: callback receiver, dispatcher, jobs, managers, cluster. Generated from the metrics catalog by npm run docs.',
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [],
    panels,
    refresh: '10s',
    schemaVersion: 39,
    tags: ['overseer', 'awx'],
    templating: templating(),
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: '',
    title: 'overseer',
    uid: 'overseer',
    version: 1,
    weekStart: '',
  };
}

/** The dashboard file's text. */
export function dashboardFile(): string {
  return `${JSON.stringify(dashboard(), null, 2)}\n`;
}
