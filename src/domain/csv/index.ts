/** Streaming CSV core: byte-level scanner, schema validation and the predictions join. */
export { CsvRecord, CsvScanError, CsvScanner, DEFAULT_MAX_RECORD_BYTES } from './scanner';
export type { CsvScanErrorCode, LineEnding, ScannerOptions } from './scanner';
export { CsvValidator, validateCsvStream } from './validator';
export type { Problem, ValidateOptions, ValidationReport } from './validator';
export { joinPredictions } from './join';
export type { JoinOptions, JoinResult } from './join';
export { joinParts } from './joinParts';
export type { JoinPart, JoinPartsOptions } from './joinParts';
export { isBlankRecord } from './blank';
export { csvQuote } from './predictions';
export type { ByteSource } from './source';
export { splitPredictionsByFile } from './regroup';
export type { RegroupOptions, RegroupResult } from './regroup';
export type { PartWriter } from './segments';
export type { PartInfo, SplitOptions } from './split';
export { concatSources } from './source';
