// The page's parts: one card per node (its state, services, numbers and charts) and the cluster's
// summary. Values are set as text, never as HTML.
import { SERVICES } from './status-data.js';
import { LiveChart } from './status-charts.js';

const dash = '–';
const count = (v) => (v == null ? dash : Math.round(v).toLocaleString('en'));
const rate = (v) => (v == null ? dash : `${v >= 100 || v === 0 ? Math.round(v).toLocaleString('en') : v.toFixed(1)}/s`);
/** Seconds as ms below 1 s, else s; 3 significant figures at most. */
export const seconds = (v) => (v == null ? dash : v < 1 ? `${Number((v * 1000).toPrecision(3))} ms` : `${Number(v.toPrecision(3))} s`);
const ago = (s) => (s == null ? 'no snapshot recorded' : `last snapshot ${s < 10 ? s.toFixed(1) : Math.round(s)} s ago`);

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A <dl> of numbers; returns the element and a setter by key (each <dd> also carries data-metric for tests and scrapers). */
function numbers(items) {
  const list = element('dl', 'numbers');
  const cells = new Map();
  for (const [key, label, hint] of items) {
    const item = element('div');
    const dt = element('dt', '', label);
    if (hint) dt.title = hint;
    const dd = element('dd', '', dash);
    dd.dataset.metric = key;
    item.append(dt, dd);
    list.append(item);
    cells.set(key, dd);
  }
  return { list, set: (key, text) => (cells.get(key).textContent = text) };
}

const NODE_NUMBERS = [
  ['events-rate', 'events saved/s', 'rate of callback_receiver_events_insert_db_total'],
  ['inserted', 'events saved', 'callback_receiver_events_insert_db_total'],
  ['lag', 'lag p50 / p99', 'callback_receiver_event_processing_lag_seconds over the last snapshot interval'],
  ['avg-lag', 'lag, last batch', 'callback_receiver_event_processing_avg_seconds'],
  ['queue', 'callback queue', 'callback_receiver_events_queue_size_redis'],
  ['in-memory', 'in memory', 'callback_receiver_events_in_memory'],
  ['jobs', 'jobs waiting + running', 'instance_running_jobs'],
  ['capacity', 'capacity used', 'instance_consumed_capacity / instance_capacity'],
  ['remaining', 'capacity left', 'instance_remaining_capacity'],
  ['pool', 'dispatcher busy / threads', 'dispatcher_pool_active_tasks / dispatcher_pool_workers'],
];

const STATE_TEXT = {
  healthy: () => '',
  stale: (i) => `Stale: this node's ${ago(i.age_seconds)}, more than 2 snapshot intervals. Its numbers may be out of date: check its CPU and its Redis connection.`,
  lost: (i) => `Lost: no snapshot of this node is left in Redis (${ago(i.age_seconds)}). It is stopped or cannot reach Redis; the numbers below are the last ones seen.`,
};

/** One node's card. */
export class NodeCard {
  #root;
  #badge;
  #detail;
  #alert;
  #services;
  #numbers;
  #charts;

