import type { Job } from './api';
import { duration, h, when } from './dom';

/** One job's panel: facts, actions, timeline, AML, error and rejection report. Pure: job in, elements out. */

// The app's own rules, bundled in: the page never disagrees with the API about states.
import { JOB_STATES, RETRYABLE_STATES, TERMINAL_STATES } from '../../src/domain/jobRecord';

export const STATES = JOB_STATES;

export interface Actions {
  cancel(): void;
  retry(): void;
  predictions(): void;
  errors(): void;
  failedRows(): void;
}

export const fileName = (blob: string): string => blob.split('/').pop() ?? blob;
export const badge = (status: string): HTMLElement =>
  h('span', { class: `badge ${status}`, 'data-field': 'status' }, status);
const jobLink = (id: string): HTMLElement => h('a', { href: `#job/${id}` }, id);

function facts(rows: [string, Node | string | number | undefined][]): HTMLElement {
  const dl = h('dl');
  for (const [k, v] of rows) if (v !== undefined && v !== '') dl.append(h('dt', {}, k), h('dd', {}, v));
  return dl;
}

function timeline(job: Job): HTMLElement {
  const ol = h('ol', { class: 'timeline', 'aria-label': 'Phases' });
  let prev: number | undefined;
  for (const s of STATES) {
    const at = job.phases?.[s];
    if (!at) continue;
    const t = Date.parse(at);
    ol.append(
      h(
        'li',
        {},
        h('strong', {}, s),
        ' ',
        h('time', { datetime: at }, when(at)),
        prev !== undefined ? ` (+${duration(t - prev)})` : '',
      ),
    );
    prev = t;
  }
  return ol;
}

function report(job: Job): HTMLElement | false {
  const e = job.error;
  if (!e) return false;
  const problems = e.problems ?? [];
  return h(
    'div',
    { class: 'report' },
    h('h3', {}, job.status === 'Rejected' ? 'Why it was rejected' : 'Error'),
    h('p', { class: 'error', 'data-field': 'error' }, h('strong', {}, e.code), ': ', e.message),
    h(
      'p',
      { 'data-field': 'retryable' },
      e.retryable ? 'Retryable: yes, trying again may help.' : 'Retryable: no.',
    ),
    problems.length > 0 &&
      h(
        'table',
        { 'data-field': 'problems' },
        h(
          'caption',
          {},
          e.problemCount && e.problemCount > problems.length
            ? `The first ${problems.length} of ${e.problemCount} problems`
            : `${problems.length} problem${problems.length === 1 ? '' : 's'}`,
        ),
        h(
          'thead',
          {},
          h('tr', {}, ...['Line', 'Column', 'Problem'].map((c) => h('th', { scope: 'col' }, c))),
        ),
        h(
          'tbody',
          {},
          ...problems.map((p) =>
            h(
              'tr',
              {},
              h('td', { class: 'num' }, p.line),
              h('td', {}, p.column ?? ''),
              h('td', {}, p.message),
            ),
          ),
        ),
      ),
  );
}

export function renderDetail(job: Job, act: Actions, message: string): HTMLElement[] {
  const canCancel = !TERMINAL_STATES.has(job.status);
  const canRetry = RETRYABLE_STATES.has(job.status) && !job.retriedBy;
  const aml =
    job.amlJobName &&
    h(
      'div',
      {},
      h('h3', {}, 'Azure Machine Learning'),
      facts([
        ['Job name', job.amlJobName],
        ['Status', h('span', { 'data-field': 'amlStatus' }, job.amlStatus ?? '')],
        [
          'Status history',
          job.amlStatusHistory?.length
            ? job.amlStatusHistory.map((e) => `${e.status} ${when(e.since)}`).join(' → ')
            : undefined,
        ],
        [
          'Studio',
          job.amlStudioUrl
            ? h(
                'a',
                { href: job.amlStudioUrl, target: '_blank', rel: 'noopener noreferrer' },
                'Open in Azure ML Studio',
              )
            : undefined,
        ],
      ]),
    );
  return [
    h('h2', { id: 'detail-h' }, fileName(job.sourceBlob)),
    facts([
      ['Status', badge(job.status)],
      ['Job id', job.jobId],
      ['File', `${job.sourceContainer}/${job.sourceBlob}`],
      ['Received', when(job.receivedAt)],
      ['Rows', job.rowCount?.toLocaleString()],
      ['Bytes', job.byteCount?.toLocaleString()],
      // Only when some rows got no prediction: otherwise every row was scored.
      ['Rows scored', job.rowsFailed ? job.rowsScored?.toLocaleString() : undefined],
      ['Rows failed', job.rowsFailed ? job.rowsFailed.toLocaleString() : undefined],
      ['Deployment', job.deployment],
      ['Batch', job.batchId],
      ['Attempt', job.attempt ? String(job.attempt + 1) : undefined],
      ['Retry of', job.retryOf ? jobLink(job.retryOf) : undefined],
      ['Retried as', job.retriedBy ? jobLink(job.retriedBy) : undefined],
      [
        'Cancel',
        job.cancel
          ? `requested ${when(job.cancel.requestedAt)}; AML ${job.cancel.confirmed ? 'accepted it' : 'has not confirmed'}${job.cancel.amlAnswer ? ` (${job.cancel.amlAnswer})` : ''}`
          : job.cancelRequested && canCancel
            ? 'requested'
            : undefined,
      ],
    ]),
    h(
      'div',
      { class: 'actions' },
      job.status === 'Succeeded' &&
        h('button', { type: 'button', onclick: act.predictions }, 'Download predictions'),
      job.errorsBlob &&
        h(
          'button',
          { type: 'button', class: 'secondary', onclick: act.failedRows },
          'Download rows without a prediction',
        ),
      job.error &&
        h('button', { type: 'button', class: 'secondary', onclick: act.errors }, 'Download error report'),
      canRetry && h('button', { type: 'button', onclick: act.retry }, 'Retry'),
      canCancel && h('button', { type: 'button', class: 'secondary', onclick: act.cancel }, 'Cancel job'),
    ),
    h('p', { role: 'status', id: 'action-status' }, message),
    job.outage
      ? h(
          'p',
          { class: 'error', role: 'alert' },
          `AML unreachable since ${when(job.outage.since)} (${job.outage.missedChecks} missed checks): `,
          `${job.outage.lastError.code}: ${job.outage.lastError.message}`,
        )
      : '',
    h('h3', {}, 'Timeline'),
    timeline(job),
    aml || '',
    report(job) || '',
    job.warnings?.length
      ? h('div', {}, h('h3', {}, 'Warnings'), h('ul', {}, ...job.warnings.map((w) => h('li', {}, w))))
      : '',
  ].filter((n): n is HTMLElement => typeof n !== 'string');
}
