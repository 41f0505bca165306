// The candidate table's orders, cycled with `s`.
import type { TableEntry } from './model';

export type SortKey = 'attention' | 'id' | 'connected';

export const SORT_KEYS: readonly SortKey[] = ['attention', 'id', 'connected'];

/** What the table's label says for each order. */
export const SORT_LABEL: Record<SortKey, string> = {
  attention: 'attention first',
  id: 'by id',
  connected: 'longest connected first',
};

export function nextSort(key: SortKey): SortKey {
  return SORT_KEYS[(SORT_KEYS.indexOf(key) + 1) % SORT_KEYS.length]!;
}

/** Needs a look now: a failed recording or an open incident (a reconnecting candidate has `disconnected` open). */
function urgent(c: TableEntry): number {
  return c.write_error || c.incident !== null ? 1 : 0;
}

// Code-unit order, not localeCompare: ten times cheaper, and ids are ASCII in practice.
const byId = (a: TableEntry, b: TableEntry): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

const COMPARE: Record<SortKey, (a: TableEntry, b: TableEntry) => number> = {
  // Open incident first, then most incident seconds; the id keeps equal rows from swapping between polls.
  attention: (a, b) => urgent(b) - urgent(a) || b.incident_s - a.incident_s || byId(a, b),
  id: byId,
  connected: (a, b) => b.connected_s - a.connected_s || byId(a, b),
};

export function sortEntries(entries: TableEntry[], key: SortKey): TableEntry[] {
  return entries.sort(COMPARE[key]);
}
