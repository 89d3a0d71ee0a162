/**
 * Structured logs without personal data. Call sites pass event names and counts, never
 * an email, a name or an IP; `redact` is a last line of defence for error messages.
 */
const EMAIL = /[^\s@<>"']+@[^\s@<>"']+/g;
const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}\b/g;
const IPV6 = /\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}\b/gi;

export function redact(text: string): string {
  return text.replace(EMAIL, '[email]').replace(IPV4, '[ip]').replace(IPV6, '[ip]');
}

type Fields = Record<string, string | number | boolean | undefined>;

function emit(level: 'info' | 'warn' | 'error', event: string, fields: Fields = {}) {
  const clean: Fields = {};
  for (const [k, v] of Object.entries(fields)) clean[k] = typeof v === 'string' ? redact(v) : v;
  console[level](JSON.stringify({ level, event, ...clean }));
}

export const log = {
  info: (event: string, fields?: Fields) => emit('info', event, fields),
  warn: (event: string, fields?: Fields) => emit('warn', event, fields),
  error: (event: string, fields?: Fields) => emit('error', event, fields),
};

export function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
