import type { ValidationReport } from '../domain/csv';
import type { ErrorInfo } from '../domain/errors';
import type { SourceBlob } from '../orchestration/contracts';
import type { Deps } from '../app/deps';

/**
 * Keeps a rejected file where people look for them: `quarantine/<name>` (a copy; the inbox original
 * is never deleted by code) beside `quarantine/<name>.error.json` saying what is wrong and where.
 */
export async function quarantine(
  d: Deps,
  jobId: string,
  source: SourceBlob,
  error: ErrorInfo,
  report?: ValidationReport,
): Promise<{ quarantineBlob?: string }> {
  const q = d.settings.quarantineContainer;
  const name = source.name;
  const doc = {
    jobId,
    source: `${source.container}/${source.name}`,
    etag: source.etag,
    error: { code: error.code, message: error.message },
    ...(report
      ? {
          rows: report.rows,
          bytes: report.bytes,
          columns: report.columns,
          problemCount: report.problemCount,
          problems: report.problems,
        }
      : {}),
  };
  await d.data.putText(q, `${name}.error.json`, JSON.stringify(doc, null, 2));
  try {
    await d.data.copyFrom(d.data, source, { container: q, name });
    return { quarantineBlob: `${q}/${name}` };
  } catch {
    // The original may have been overwritten since; the report still says what was wrong with it.
    return {};
  }
}