  constructor(parent, name) {
    this.#root = element('article', 'node');
    this.#root.dataset.node = name;
    const header = element('header');
    this.#badge = element('span', 'badge');
    this.#badge.dataset.metric = 'status';
    this.#detail = element('span', 'detail');
    header.append(element('h2', '', name), this.#badge, this.#detail);
    this.#alert = element('p', 'alert');
    this.#alert.hidden = true;
    this.#services = element('ul', 'services');
    this.#numbers = numbers(NODE_NUMBERS);
    const charts = element('div', 'charts');
    this.#root.append(header, this.#alert, this.#services, this.#numbers.list, charts);
    parent.append(this.#root);
    this.#charts = {
      events: new LiveChart(charts, 'events saved per second', [{ label: 'events/s' }], (v) => rate(v)),
      lag: new LiveChart(charts, 'processing lag', [{ label: 'p50' }, { label: 'p99' }], seconds),
      queue: new LiveChart(charts, 'events waiting', [{ label: 'queue' }, { label: 'in memory' }], count, true),
      jobs: new LiveChart(charts, 'jobs and capacity', [{ label: 'jobs' }, { label: 'capacity used' }], count, true),
    };
  }

  /** Shows the node's state from /api/v2/instances/ (undefined: not listed there yet). */
  setInstance(instance) {
    const status = instance?.status ?? 'healthy';
    this.#root.dataset.status = status;
    this.#badge.textContent = status;
    this.#badge.className = `badge ${status}`;
    this.#detail.textContent = instance ? `${instance.version} · ${ago(instance.age_seconds)}` : '';
    const text = instance ? STATE_TEXT[status](instance) : '';
    this.#alert.textContent = text;
    this.#alert.hidden = text === '';
  }

  /** Shows a reading and its change since the previous one (either may be null). */
  setReading(t, r, c) {
    if (r) {
      this.#services.replaceChildren(
        ...SERVICES.map((s) => {
          const up = r.services.includes(s);
          const threads = r.threads[s];
          const li = element('li', up ? 'up' : 'down', s.replace('_', ' '));
          if (threads != null) li.append(element('b', '', ` ${threads} thread${threads === 1 ? '' : 's'}`));
          if (!up) li.title = 'no snapshot of this service';
          return li;
        }),
      );
      const set = this.#numbers.set;
      set('inserted', count(r.inserted));
      set('avg-lag', seconds(r.avgLag));
      set('queue', count(r.queue));
      set('in-memory', count(r.inMemory));
      set('jobs', count(r.jobs));
      set('capacity', r.capacity == null ? dash : `${count(r.consumed)} of ${count(r.capacity)}`);
      set('remaining', count(r.remaining));
      set('pool', r.poolWorkers == null ? dash : `${count(r.activeTasks)} / ${count(r.poolWorkers)}`);
    }
    this.#numbers.set('events-rate', c ? rate(c.eventsPerSecond) : dash);
    this.#numbers.set('lag', !c ? dash : c.lagP50 == null ? 'no events' : `${seconds(c.lagP50)} / ${seconds(c.lagP99)}`);
    this.#charts.events.push(t, [r ? c?.eventsPerSecond : null]);
    this.#charts.lag.push(t, r && c ? [c.lagP50, c.lagP99] : [null, null]);
    this.#charts.queue.push(t, r ? [r.queue, r.inMemory] : [null, null]);
    this.#charts.jobs.push(t, r ? [r.jobs, r.consumed] : [null, null]);
  }
}

/** The cluster's summary line. */
export function clusterSummary() {
  const { list, set } = numbers([
    ['cluster-nodes', 'nodes'],
    ['cluster-pending', 'jobs pending', 'dispatcher_jobs{status="pending"}, cluster-wide'],
    ['cluster-waiting', 'jobs waiting', 'dispatcher_jobs{status="waiting"}, cluster-wide'],
    ['cluster-running', 'jobs running', 'dispatcher_jobs{status="running"}, cluster-wide'],
    ['cluster-events-rate', 'events saved/s, all nodes'],
    ['cluster-inserted', 'events saved, all nodes'],
  ]);
  return {
    list,
    show(instances, readings, changes) {
      const by = (s) => instances.filter((i) => i.status === s).length;
      const troubled = ['stale', 'lost'].filter((s) => by(s) > 0).map((s) => `${by(s)} ${s}`);
      set('cluster-nodes', `${instances.length}${troubled.length ? ` (${troubled.join(', ')})` : ''}`);
      // Cluster-wide gauges: every node counts the same database; take the newest count.
      const newest = [...readings.values()].sort((a, b) => (b.at.dispatcher ?? 0) - (a.at.dispatcher ?? 0))[0];
      for (const status of ['pending', 'waiting', 'running']) set(`cluster-${status}`, count(newest?.byStatus[status]));
      const rates = [...changes.values()].map((c) => c?.eventsPerSecond).filter((v) => v != null);
      set('cluster-events-rate', rates.length ? rate(rates.reduce((a, b) => a + b, 0)) : dash);
      set('cluster-inserted', count([...readings.values()].reduce((a, r) => a + (r.inserted ?? 0), 0)));
    },
  };
}
