/**
 * all() drops the sessions SCAN yielded twice (Redis may return a key twice while it resizes its
 * table, and the Cluster scan may meet a key again after its slot moved): the first of each stays,
 * in order. Real scans rarely yield a duplicate on cue, so the step is checked on its own here; the
 * reshard suite checks all() end to end while slots move.
 */
import { dropDuplicates } from "../lib/engine/bulk";

test("each id once, the first occurrence kept, order unchanged", () => {
  const ids = ["c", "a", "b", "a", "d", "c", "a"];
  const items = ids.map((id, i) => ({ id, i }));
  expect(dropDuplicates(items)).toEqual([
    { id: "c", i: 0 },
    { id: "a", i: 1 },
    { id: "b", i: 2 },
    { id: "d", i: 4 },
  ]);
});

test("no duplicate: the same array comes back, nothing copied", () => {
  const ids = Array.from({ length: 1000 }, (_, i) => `s${i}`);
  const items = ids.map((id) => ({ id }));
  expect(dropDuplicates(items)).toBe(items);
});
