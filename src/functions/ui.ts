import { app } from '@azure/functions';
import { serveUi, webRoot } from '../handlers/ui';
import { registerOtherMethods } from './httpApi';

/** The dashboard: `/api/ui` is the page, `/api/ui/{*path}` any other built file. Keys in Azure like the API. */
const authLevel = 'function' as const;
const root = webRoot(__dirname);

app.http('ui', {
  route: 'ui',
  methods: ['GET'],
  authLevel,
  handler: () => serveUi(root, undefined),
});

app.http('uiAsset', {
  route: 'ui/{*path}',
  methods: ['GET'],
  authLevel,
  handler: (req) => serveUi(root, req.params.path),
});

registerOtherMethods('ui', ['GET']);
registerOtherMethods('ui/{*path}', ['GET']);
