import type { CsvRecord } from './scanner';

/**
 * A blank line: a record that is empty or only spaces, tabs or CRs (and not quoted). The validator and the
 * join both skip blank lines and do not count them as rows, like pandas' `skip_blank_lines` (what
 * Azure ML reads the file with), so that row indexes agree with the predictions file.
 */
export function isBlankRecord(rec: CsvRecord): boolean {
  if (rec.end === rec.start) return true;
  if (rec.fieldCount !== 1 || rec.isQuoted(0)) return false;
  const buf = rec.buf;
  for (let k = rec.start; k < rec.end; k++) {
    const c = buf[k];
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}
