// The Prefer header is read on every submit and monitor request, from whoever sends it:
// it must be read right, and in time linear in its length.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePrefer, preferredWait } from '../src/express/prefer.js';

const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
const quotable = fc.stringMatching(/^[ -~]{0,12}$/);
const ows = fc.constantFrom('', ' ', '\t', '  ');

// A preference as text, and the name and value it stands for.
const preference = fc
  .record({
    name: token,
    value: fc.option(fc.oneof(token.map((t) => ({ text: t, value: t })), quotable.map((q) => ({ text: `"${q.replace(/["\\]/g, '\\$&')}"`, value: q }))), { nil: undefined }),
    parameters: fc.array(fc.tuple(token, fc.option(token, { nil: undefined })), { maxLength: 2 }),
    spaces: fc.tuple(ows, ows, ows),
  })
  .map(({ name, value, parameters, spaces: [before, around, after] }) => ({
    name: name.toLowerCase(),
    value: value?.value,
    text:
      `${before}${name}` +
      (value === undefined ? '' : `${around}=${around}${value.text}`) +
      parameters.map(([key, val]) => `${after};${after}${key}${val === undefined ? '' : `=${val}`}`).join('') +
      after,
  }));

// The fastest of a few runs: the parse's own time, not a pause of the machine around it.
function fastest(run: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 7; i++) {
    const start = process.hrtime.bigint();
    run();
    best = Math.min(best, Number(process.hrtime.bigint() - start));
  }
  return best;
}

// How much longer `header` takes than an ordinary header of its length, measured side by
// side so that the machine's speed cancels out: about 1 for a linear parser, hundreds for
// the backtracking one this replaced. (What it takes in milliseconds is a benchmark's
// business: npm run bench prints it.)
function slowdown(header: string): number {
  const ordinary = 'respond-async, wait=10, '.repeat(Math.ceil(header.length / 24)).slice(0, header.length);
  parsePrefer(header);
  parsePrefer(ordinary);
  return fastest(() => parsePrefer(header)) / fastest(() => parsePrefer(ordinary));
}

const adversarial = {
  'a, 15,900 spaces and a quote (the header that stalled the old parser)': `a${' '.repeat(15_900)}"`,
  'spaces and tabs': `wait${' \t'.repeat(8_000)}=`,
  'an unclosed quote of backslashes': `a="${'\\'.repeat(8_000)}`,
  'semicolons': `a${';'.repeat(16_000)}`,
  'equals signs': `a${'='.repeat(16_000)}`,
  'quotes': '"'.repeat(16_000),
  'commas and spaces': ', '.repeat(8_000),
};

describe('parsePrefer', () => {
  it('reads every well-formed header: names in lower case, values unquoted, the first of a name wins', () => {
    fc.assert(
      fc.property(fc.array(preference, { minLength: 1, maxLength: 8 }), (preferences) => {
        const expected = new Map<string, string | undefined>();
        for (const { name, value } of preferences) if (!expected.has(name)) expected.set(name, value);
        expect(parsePrefer(preferences.map((p) => p.text).join(','))).toEqual(expected);
      }),
    );
  });

  it('reads the usual headers', () => {
    expect(parsePrefer('respond-async, wait=10')).toEqual(new Map([['respond-async', undefined], ['wait', '10']]));
    expect(parsePrefer('WAIT = "5" ; x=1, wait=7')).toEqual(new Map([['wait', '5']]));
    expect(parsePrefer('handling=lenient; a="b,c", return=minimal')).toEqual(new Map([['handling', 'lenient'], ['return', 'minimal']]));
  });

  it('skips a malformed preference up to the next comma, and keeps the rest', () => {
    expect(parsePrefer('wait=5 junk, respond-async')).toEqual(new Map([['respond-async', undefined]]));
    expect(parsePrefer('=5, "x", wait="unclosed')).toEqual(new Map());
    expect(parsePrefer('@@@, wait=3')).toEqual(new Map([['wait', '3']]));
  });

  it('reads any header without throwing, names as tokens', () => {
    const pieces = fc.constantFrom(' ', '\t', ',', ';', '=', '"', '\\', 'a', 'wait', '5', 'x'.repeat(50), ' '.repeat(200));
    fc.assert(
      fc.property(fc.array(pieces, { maxLength: 2_000 }), fc.string({ maxLength: 200 }), (parts, noise) => {
        const header = (parts.join('') + noise).slice(0, 16 * 1024);
        for (const [name, value] of parsePrefer(header)) {
          expect(name).toMatch(/^[!#$%&'*+\-.^_`|~0-9a-z]+$/);
          expect(value === undefined || typeof value === 'string').toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it.each(Object.entries(adversarial))('reads a 16 KB header of %s in linear time', (_name, header) => {
    expect(header.length).toBeLessThanOrEqual(16 * 1024);
    expect(slowdown(header)).toBeLessThan(20);
  });
});

describe('preferredWait', () => {
  it('caps a wait at maxWait however many digits it has, and ignores what is not a whole number', () => {
    const wait = (value: string) => preferredWait(parsePrefer(`wait=${value}`), 30);
    expect(wait('5')).toBe(5);
    expect(wait('99999999999999999999')).toBe(30);
    expect(wait('9'.repeat(5_000))).toBe(30);
    expect([wait('-1'), wait('1.5'), wait('"x"'), wait('')]).toEqual([undefined, undefined, undefined, undefined]);
  });
});
