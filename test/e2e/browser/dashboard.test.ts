import { BlobServiceClient } from '@azure/storage-blob';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { eventually } from '../../support/eventually';
import { testConnectionString } from '../../support/storage';
import { startStack, type Stack } from '../stack';

/**
 * The dashboard in a real browser (Debian's chromium, headless) against the whole local stack. Every wait is on
 * what the page shows; each test leaves a screenshot in .artifacts/browser/.
 */
const root = join(__dirname, '..', '..', '..');
const shots = join(root, '.artifacts', 'browser');
const sample = readFileSync(join(root, 'samples', 'diamonds-sample.csv'));
const sampleRows = sample.toString('utf8').trim().split('\n').length - 1;
const WAIT = 60_000;

// Debian's chromium (apt-get install chromium), or CHROMIUM_PATH. Without one the tests skip with one line,
// except under CI=true, where .ci/run installs it and a skip would hide a failure.
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(executablePath);
if (!haveBrowser && process.env.CI === 'true')
  throw new Error(`CI=true and no chromium at ${executablePath}`);
if (!haveBrowser)
  process.stderr.write(
    `browser tests: no chromium at ${executablePath}, skipped (apt-get install chromium, or set CHROMIUM_PATH).\n`,
  );
const browserTest = haveBrowser ? test : test.skip;

let stack: Stack;
let browser: Browser;
let page: Page;
let ui: string;

jest.setTimeout(180_000);

beforeAll(async () => {
  if (!haveBrowser) return;
  // The app serves dist/web: build it from the current sources (about a second).
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web', '--logLevel', 'warn'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  mkdirSync(shots, { recursive: true });
  [stack, browser] = await Promise.all([startStack(), chromium.launch({ executablePath, headless: true })]);
  ui = `${stack.api}/ui`;
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

beforeEach(async () => {
  if (!haveBrowser) return;
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
});

afterEach(async () => {
  if (!haveBrowser) return;
  stack.emulator.setFaults({ failJobs: false, hangInQueued: false });
  const name = (expect.getState().currentTestName ?? 'test').replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  await page.close();
});

const detail = (p: Page) => p.locator('#detail');
async function waitStatus(p: Page, status: string): Promise<void> {
  await p
    .locator('#detail [data-field=status]', { hasText: new RegExp(`^${status}$`) })
    .waitFor({ timeout: WAIT });
}
async function chooseFile(p: Page, name: string, content: Buffer | string): Promise<void> {
  await p.setInputFiles('#file', { name, mimeType: 'text/csv', buffer: Buffer.from(content) });
}
/** A job started over the API (for tests about what the page does with a job, not about uploading). */
async function postJob(name: string, content: Buffer | string = sample): Promise<string> {
  const r = await fetch(`${stack.api}/jobs?name=${name}`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/csv' },
    body: content,
  });
  expect(r.status).toBe(202);
  return ((await r.json()) as { jobId: string }).jobId;
}
/** Waits until the list shows exactly these jobs, in this order. */
async function showsRows(p: Page, ids: string[], what: string): Promise<void> {
  await eventually(
    async () => {
      const rows = await p.locator('#jobs tbody tr').all();
      expect(await Promise.all(rows.map((r) => r.getAttribute('data-job')))).toEqual(ids);
      return true;
    },
    { what, timeoutMs: WAIT },
  );
}

browserTest('the page is served by the app: HTML, revalidated, nothing outside the web root', async () => {
  const r = await fetch(ui);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(r.headers.get('cache-control')).toBe('no-cache');
  expect(await r.text()).toContain('<title>Batch scoring jobs</title>');
  expect((await fetch(`${ui}/`)).status).toBe(200);
  for (const bad of ['..%2F..%2Fpackage.json', '%2E%2E/%2E%2E/package.json', 'nothing.js'])
    expect((await fetch(`${ui}/${bad}`)).status).toBe(404);
  await page.goto(ui);
  await page.getByRole('heading', { name: 'Jobs', exact: true }).waitFor();
});

browserTest('upload a CSV through the page (dropped on it) and watch it reach Succeeded', async () => {
  await page.goto(ui);
  // What the browser hands the page when a file is dropped: a DataTransfer holding the File.
  const dropped = await page.evaluateHandle(
    `(() => { const d = new DataTransfer(); d.items.add(new File([${JSON.stringify(sample.toString('utf8'))}], 'page-upload.csv', { type: 'text/csv' })); return d; })()`,
  );
  await page.dispatchEvent('#drop', 'dragover', { dataTransfer: dropped });
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dropped });
  await detail(page).getByRole('heading', { name: 'page-upload.csv' }).waitFor({ timeout: WAIT });
  await waitStatus(page, 'Succeeded');
  expect(await page.locator('#progress').getAttribute('value')).toBe('1');
  await detail(page).getByText(sampleRows.toLocaleString('en-US'), { exact: true }).waitFor();
  // The timeline holds every phase the job went through, in order.
  const phases = await detail(page).locator('.timeline strong').allTextContents();
  // (Running shows only when a poll saw AML running; a fast job may go from Queued to Completed between polls.)
  expect(phases.filter((p) => p !== 'Running')).toEqual([
    'Received',
    'Validating',
    'Submitted',
    'Publishing',
    'Succeeded',
  ]);
  await detail(page).locator('[data-field=amlStatus]', { hasText: 'Completed' }).waitFor();
  // And the list shows it, selected.
  await page.locator('#jobs tbody tr.selected', { hasText: 'page-upload.csv' }).waitFor();
});

