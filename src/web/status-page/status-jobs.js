// The newest jobs of the cluster (from /api/v2/jobs/, which lists by id: its last pages), their
// status kept current by /websocket/'s status messages between reads. A click opens a job's output.

/** How many jobs the list shows. */
export const SHOWN = 10;
const dash = '–';

function cell(row, field, text) {
  const td = document.createElement('td');
  td.dataset.field = field;
  td.textContent = text;
  row.append(td);
  return td;
}

const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString('en-GB') : dash);

export class JobList {
  #body;
  #empty;
  #get;
  #onOpen;
  #rows = new Map();
  #open = null;

  /** section: holds a <tbody> and the .jobs-empty line; onOpen(id) when a job is clicked. */
  constructor(section, get, onOpen) {
    this.#body = section.querySelector('tbody');
    this.#empty = section.querySelector('.jobs-empty');
    this.#get = get;
    this.#onOpen = onOpen;
  }

  /** The newest jobs, newest first: the last page of the list, and the one before when it is short. */
  async #newest() {
    const first = await this.#get(`/api/v2/jobs/?page_size=${SHOWN}`);
    const last = Math.ceil(first.count / SHOWN);
    if (last <= 1) return [...first.results].reverse();
    const page = (n) => this.#get(`/api/v2/jobs/?page_size=${SHOWN}&page=${n}`);
    const tail = await page(last);
    const jobs = tail.results.length < SHOWN ? [...(await page(last - 1)).results, ...tail.results] : tail.results;
    return jobs.slice(-SHOWN).reverse();
  }

  /** Reads the list again and shows it. */
  async refresh() {
    const jobs = await this.#newest();
    this.#rows.clear();
    this.#body.replaceChildren(...jobs.map((j) => this.#row(j)));
    this.#empty.hidden = jobs.length > 0;
    this.markOpen(this.#open);
  }

  #row(job) {
    const row = document.createElement('tr');
    row.dataset.job = String(job.id);
    const id = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'job-link';
    button.textContent = String(job.id);
    button.title = 'show its output';
    button.addEventListener('click', () => this.#onOpen(job.id));
    id.append(button);
    row.append(id);
    cell(row, 'name', job.name);
    const status = cell(row, 'status', '');
    const badge = document.createElement('span');
    status.append(badge);
    cell(row, 'started', clock(job.started));
    cell(row, 'elapsed', dash);
    row.addEventListener('click', (e) => {
      if (e.target !== button) this.#onOpen(job.id);
    });
    this.#rows.set(job.id, row);
    this.#show(row, job);
    return row;
  }

  #show(row, job) {
    const badge = row.querySelector('[data-field="status"] span');
    badge.textContent = job.status;
    badge.className = `badge job-status ${job.status}`;
    row.dataset.status = job.status;
    if (job.started !== undefined) row.querySelector('[data-field="started"]').textContent = clock(job.started);
    if (job.elapsed !== undefined) row.querySelector('[data-field="elapsed"]').textContent = job.elapsed > 0 ? `${job.elapsed.toFixed(1)} s` : dash;
  }

  /** A job's new status (from /websocket/, or the open pane's read); false when the job is not listed. */
  update(job) {
    const row = this.#rows.get(job.id);
    if (row === undefined) return false;
    this.#show(row, job);
    return true;
  }

  /** Marks the job whose output is open (null: none). */
  markOpen(id) {
    this.#open = id;
    for (const [jobId, row] of this.#rows) row.classList.toggle('open', jobId === id);
  }
}
