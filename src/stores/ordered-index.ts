import type { Position } from '../core/task-query.js';

/** What an index orders: a creation time and an id. */
export interface Indexed {
  readonly id: string;
  readonly createdAt: number;
}

// Items per chunk: a chunk is split in two past twice this. Inserting or removing moves at
// most a chunk's items, and finding one is a binary search over the chunks, then in one.
const CHUNK = 512;

function compare(a: Indexed, b: Indexed): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * Items in creation order (then by id), in chunks of a few hundred: insert and remove cost
 * O(log n + chunk), and a walk from any position, newest first, O(log n) to start. Tasks
 * arrive mostly in order, so most inserts append.
 */
export class OrderedIndex<T extends Indexed> {
  readonly #chunks: T[][] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  insert(item: T): void {
    this.#size++;
    const chunks = this.#chunks;
    const last = chunks[chunks.length - 1];
    if (last === undefined) {
      chunks.push([item]);
      return;
    }
    // Tasks come in about creation order: at the end, or among the last few (those created
    // the same millisecond are ordered by id), found from the end without a search.
    if (item.createdAt >= last[last.length - 1]!.createdAt) {
      let at = last.length;
      while (at > 0 && compare(last[at - 1]!, item) > 0) at--;
      if (at === last.length) {
        // A full last chunk is left full, and a new one begun.
        if (last.length >= CHUNK) chunks.push([item]);
        else last.push(item);
        return;
      }
      if (at > 0) {
        last.splice(at, 0, item);
        if (last.length > 2 * CHUNK) chunks.splice(chunks.length - 1, 1, last.slice(0, CHUNK), last.slice(CHUNK));
        return;
      }
    }
    const index = this.#chunkFor(item);
    const chunk = chunks[index]!;
    chunk.splice(this.#positionIn(chunk, item), 0, item);
    if (chunk.length > 2 * CHUNK) {
      // Two halves, each a copy of its own size: the full one's spare capacity would stay.
      chunks.splice(index, 1, chunk.slice(0, CHUNK), chunk.slice(CHUNK));
    }
  }

  remove(item: T): void {
    const chunks = this.#chunks;
    if (chunks.length === 0) return;
    // Tasks leave mostly oldest first (they expire, start and end in about the order they
    // came): one among the first few moves those before it up one, and the first slot goes
    // with shift(), which V8 does without moving the rest.
    const first = chunks[0]!;
    for (let at = 0; at < first.length && at < 8; at++) {
      if (first[at] !== item) continue;
      for (let before = at; before > 0; before--) first[before] = first[before - 1]!;
      first.shift();
      this.#size--;
      if (first.length === 0) chunks.shift();
      return;
    }
    const index = this.#chunkFor(item);
    const chunk = chunks[index]!;
    const position = this.#positionIn(chunk, item);
    if (chunk[position] !== item) return;
    chunk.splice(position, 1);
    this.#size--;
    if (chunk.length === 0) chunks.splice(index, 1);
  }

  /** The items strictly older than `start` (all, without one), newest first. */
  *newest(start: Position | undefined): Generator<T, void, undefined> {
    const chunks = this.#chunks;
    let c = chunks.length - 1;
    let i = c < 0 ? -1 : chunks[c]!.length - 1;
    if (start !== undefined && c >= 0) {
      const probe = { createdAt: start.at, id: start.id };
      c = this.#chunkFor(probe);
      i = this.#positionIn(chunks[c]!, probe) - 1;
    }
    for (; c >= 0; c--, i = c >= 0 ? chunks[c]!.length - 1 : -1) {
      const chunk = chunks[c]!;
      for (; i >= 0; i--) yield chunk[i]!;
    }
  }

  // The last chunk whose first item is at or before `item` (the first chunk if none is).
  #chunkFor(item: Indexed): number {
    const chunks = this.#chunks;
    let low = 0;
    let high = chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (compare(chunks[middle]![0]!, item) <= 0) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  // The first position in `chunk` whose item is at or after `item`.
  #positionIn(chunk: readonly T[], item: Indexed): number {
    let low = 0;
    let high = chunk.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compare(chunk[middle]!, item) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
