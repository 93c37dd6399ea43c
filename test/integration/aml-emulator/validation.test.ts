import { VALIDATION_PREFIX } from '../../../dev/aml-emulator/errors';
import { SAMPLE_CSV, TOKEN, jobBody, startHarness, submitOk, type Harness } from './harness';

jest.setTimeout(30_000);

interface Issue {
  PropertyName: string;
  ErrorMessage: string;
  ErrorCode: string;
}

let h: Harness;
let input: string;
beforeAll(async () => {
  h = await startHarness();
  input = h.path('valid.csv');
  await h.upload(input, SAMPLE_CSV);
});
afterAll(() => h.close());

/** Expects a 400 whose message is AML's validation text; returns the parsed issue list. */
async function issues(res: Response): Promise<Issue[]> {
  expect(res.status).toBe(400);
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('UserError');
  expect(body.error.message.startsWith(VALIDATION_PREFIX)).toBe(true);
  expect(body.error.message).toMatch(
    /^The Job request provided has the following validation errors: \[\{"PropertyName":/,
  );
  return JSON.parse(body.error.message.slice(VALIDATION_PREFIX.length)) as Issue[];
}

const props = (p: Record<string, unknown>): unknown => ({ properties: p });
const file = (uri: string): unknown => ({ JobInputType: 'UriFile', Uri: uri });
const out = (uri: string): unknown => ({ JobOutputType: 'UriFile', Uri: uri });

describe('validation errors of POST /jobs', () => {
  test('a body that is not JSON', async () => {
    const [issue] = await issues(await h.post('{"properties": '));
    expect(issue).toMatchObject({ ErrorCode: 'InvalidRequestBody' });
    expect(issue!.ErrorMessage).toContain('not valid JSON');
  });

  test('a body without properties', async () => {
    expect(await issues(await h.post({ foo: 1 }))).toEqual([
      {
        PropertyName: 'properties',
        ErrorMessage: 'The properties field is required.',
        ErrorCode: 'Required',
      },
    ]);
  });

  test('missing InputData', async () => {
    const [issue] = await issues(await h.post(props({ OutputData: { o: out(h.short(h.path('o.csv'))) } })));
    expect(issue).toMatchObject({ PropertyName: 'InputData', ErrorCode: 'Required' });
  });

  test('more than one input, more than one output', async () => {
    const list = await issues(
      await h.post(
        props({
          InputData: { a: file(h.short(input)), b: file(h.short(input)) },
          OutputData: { x: out(h.short(h.path('x.csv'))), y: out(h.short(h.path('y.csv'))) },
        }),
      ),
    );
    expect(list.map((i) => [i.PropertyName, i.ErrorCode])).toEqual([
      ['InputData', 'TooManyInputs'],
      ['OutputData', 'TooManyOutputs'],
    ]);
    expect(list[0]!.ErrorMessage).toContain('exactly one input');
  });

  test('an unknown datastore', async () => {
    const list = await issues(
      await h.submit('azureml://datastores/nosuchstore/paths/a.csv', h.short(h.path('o.csv'))),
    );
    expect(list).toEqual([
      {
        PropertyName: 'InputData.DiamondPricing.Uri',
        ErrorMessage: expect.stringContaining("Datastore 'nosuchstore' was not found"),
        ErrorCode: 'DatastoreNotFound',
      },
    ]);
  });

  test('the broken azureml:/subscriptions/.../providers/... form', async () => {
    const broken =
      'azureml:/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local-rg/providers/Microsoft.MachineLearningServices/workspaces/local-ws/datastores/workspaceblobstore/paths/' +
      input;
    const [issue] = await issues(await h.submit(broken, h.short(h.path('o.csv'))));
    expect(issue).toMatchObject({ PropertyName: 'InputData.DiamondPricing.Uri', ErrorCode: 'InvalidUri' });
    expect(issue!.ErrorMessage).toContain('azureml://datastores/<datastore>/paths/<path>');
  });

  test('unsupported input file types; parquet is refused by the emulator only', async () => {
    const [txt] = await issues(await h.submit(h.short('x/data.txt'), h.short(h.path('o.csv'))));
    expect(txt).toMatchObject({ ErrorCode: 'UnsupportedFileType' });
    expect(txt!.ErrorMessage).toContain('.csv or .parquet');
    const [parquet] = await issues(await h.submit(h.short('x/data.parquet'), h.short(h.path('o.csv'))));
    expect(parquet).toMatchObject({ ErrorCode: 'UnsupportedByEmulator' });
    expect(parquet!.ErrorMessage).toContain('not by this emulator');
  });

  test('a Literal input and a missing Uri', async () => {
    const list = await issues(
      await h.post(
        props({
          InputData: { a: { JobInputType: 'Literal', Value: '1' } },
          OutputData: { o: { JobOutputType: 'UriFile' } },
        }),
      ),
    );
    expect(list.map((i) => [i.PropertyName, i.ErrorCode])).toEqual([
      ['InputData.a.JobInputType', 'InvalidValue'],
      ['InputData.a.Uri', 'Required'],
      ['OutputData.o.Uri', 'Required'],
    ]);
  });

  test('an output that is not a datastore path', async () => {
    const [issue] = await issues(
      await h.submit(h.short(input), h.container.getBlobClient(h.path('o.csv')).url),
    );
    expect(issue).toMatchObject({ PropertyName: 'OutputData.score.Uri', ErrorCode: 'InvalidOutputUri' });
  });

  test('an output path that already exists, or that another job will write, is refused at submit time', async () => {
    const existing = h.path('exists.csv');
    await h.upload(existing, 'x');
    const [issue] = await issues(await h.submit(h.short(input), h.short(existing)));
    expect(issue).toMatchObject({ PropertyName: 'OutputData.score.Uri', ErrorCode: 'PathAlreadyExists' });

    const output = h.path('once.csv');
    const first = await submitOk(h, h.short(input), h.short(output));
    const [again] = await issues(await h.submit(h.short(input), h.long(output)));
    expect(again).toMatchObject({ ErrorCode: 'PathAlreadyExists' });
    await h.waitFor(first.name, ['Completed']);
    const [after] = await issues(await h.submit(h.short(input), h.short(output)));
    expect(after).toMatchObject({ ErrorCode: 'PathAlreadyExists' });
    expect(await h.container.getBlobClient(output).exists()).toBe(true);
  });

  test('an unknown deployment', async () => {
    const res = await h.submit(h.short(input), h.short(h.path('o.csv')), {
      'azureml-model-deployment': 'diamond-v9',
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toContain('No valid deployments to route to');
    expect(body.error.message).toContain("'diamond-v9'");
  });

  test('no refused request created a job', () => {
    expect(h.emu.jobs()).toHaveLength(1);
  });
});

describe('authentication and authorization', () => {
  test('no token, an empty token or a non-Bearer scheme is 401', async () => {
    for (const auth of [undefined, 'Bearer ', 'Basic dXNlcjpwYXNz']) {
      const res = await fetch(`${h.emu.url}/jobs`, {
        method: 'POST',
        headers: auth === undefined ? {} : { Authorization: auth },
        body: JSON.stringify(jobBody(h.short(input), h.short(h.path('o.csv')))),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
        'InvalidAuthenticationToken',
      );
    }
    expect((await fetch(`${h.emu.url}/jobs/batchjob-x`)).status).toBe(401);
  });

  test('with requiredToken, a wrong token is 401; with forbiddenToken that token is 403 naming the role', async () => {
    const strict = await startHarness({ requiredToken: 'the-right-one', forbiddenToken: 'no-role' });
    try {
      const wrong = await strict.submit(strict.short('a.csv'), strict.short('b.csv'), {
        Authorization: 'Bearer other',
      });
      expect(wrong.status).toBe(401);
      const wrongBody = (await wrong.json()) as { error: { code: string; message: string } };
      expect(wrongBody.error.code).toBe('InvalidAuthenticationToken');
      expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');

      const forbidden = await strict.submit(strict.short('a.csv'), strict.short('b.csv'), {
        Authorization: 'Bearer no-role',
      });
      expect(forbidden.status).toBe(403);
      const forbiddenBody = (await forbidden.json()) as { error: { code: string; message: string } };
      expect(forbiddenBody.error.code).toBe('AuthorizationFailed');
      expect(forbiddenBody.error.message).toContain('AzureML Data Scientist');

      const p = strict.path('ok.csv');
      await strict.upload(p, SAMPLE_CSV);
      const ok = await strict.submit(strict.short(p), strict.short(strict.path('o.csv')), {
        Authorization: 'Bearer the-right-one',
      });
      expect(ok.status).toBe(201);
      expect(TOKEN).not.toBe('Bearer the-right-one');
      expect((await strict.get('batchjob-x')).status).toBe(401);
    } finally {
      await strict.close();
    }
  });
});

describe('deployments', () => {
  test('without a default deployment, a request without the header has no deployment to route to', async () => {
    const nodefault = await startHarness({ defaultDeployment: null });
    try {
      const res = await nodefault.submit(nodefault.short('a.csv'), nodefault.short('b.csv'));
      expect(res.status).toBe(404);
      expect(await res.text()).toContain('No valid deployments to route to');
    } finally {
      await nodefault.close();
    }
  });
});

describe('routes', () => {
  test('unknown routes are 404 and wrong methods 405', async () => {
    const auth = { headers: { Authorization: TOKEN } };
    expect((await fetch(`${h.emu.url}/nothing`, auth)).status).toBe(404);
    expect((await fetch(`${h.emu.url}/jobs`, auth)).status).toBe(405);
    expect((await fetch(`${h.emu.url}/jobs/x`, { ...auth, method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${h.emu.url}/_emulator/nothing`)).status).toBe(404);
  });
});
