// The Prefer header (RFC 7240), read in one pass: a header is client input of up to 16 KB
// on every submit and monitor request, so no step may look back (a backtracking pattern
// over "a", 16,000 spaces and a quote blocked the event loop for half a second).
//
//   preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
//   word       = token / quoted-string

// tchar (RFC 9110 §5.6.2), by character code.
const tchar = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") tchar[c.charCodeAt(0)] = 1;
const isTchar = (code: number): boolean => code < 128 && tchar[code] === 1;
const isSpace = (code: number): boolean => code === 0x20 || code === 0x09;

/**
 * The preferences of a `Prefer` header: lower-case names, with their values unquoted;
 * parameters after `;` are dropped (no preference we honour has any). Several `Prefer`
 * headers arrive joined by commas, which is how they combine; the first occurrence of a
 * preference wins (RFC 7240 §2). A malformed preference is skipped up to the next comma.
 * Linear in the length of the header.
 */
export function parsePrefer(header: string | undefined): Map<string, string | undefined> {
  const preferences = new Map<string, string | undefined>();
  if (!header) return preferences;
  const n = header.length;
  let i = 0;
  while (i < n) {
    while (i < n && (isSpace(header.charCodeAt(i)) || header.charCodeAt(i) === 0x2c)) i++;
    const start = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    const name = header.slice(start, i).toLowerCase();
    while (i < n && isSpace(header.charCodeAt(i))) i++;
    let value: string | undefined;
    let wellFormed = name !== '';
    if (wellFormed && header.charCodeAt(i) === 0x3d /* = */) {
      i++;
      while (i < n && isSpace(header.charCodeAt(i))) i++;
      if (header.charCodeAt(i) === 0x22 /* " */) {
        const quoted = readQuoted(header, i);
        value = quoted.value;
        wellFormed = quoted.value !== undefined;
        i = quoted.end;
      } else {
        const from = i;
        while (i < n && isTchar(header.charCodeAt(i))) i++;
        value = header.slice(from, i);
      }
      while (i < n && isSpace(header.charCodeAt(i))) i++;
    }
    // Parameters (or anything malformed) up to the comma that ends the preference.
    const rest = i;
    while (i < n && header.charCodeAt(i) !== 0x2c) {
      if (header.charCodeAt(i) === 0x22) i = readQuoted(header, i).end;
      else i++;
    }
    if (rest < i && header.charCodeAt(rest) !== 0x3b /* ; */) wellFormed = false;
    if (wellFormed && !preferences.has(name)) preferences.set(name, value);
  }
  return preferences;
}

// A quoted-string starting at `start` (its opening quote): its unescaped value, and the
// index after its closing quote; no value when it is not closed.
function readQuoted(header: string, start: number): { value: string | undefined; end: number } {
  let value = '';
  let i = start + 1;
  let from = i;
  while (i < header.length) {
    const code = header.charCodeAt(i);
    if (code === 0x22) return { value: value + header.slice(from, i), end: i + 1 };
    if (code === 0x5c /* \ */ && i + 1 < header.length) {
      value += header.slice(from, i);
      from = i + 1;
      i += 2;
    } else i++;
  }
  return { value: undefined, end: header.length };
}

/**
 * The `wait` to honour, in seconds: the one asked for, capped at `maxWait` however large;
 * undefined when none, or not a whole number of seconds.
 */
export function preferredWait(preferences: Map<string, string | undefined>, maxWait: number): number | undefined {
  const value = preferences.get('wait');
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), maxWait);
}
