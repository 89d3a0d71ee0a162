/**
 * A small RFC 4180 parser for tests (quotes, doubled quotes, CRLF, newlines inside
 * quotes), shared by the export's worker tests and the ops e2e test.
 *
 * @param {string} text
 * @param {string} sep  the separator: ',' or ';'
 * @returns {string[][]}
 */
export function parseCsv(text, sep) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === sep) {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  if (field || row.length) rows.push([...row, field]);
  return rows;
}
