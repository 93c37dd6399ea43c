import './style.css';
import {
  adoptKeyFromAddress,
  call,
  callJson,
  nextPath,
  upload,
  whenKeyNeeded,
  type Job,
  type JobPage,
} from './api';
import { $, h, redraw, save, when } from './dom';
import { badge, fileName, renderDetail, STATES } from './detail';

const params = new URLSearchParams(location.search);
const pageSize = Number(params.get('top')) || 20;
// Files above this go to storage through /api/uploads; `?directMax=0` forces that path (tests use it).
const directMax = params.has('directMax') ? Number(params.get('directMax')) : undefined;
const REFRESH_MS = 2000;

const ui = {
  live: $<HTMLInputElement>('#live'),
  status: $<HTMLSelectElement>('#status'),
  rows: $('#jobs tbody'),
  empty: $('#empty'),
  listError: $('#list-error'),
  prev: $<HTMLButtonElement>('#prev'),
  next: $<HTMLButtonElement>('#next'),
  page: $('#page'),
  detail: $('#detail'),
  drop: $('#drop'),
  file: $<HTMLInputElement>('#file'),
  progress: $<HTMLProgressElement>('#progress'),
  uploadStatus: $('#upload-status'),
  keyDialog: $<HTMLDialogElement>('#key-dialog'),
  key: $<HTMLInputElement>('#key'),
};

/** The list: the address of every page visited so far (nextLink only goes forward), and where we are. */
const list = { pages: [] as string[], index: 0, nextLink: undefined as string | undefined, drawn: '' };
const detail = { drawn: '', message: '' };
let waitingForBlob: string | undefined;

const selectedId = (): string | undefined => /^#job\/(.+)$/.exec(location.hash)?.[1];

function resetPages(): void {
  const status = ui.status.value ? `&status=${encodeURIComponent(ui.status.value)}` : '';
  list.pages = [`/jobs?top=${pageSize}${status}`];
  list.index = 0;
}

async function loadList(): Promise<void> {
  try {
    const page = await callJson<JobPage>(list.pages[list.index]!);
    list.nextLink = page.nextLink;
    ui.listError.hidden = true;
    drawList(page.jobs);
  } catch (e) {
    ui.listError.textContent = `Could not load the jobs: ${(e as Error).message}`;
    ui.listError.hidden = false;
  }
}

function drawList(jobs: Job[]): void {
  const sel = selectedId();
  const key = JSON.stringify([
    jobs.map((j) => [j.jobId, j.status, j.rowCount]),
    sel,
    list.index,
    !!list.nextLink,
  ]);
  if (key === list.drawn) return; // unchanged: keep the DOM (and keyboard focus) as it is
  list.drawn = key;
  redraw(
    ui.rows,
    jobs.map((j) =>
      h(
        'tr',
        { class: j.jobId === sel ? 'selected' : '', 'data-job': j.jobId },
        h('td', {}, h('a', { href: `#job/${j.jobId}`, title: j.sourceBlob }, fileName(j.sourceBlob))),
        h('td', {}, badge(j.status)),
        h('td', {}, when(j.receivedAt)),
        h('td', { class: 'num' }, j.rowCount?.toLocaleString() ?? ''),
      ),
    ),
  );
  ui.empty.hidden = jobs.length > 0;
  ui.page.textContent = `Page ${list.index + 1}`;
  ui.prev.disabled = list.index === 0;
  ui.next.disabled = !list.nextLink;
}

async function loadDetail(focus = false): Promise<void> {
  const id = selectedId();
  if (!id) return;
  let job: Job;
  try {
    job = await callJson<Job>(`/jobs/${encodeURIComponent(id)}`);
  } catch (e) {
    ui.detail.replaceChildren(
      h('h2', { id: 'detail-h' }, 'Job'),
      h('p', { class: 'error' }, (e as Error).message),
    );
    detail.drawn = '';
    return;
  }
  const key = JSON.stringify([job, detail.message]);
  if (key !== detail.drawn) {
    detail.drawn = key;
    redraw(ui.detail, renderDetail(job, actionsFor(job), detail.message));
  }
  if (focus) ui.detail.focus();
}

function say(message: string): void {
  detail.message = message;
  void loadDetail();
}

