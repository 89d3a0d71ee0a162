/** Parses RFC 4180 CSV with the given separator into rows of fields. */
export function parseCsv(text: string, sep: string): string[][];
