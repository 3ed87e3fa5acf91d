// The output pane: one job's output, followed live. What was stored before the subscription took
// effect (or while the connection was down) is read from the API; live events come from
// /websocket/; both go through CounterOrder, so each line shows once and in counter order, as
// /api/v2/jobs/N/stdout/?format=txt has it. The same rules as `npm run status -- --follow`.

const FINAL = new Set(['successful', 'failed', 'error', 'canceled']);
/** A gap in the counters this old makes the pane read the API for it; this old, it is passed over. */
const GAP_READ_MS = 2000;
const GAP_SKIP_MS = 10_000;
/** After the job ends, how long its remaining events may take to be stored. */
const STREAM_WAIT_MS = 15_000;
const PAGE_SIZE = 200;
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]/g;

/** Counters 1, 2, 3…: each event once, in order; a gap holds back what follows it (see src/cli/follow-order.ts). */
export class CounterOrder {
  #next = 1;
  #taken = 0;
  #held = new Map();
  #skipped = new Set();
  #late = [];
  gapSince;

  add(event) {
    const c = event.counter;
    if (!Number.isSafeInteger(c) || c < 1) return;
    if (c < this.#next) {
      if (this.#skipped.delete(c)) this.#late.push(event);
    } else if (!this.#held.has(c)) this.#held.set(c, event);
  }

  take(now = Date.now()) {
    const out = this.#late.splice(0);
    for (let e = this.#held.get(this.#next); e !== undefined; e = this.#held.get(this.#next)) {
      this.#held.delete(this.#next++);
      out.push(e);
    }
    this.#taken += out.length;
    this.gapSince = this.#held.size === 0 ? undefined : (this.gapSince ?? now);
    return out;
  }

  skipGap() {
    let lowest = Infinity;
    for (const c of this.#held.keys()) lowest = Math.min(lowest, c);
    if (lowest === Infinity) return;
    for (let c = this.#next; c < lowest; c++) this.#skipped.add(c);
    this.#next = lowest;
  }

  drain() {
    const out = [];
    for (let e = this.take(); e.length > 0 || this.#held.size > 0; e = this.take()) {
      out.push(...e);
      this.skipGap();
    }
    return out;
  }

  get next() {
    return this.#next;
  }

  get taken() {
    return this.#taken;
  }
}

/** The pane; open(id) follows a job, close() stops. get(path) reads the API (with the tab's token). */
export class JobOutput {
  #root;
  #get;
  #live;
  #title;
  #badge;
  #note;
  #pre;
  #job = null;
  #order;
  #complete = false;
  #endedAt;
  #following = false;
  #reads = Promise.resolve();
  #gapTimer;
  #checkTimer;
  #onJob;

  /** onJob(job): the job as the pane read it, for the list. */
  constructor(root, get, live, onJob = () => {}) {
    this.#root = root;
    this.#get = get;
    this.#live = live;
    this.#onJob = onJob;
    this.#title = root.querySelector('h2');
    this.#badge = root.querySelector('.badge');
    this.#note = root.querySelector('.job-note');
    this.#pre = root.querySelector('pre');
  }

  get jobId() {
    return this.#job?.id ?? null;
  }

  /** Shows job id's output and follows it while it runs. */
  open(id) {
    this.close();
    this.#job = { id, name: '', status: '' };
    this.#order = new CounterOrder();
    this.#complete = false;
    this.#endedAt = undefined;
    this.#following = true;
    this.#root.dataset.job = String(id);
    this.#root.hidden = false;
    this.#title.textContent = `job ${id}`;
    this.#pre.textContent = '';
    this.#setNote('reading…');
    this.#live.follow(id);
    this.resync();
  }

  close() {
    this.#stopFollowing();
    this.#job = null;
    this.#root.hidden = true;
    delete this.#root.dataset.job;
    delete this.#root.dataset.status;
  }

  /** A message from /websocket/ (the page hands on every one). */
  heard(m) {
    if (!this.#following) return;
    const id = this.#job.id;
    if (m.group_name === 'job_events' && m.job === id) {
      this.#order.add({ counter: m.counter, stdout: m.stdout ?? '' });
      this.#show();
    } else if (m.group_name === 'jobs' && m.unified_job_id === id) {
      if (typeof m.final_counter === 'number' || FINAL.has(m.status)) this.resync();
      else if (typeof m.status === 'string') this.#setJob({ ...this.#job, status: m.status });
    } else if (Array.isArray(m.groups_current)) {
      this.resync();
    }
  }

  /** Reads the job and its events stored past what is shown (after a (re)connect, a summary, a final status); nothing once it ended. */
  resync() {
    if (!this.#following) return;
    this.#read(async () => {
      const id = this.#job.id;
      const job = await this.#get(`/api/v2/jobs/${id}/`);
      if (this.#job?.id !== id) return;
      if (job.event_processing_finished) this.#complete = true;
      const finished = Date.parse(job.finished ?? '');
      if (FINAL.has(job.status)) this.#endedAt ??= Number.isNaN(finished) ? Date.now() : Math.min(Date.now(), finished);
      this.#setJob(job);
      this.#onJob(job);
      await this.#catchUp();
    });
  }

  #read(work) {
    this.#reads = this.#reads.then(async () => {
      if (!this.#following) return;
      try {
        await work();
      } catch (err) {
        this.#setNote(`cannot read the job (${err.message}); trying again`);
        return;
      }
      this.#check();
    });
  }

  async #catchUp() {
    const id = this.#job.id;
    for (let page = Math.floor(this.#order.taken / PAGE_SIZE) + 1; ; page++) {
      let answer;
      try {
        answer = await this.#get(`/api/v2/jobs/${id}/job_events/?order_by=counter&page_size=${PAGE_SIZE}&page=${page}`);
      } catch (err) {
        if (page > 1 && / 404$/.test(err.message)) return; // past the end
        throw err;
      }
      if (this.#job?.id !== id) return;
      for (const e of answer.results) this.#order.add(e);
      this.#show();
      if (answer.next === null) return;
    }
  }

  #show(events = this.#order.take()) {
    const text = events.filter((e) => e.stdout !== '').map((e) => `${e.stdout.replace(ANSI, '')}\n`).join('');
    if (text !== '') {
      const pre = this.#pre;
      const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
      pre.append(text);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    this.#watchGap();
  }

  #watchGap() {
    if (this.#order.gapSince === undefined || this.#gapTimer !== undefined || !this.#following) return;
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = undefined;
      this.#read(async () => {
        await this.#catchUp();
        if (this.#order.gapSince !== undefined && Date.now() - this.#order.gapSince >= GAP_SKIP_MS) {
          this.#order.skipGap();
          this.#show();
        }
      });
    }, GAP_READ_MS);
  }

