// The status page's loop: every 2 s it reads every node's metrics and the node list from this
// node's API, and shows them. With tokens configured it asks for one and keeps it in this tab's
// sessionStorage; a token the node refuses is forgotten and asked for again.
import { readings, change } from './status-data.js';
import { NodeCard, clusterSummary } from './status-view.js';

const REFRESH_MS = 2000;
const TOKEN_KEY = 'overseer.api-token';

/** A 401: the API needs a token, or refused the one sent. */
class NeedsToken extends Error {
  constructor(refused) {
    super(refused ? 'The node refused this token.' : 'The API needs a token.');
    this.refused = refused;
  }
}

async function get(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store' });
  if (response.status === 401) throw new NeedsToken(token !== null);
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

const $ = (id) => document.getElementById(id);
const cards = new Map();
/** Per node: the reading rates are measured from (moves on only when the receiver's snapshot does), and the last change seen. */
const baselines = new Map();
const changes = new Map();
const summary = clusterSummary();
$('cluster').append(summary.list);

function showState(text, problem = false) {
  $('state').textContent = text;
  $('state').classList.toggle('problem', problem);
}

async function refresh() {
  const [metrics, instanceList] = await Promise.all([get('/api/v2/metrics/?format=json'), get('/api/v2/instances/?page_size=200')]);
  const now = Date.now();
  const current = readings(metrics);
  const instances = instanceList.results;
  const names = [...new Set([...instances.map((i) => i.name), ...current.keys()])].sort();
  for (const name of names) {
    let card = cards.get(name);
    if (card === undefined) {
      card = new NodeCard($('nodes'), name);
      cards.set(name, card);
    }
    const reading = current.get(name);
    const c = reading ? change(baselines.get(name), reading) : null;
    if (reading && (c || !baselines.has(name))) baselines.set(name, reading);
    const instance = instances.find((i) => i.name === name);
    // A rate is only as good as the snapshots it came from: none is shown for a stale or lost node.
    if (instance !== undefined && instance.status !== 'healthy') changes.delete(name);
    else if (c) changes.set(name, c);
    card.setInstance(instance);
    card.setReading(now, reading ?? null, reading ? changes.get(name) ?? null : null);
  }
  summary.show(instances, current, changes);
  $('cluster').hidden = false;
  const rejected = metrics.rejected.length ? ` · ${metrics.rejected.length} snapshot(s) left out (see /api/v2/metrics/?format=json)` : '';
  showState(`updated ${new Date(now).toLocaleTimeString('en-GB')}${rejected}`);
}

function askForToken(refused) {
  sessionStorage.removeItem(TOKEN_KEY);
  $('token-form').hidden = false;
  $('token-problem').hidden = !refused;
  $('token-problem').textContent = refused ? 'That token was refused; try another.' : '';
  $('token').focus();
  showState('waiting for a token', true);
}

let timer;
async function tick() {
  clearTimeout(timer);
  try {
    await refresh();
    $('token-form').hidden = true;
  } catch (err) {
    if (err instanceof NeedsToken) return askForToken(err.refused);
    showState(`cannot read the cluster (${err.message}); trying again`, true);
  }
  timer = setTimeout(tick, REFRESH_MS);
}

$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
  $('token').value = '';
  void tick();
});

void tick();