browserTest('download the predictions', async () => {
  const id = await postJob('to-download.csv');
  await page.goto(`${ui}#job/${id}`);
  await waitStatus(page, 'Succeeded');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download predictions' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('to-download_predictions.csv');
  const lines = readFileSync((await download.path())!, 'utf8')
    .trim()
    .split('\n');
  expect(lines[0]).toBe('carat,cut,color,clarity,depth,table,price,x,y,z,prediction');
  expect(lines).toHaveLength(sampleRows + 1);
  // No cancel or retry on a finished, successful job.
  expect(await page.getByRole('button', { name: /Cancel|Retry/ }).count()).toBe(0);
});

browserTest("see a rejected file's problems with their line numbers", async () => {
  const bad = [
    'carat,cut,color,clarity',
    '0.3,Ideal,E,SI1',
    'heavy,Ideal,E,SI1',
    '0.5,Ideal,E,SI1',
    '0.4,Superb,E,SI1',
  ];
  await page.goto(ui);
  await chooseFile(page, 'bad-values.csv', bad.join('\n') + '\n');
  await waitStatus(page, 'Rejected');
  const problems = detail(page).locator('[data-field=problems] tbody tr');
  await problems.first().waitFor();
  const cells = await Promise.all((await problems.all()).map((r) => r.locator('td').allTextContents()));
  expect(cells.map(([line, column]) => [line, column])).toEqual([
    ['3', 'carat'],
    ['5', 'cut'],
  ]);
  expect(await detail(page).locator('[data-field=retryable]').textContent()).toContain('Retryable: no');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download error report' }).click(),
  ]);
  const report = JSON.parse(readFileSync((await download.path())!, 'utf8')) as {
    problems: { line: number }[];
  };
  expect(report.problems.map((p) => p.line)).toEqual([3, 5]);
  expect(await page.getByRole('button', { name: /Cancel|Retry/ }).count()).toBe(0);
});

browserTest('cancel a job hung at AML', async () => {
  stack.emulator.setFaults({ hangInQueued: true });
  await page.goto(ui);
  await chooseFile(page, 'hung.csv', sample);
  await detail(page).locator('[data-field=amlStatus]', { hasText: 'Queued' }).waitFor({ timeout: WAIT });
  expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0);
  await page.getByRole('button', { name: 'Cancel job' }).click();
  await waitStatus(page, 'Canceled');
  expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
  const aml = stack.emulator.jobs().find((j) => j.status === 'Canceled');
  expect(aml).toBeDefined();
});

browserTest('retry a failed job', async () => {
  stack.emulator.setFaults({ failJobs: 'Out of memory on compute node (simulated)' });
  const failed = await postJob('fails-once.csv');
  await page.goto(`${ui}#job/${failed}`);
  await waitStatus(page, 'Failed');
  await detail(page).locator('[data-field=error]', { hasText: 'Out of memory' }).waitFor();
  expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
  stack.emulator.setFaults({ failJobs: false });
  await page.getByRole('button', { name: 'Retry' }).click();
  // The page moves to the new job, which links back to the one it retries.
  // (Or the page says the app refused: then fail at once with its words.)
  await detail(page)
    .getByRole('link', { name: failed })
    .or(page.getByText(/^Retry refused/))
    .waitFor({ timeout: WAIT });
  expect(await page.locator('#action-status').textContent()).toBe(`Retry started from ${failed}.`);
  await waitStatus(page, 'Succeeded');
  expect(page.url()).not.toContain(failed);
});

browserTest(
  'upload a file through /api/uploads straight to storage (the path for files over 90 MB)',
  async () => {
    // The browser PUTs to the storage account: another origin, so the account needs a CORS rule (as in Azure).
    const origin = new URL(stack.api).origin;
    await BlobServiceClient.fromConnectionString(testConnectionString()).setProperties({
      cors: [
        {
          allowedOrigins: origin,
          allowedMethods: 'PUT,OPTIONS',
          allowedHeaders: '*',
          exposedHeaders: '*',
          maxAgeInSeconds: 60,
        },
      ],
    });
    await page.goto(`${ui}?directMax=0`);
    await chooseFile(page, 'via-storage.csv', sample);
    await detail(page)
      .getByRole('heading', { name: 'via-storage.csv' })
      .or(page.locator('#upload-status.error'))
      .waitFor({ timeout: WAIT });
    expect(await page.locator('#upload-status').textContent()).toMatch(/^Job .* started\.$/);
    await waitStatus(page, 'Succeeded');
  },
);