  #setJob(job) {
    this.#job = job;
    this.#title.textContent = `job ${job.id}${job.name ? ` · ${job.name}` : ''}`;
    this.#badge.textContent = job.status;
    this.#badge.className = `badge job-status ${job.status}`;
    this.#root.dataset.status = job.status;
    if (this.#following) this.#setNote(FINAL.has(job.status) ? 'ended; reading its last lines…' : 'following live');
  }

  /** Whether nothing more will come: the job ended and its events are all stored, or will not be. */
  #settled() {
    if (!FINAL.has(this.#job.status)) return false;
    return this.#complete || this.#job.started == null || Date.now() - (this.#endedAt ?? Date.now()) >= STREAM_WAIT_MS;
  }

  #check() {
    clearTimeout(this.#checkTimer);
    if (!this.#following) return;
    if (!this.#settled()) {
      if (FINAL.has(this.#job.status)) this.#checkTimer = setTimeout(() => this.resync(), 1000);
      return;
    }
    this.#show(this.#order.drain());
    this.#stopFollowing();
    const j = this.#job;
    this.#setNote(`${j.status}${j.elapsed > 0 ? ` in ${j.elapsed.toFixed(1)} s` : ''}${j.job_explanation ? `: ${j.job_explanation}` : ''}${this.#complete || j.started == null ? '' : ' (not every event was stored)'}`);
  }

  #stopFollowing() {
    this.#following = false;
    clearTimeout(this.#gapTimer);
    clearTimeout(this.#checkTimer);
    this.#gapTimer = undefined;
    if (this.#live) this.#live.follow(null);
  }

  #setNote(text) {
    this.#note.textContent = text;
  }

  /** What the live connection's state means for the pane (once the node answers the subscription, heard() reads what was stored meanwhile). */
  connection(state) {
    if (this.#following) this.#setNote(state === 'open' ? 'following live' : `live connection lost (${state}); reconnecting…`);
  }
}
