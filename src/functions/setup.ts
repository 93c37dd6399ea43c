import { app } from '@azure/functions';

// Stream HTTP bodies (CSV uploads and predictions downloads can be large); must run before any registration.
app.setup({ enableHttpStream: true });