browserTest('page through the list, newest first, and filter it by status', async () => {
  for (let i = 0; i < 5; i++) await postJob(`paging-${i}.csv`);
  const all = (
    (await (await fetch(`${stack.api}/jobs?top=1000`)).json()) as { jobs: { jobId: string }[] }
  ).jobs.map((j) => j.jobId);
  expect(all.length).toBeGreaterThanOrEqual(5);
  await page.goto(`${ui}?top=2`);
  await showsRows(page, all.slice(0, 2), 'page 1');
  await page.getByRole('button', { name: 'Older' }).click();
  await showsRows(page, all.slice(2, 4), 'page 2');
  await page.getByText('Page 2').waitFor();
  await page.getByRole('button', { name: 'Newer' }).click();
  await showsRows(page, all.slice(0, 2), 'page 1 again');
  expect(await page.getByRole('button', { name: 'Newer' }).isDisabled()).toBe(true);

  await page.getByLabel('Status').selectOption('Rejected');
  await eventually(
    async () => {
      const statuses = await page.locator('#jobs tbody [data-field=status]').allTextContents();
      expect(statuses.length).toBeGreaterThan(0);
      expect(new Set(statuses)).toEqual(new Set(['Rejected']));
      return true;
    },
    { what: 'only rejected jobs', timeoutMs: WAIT },
  );
});

browserTest(
  'works on a phone: one column, no sideways scrolling; the keyboard reaches a job and keeps focus on refresh',
  async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(ui);
    await page.getByRole('heading', { name: 'Jobs', exact: true }).waitFor();
    await postJob('phone.csv');
    const link = page.locator('#jobs tbody tr', { hasText: 'phone.csv' }).getByRole('link');
    await link.waitFor({ timeout: WAIT });
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    // Tab to the new job's link (bounded: a few stops before the list).
    const focused = async (): Promise<boolean> =>
      (await page.locator('#jobs tbody a:focus').allTextContents()).join() === 'phone.csv';
    for (let i = 0; i < 30 && !(await focused()); i++) await page.keyboard.press('Tab');
    expect(await focused()).toBe(true);
    // Live refresh redraws the row as the job moves on; the link keeps the keyboard focus.
    await page
      .locator('#jobs tbody tr', { hasText: 'phone.csv' })
      .getByText('Succeeded')
      .waitFor({ timeout: WAIT });
    expect(await focused()).toBe(true);
    await page.keyboard.press('Enter');
    await detail(page).getByRole('heading', { name: 'phone.csv' }).waitFor();
    await waitStatus(page, 'Succeeded');
  },
);

browserTest(
  'asks for a function key once when the app answers 401, keeps it for the tab, sends x-functions-key',
  async () => {
    // The Functions host's key check, at the edge where it would run in Azure: 401 with no body without the key.
    const seen: (string | undefined)[] = [];
    await page.route(`${stack.api}/jobs**`, (route) => {
      const key = route.request().headers()['x-functions-key'];
      seen.push(key);
      return key === 'the-key' ? route.continue() : route.fulfill({ status: 401, body: '' });
    });
    await postJob('keyed.csv');
    await page.goto(ui);
    const dialog = page.getByRole('dialog', { name: 'Function key needed' });
    await dialog.waitFor();
    await dialog.getByLabel('Function key').fill('the-key');
    await dialog.getByRole('button', { name: 'Use this key' }).click();
    await page.locator('#jobs tbody tr').first().waitFor();
    expect(seen.filter((k) => k === 'the-key').length).toBeGreaterThan(0);

    // A reload in the same tab keeps the key: no second question.
    await page.reload();
    await page.locator('#jobs tbody tr').first().waitFor();
    expect(await dialog.isVisible()).toBe(false);

    // Opened as /api/ui?code=<key> (how a function-key URL is shared): the key is taken and the address cleaned.
    const other = await browser.newPage();
    await other.route(`${stack.api}/jobs**`, (route) =>
      route.request().headers()['x-functions-key'] === 'the-key'
        ? route.continue()
        : route.fulfill({ status: 401, body: '' }),
    );
    await other.goto(`${ui}?code=the-key`);
    await other.locator('#jobs tbody tr').first().waitFor();
    expect(other.url()).not.toContain('code=');
    expect(await other.getByRole('dialog').isVisible()).toBe(false);
    await other.close();
  },
);
