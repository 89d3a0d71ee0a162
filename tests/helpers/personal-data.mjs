/**
 * What counts as personal data in a log line (issue 6, "No personal data in logs"): email
 * addresses, IPv4 and IPv6 addresses, and the distinctive first names the tests send (a
 * name has no pattern to look for). Shared by the worker/dom log capture
 * (tests/worker/log-privacy-setup.ts) and the e2e and bench servers' output
 * (tests/helpers/server.mjs), so both look for the same things.
 */

export const EMAIL = /[\p{L}\p{N}._%+'-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)+/giu;
export const IPV4 = /(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])/g;
// Four or more hex groups, or a `::` form: no clock time (10:42:18) looks like that.
export const IPV6 =
  /(?<![\w:])(?:(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:)*:(?::[0-9a-f]{1,4})+)(?![\w:])/gi;
/** Distinctive first names the tests send. */
export const TEST_NAMES = ['Jürgen', 'Zoë-Marie', 'José', "O'Brien"];

/**
 * Personal data found in `lines`: each hit with the line it was in.
 * @param {{ level: string, text: string }[]} lines
 * @param {string[]} [extra] more literal strings to look for
 * @returns {string[]}
 */
export function personalDataIn(lines, extra = []) {
  const hits = [];
  for (const { level, text } of lines) {
    const found = [
      ...(text.match(EMAIL) ?? []),
      ...(text.match(IPV4) ?? []),
      ...(text.match(IPV6) ?? []),
      ...[...TEST_NAMES, ...extra].filter((s) => s && text.includes(s)),
    ];
    for (const f of found) hits.push(`${f}  in ${level}: ${text.slice(0, 300)}`);
  }
  return hits;
}

/**
 * The output of a `vite preview` server (Vite, Miniflare and the worker's console) as
 * lines for `personalDataIn`. Two things in it are not our logs and are left out:
 * - the server's own address (`http://127.0.0.1:4300`), masked in URLs only, so a client
 *   IP logged anywhere else, as 127.0.0.1 or otherwise, is still found;
 * - the address lines (From/To/Cc/Bcc/Subject) right after Miniflare's "send_email binding
 *   called with MessageBuilder:": the local stand-in for Email Service prints each mail's
 *   envelope to the terminal. Deployed, sending a mail writes nothing to the worker's logs.
 * @param {string} output
 * @returns {{ level: string, text: string }[]}
 */
export function serverLines(output) {
  const lines = [];
  let inMailHeader = false;
  for (const raw of output.split('\n')) {
    // Miniflare colours its messages; the escape codes are no part of the text.
    const line = raw.replace(/\u001b\[[0-9;]*m/g, '');
    if (line.includes('send_email binding called with MessageBuilder:')) {
      inMailHeader = true;
      continue;
    }
    if (inMailHeader && /^\s*(?:From|To|Cc|Bcc|Subject): /.test(line)) continue;
    inMailHeader = false;
    if (line.trim() === '') continue;
    lines.push({
      level: 'server output',
      text: line.replace(/(\bhttps?:\/\/)(?:127\.0\.0\.1|localhost|\[::1\])(?=[:/\s]|$)/g, '$1<server>'),
    });
  }
  return lines;
}
