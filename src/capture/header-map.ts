/** A header value as Node's `setHeader()` takes it. */
export type HeaderValue = string | number | readonly string[];

/**
 * The headers of a capture: lower-case name → [name as given, value as given], in the
 * order first set, as Node's OutgoingMessage keeps them. A response has a handful, so two
 * arrays searched in order cost less to make and to read than a Map, which every task
 * would allocate.
 */
export class HeaderMap {
  readonly #names: string[] = [];
  readonly #entries: [string, HeaderValue][] = [];

  get size(): number {
    return this.#names.length;
  }

  get(lower: string): [string, HeaderValue] | undefined {
    const index = this.#names.indexOf(lower);
    return index < 0 ? undefined : this.#entries[index];
  }

  has(lower: string): boolean {
    return this.#names.includes(lower);
  }

  set(lower: string, entry: [string, HeaderValue]): void {
    const index = this.#names.indexOf(lower);
    if (index < 0) {
      this.#names.push(lower);
      this.#entries.push(entry);
    } else this.#entries[index] = entry;
  }

  delete(lower: string): void {
    const index = this.#names.indexOf(lower);
    if (index < 0) return;
    this.#names.splice(index, 1);
    this.#entries.splice(index, 1);
  }

  /** The lower-case names, in order. */
  keys(): readonly string[] {
    return this.#names;
  }

  /** The entries, in order. */
  values(): readonly [string, HeaderValue][] {
    return this.#entries;
  }

  *[Symbol.iterator](): IterableIterator<[string, [string, HeaderValue]]> {
    for (let i = 0; i < this.#names.length; i++) yield [this.#names[i]!, this.#entries[i]!];
  }
}