function actionsFor(job: Job) {
  const id = encodeURIComponent(job.jobId);
  return {
    async cancel() {
      const r = await call(`/jobs/${id}/cancel`, { method: 'POST' });
      say(r.ok ? 'Cancel requested: the AML job is being cancelled.' : `Cancel refused (${r.status}).`);
      void loadList();
    },
    async retry() {
      try {
        const r = await callJson<{ jobId: string }>(`/jobs/${id}/retry`, { method: 'POST' });
        detail.message = `Retry started from ${job.jobId}.`;
        location.hash = `#job/${r.jobId}`;
      } catch (e) {
        say(`Retry refused: ${(e as Error).message}`);
      }
    },
    async predictions() {
      const r = await call(`/jobs/${id}/predictions`);
      if (!r.ok) return say(`No predictions (${r.status}).`);
      const name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') ?? '')?.[1];
      save(await r.blob(), name ?? `${fileName(job.sourceBlob).replace(/\.csv$/i, '')}_predictions.csv`);
    },
    async failedRows() {
      const r = await call(`/jobs/${id}/errors`);
      if (!r.ok) return say(`No errors file (${r.status}).`);
      const name = /filename="([^"]+)"/.exec(r.headers.get('content-disposition') ?? '')?.[1];
      save(await r.blob(), name ?? `${fileName(job.sourceBlob).replace(/\.csv$/i, '')}_errors.csv`);
    },
    errors() {
      const body = JSON.stringify({ jobId: job.jobId, file: job.sourceBlob, ...job.error }, null, 2);
      save(new Blob([body], { type: 'application/json' }), `${fileName(job.sourceBlob)}.error.json`);
    },
  };
}

/** After an upload straight to storage the blob trigger makes the job; open it once it is listed. */
async function findUploadedJob(): Promise<void> {
  if (!waitingForBlob) return;
  const { jobs } = await callJson<JobPage>('/jobs?top=50');
  const found = jobs.find(
    (j) => j.sourceBlob === waitingForBlob || `${j.sourceContainer}/${j.sourceBlob}` === waitingForBlob,
  );
  if (!found) return;
  waitingForBlob = undefined;
  ui.uploadStatus.textContent = `Job ${found.jobId} started.`;
  location.hash = `#job/${found.jobId}`;
}

async function startUpload(file: File): Promise<void> {
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.uploadStatus.classList.remove('error');
  ui.uploadStatus.textContent = `Uploading ${file.name}…`;
  try {
    const up = await upload(file, (f) => (ui.progress.value = f), directMax);
    ui.progress.value = 1;
    if (up.jobId) {
      ui.uploadStatus.textContent = `Uploaded ${file.name}: job ${up.jobId} started.`;
      location.hash = `#job/${up.jobId}`;
    } else {
      ui.uploadStatus.textContent = `Uploaded ${file.name}; waiting for its job to start…`;
      waitingForBlob = up.blob;
      void findUploadedJob();
    }
    void loadList();
  } catch (e) {
    ui.uploadStatus.classList.add('error');
    ui.uploadStatus.textContent = `Upload of ${file.name} failed: ${(e as Error).message}`;
  } finally {
    ui.file.value = '';
  }
}

let asking: Promise<string> | undefined;
whenKeyNeeded(
  () =>
    (asking ??= new Promise<string>((resolve) => {
      ui.key.value = '';
      ui.keyDialog.addEventListener(
        'close',
        () => {
          asking = undefined;
          resolve(ui.key.value.trim());
        },
        { once: true },
      );
      ui.keyDialog.showModal();
    })),
);

let refreshing = false;
async function refresh(): Promise<void> {
  if (refreshing) return;
  refreshing = true;
  try {
    await Promise.all([loadList(), loadDetail(), findUploadedJob().catch(() => undefined)]);
  } finally {
    refreshing = false;
  }
}

adoptKeyFromAddress();
ui.status.append(...STATES.map((s) => h('option', { value: s }, s)));
ui.status.addEventListener('change', () => {
  resetPages();
  void loadList();
});
ui.prev.addEventListener('click', () => {
  list.index = Math.max(0, list.index - 1);
  void loadList();
});
ui.next.addEventListener('click', () => {
  if (!list.nextLink) return;
  list.pages[list.index + 1] = nextPath(list.nextLink);
  list.index++;
  void loadList();
});
window.addEventListener('hashchange', () => {
  list.drawn = '';
  void Promise.all([loadDetail(true), loadList()]);
});
ui.file.addEventListener('change', () => ui.file.files?.[0] && void startUpload(ui.file.files[0]));
ui.drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  ui.drop.classList.add('over');
});
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  const file = e.dataTransfer?.files[0];
  if (file) void startUpload(file);
});
setInterval(() => ui.live.checked && document.visibilityState === 'visible' && void refresh(), REFRESH_MS);

resetPages();
void refresh();
