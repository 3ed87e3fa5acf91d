// The status page's loop: every 2 s it reads every node's metrics and the node list from this
// node's API, and shows them. With tokens configured it asks for one and keeps it in this tab's
// sessionStorage; a token the node refuses is forgotten and asked for again. The newest jobs are
// listed too, their status kept current live through /websocket/, and a job's output is followed
// live in a pane (#job-N in the address opens it).
import { readings, change } from './status-data.js';
import { NodeCard, clusterSummary } from './status-view.js';
import { LiveConnection } from './status-live.js';
import { JobList } from './status-jobs.js';
import { JobOutput } from './status-follow.js';

const REFRESH_MS = 2000;
/** The job list is read again every this many refreshes (between reads, status messages keep it current). */
const JOBS_EVERY = 5;
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

const live = new LiveConnection(
  {
    open: () => {
      liveState('connecting…');
      output.connection('open');
      void refreshJobs();
    },
    message: (m) => {
      // The node took the subscription (and the token, when it needs one).
      if (Array.isArray(m.groups_current)) liveState('live');
      if (m.group_name === 'jobs' && typeof m.unified_job_id === 'number' && typeof m.status === 'string' && (m.type ?? 'job') === 'job') {
        // A job not listed yet is a new one: read the list again.
        if (!jobs.update({ id: m.unified_job_id, status: m.status })) void refreshJobs();
      }
      // What the node says before it closes the connection (this tab fell behind, say); it is reconnected.
      if (typeof m.error === 'string') liveState(m.error, true);
      output.heard(m);
    },
    lost: (why) => {
      liveState(`reconnecting (${why})…`, true);
      output.connection(why);
    },
  },
  () => sessionStorage.getItem(TOKEN_KEY),
);
const jobs = new JobList($('jobs'), get, (id) => (location.hash = `job-${id}`));
const output = new JobOutput($('job-output'), get, live, (job) => jobs.update(job));

function liveState(text, problem = false) {
  $('live-state').textContent = text;
  $('live-state').classList.toggle('problem', problem);
}

let jobsShown = false;
async function refreshJobs() {
  try {
    await jobs.refresh();
  } catch (err) {
    if (!(err instanceof NeedsToken)) liveState(`cannot read the jobs (${err.message})`, true);
  }
}

/** Opens the output of the job the address names (#job-N), or closes it. */
function openFromAddress() {
  const id = /^#job-(\d+)$/.exec(location.hash)?.[1];
  if (id === undefined) output.close();
  else if (output.jobId !== Number(id)) output.open(Number(id));
  jobs.markOpen(id === undefined ? null : Number(id));
}
window.addEventListener('hashchange', openFromAddress);
$('job-close').addEventListener('click', () => {
  history.pushState(null, '', location.pathname + location.search);
  openFromAddress();
});

function askForToken(refused) {
  live.stop();
  jobsShown = false;
  sessionStorage.removeItem(TOKEN_KEY);
  $('token-form').hidden = false;
  $('token-problem').hidden = !refused;
  $('token-problem').textContent = refused ? 'That token was refused; try another.' : '';
  $('token').focus();
  showState('waiting for a token', true);
}

let timer;
let ticks = 0;
async function tick() {
  clearTimeout(timer);
  try {
    await refresh();
    $('token-form').hidden = true;
    if (!jobsShown) {
      jobsShown = true;
      $('jobs').hidden = false;
      live.start();
      openFromAddress();
    }
    if (ticks++ % JOBS_EVERY === 0) {
      void refreshJobs();
      // In case a status message was lost: the open job's state and anything stored past what is shown.
      output.resync();
    }
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
