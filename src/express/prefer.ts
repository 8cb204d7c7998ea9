/**
 * The preferences of a `Prefer` header (RFC 7240): lower-case names, with their values
 * unquoted; parameters after `;` are dropped (no preference we honour has any). Several
 * `Prefer` headers arrive joined by commas, which is how they combine.
 */
export function parsePrefer(header: string | undefined): Map<string, string | undefined> {
  const preferences = new Map<string, string | undefined>();
  if (!header) return preferences;
  // preference = token [ "=" ( token / quoted-string ) ] *( ";" parameter ), comma separated.
  const pattern = /\s*([!#$%&'*+.^_`|~\w-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[!#$%&'*+.^_`|~\w-]*))?\s*(?:;(?:[^,"]|"(?:[^"\\]|\\.)*")*)?(?:,|$)/gy;
  for (let match = pattern.exec(header); match !== null && match[0] !== ''; match = pattern.exec(header)) {
    const name = match[1]!.toLowerCase();
    const raw = match[2];
    const value = raw?.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    // The first occurrence of a preference wins (RFC 7240 §2).
    if (!preferences.has(name)) preferences.set(name, value);
  }
  return preferences;
}

/** The `wait` to honour, in seconds: the one asked for, at most `maxWait`; undefined when none (or not a number). */
export function preferredWait(preferences: Map<string, string | undefined>, maxWait: number): number | undefined {
  const value = preferences.get('wait');
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined;
  return Math.min(Number(value), maxWait);
}
