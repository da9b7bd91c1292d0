// "Did you mean" for misspelt config keys: a typo must be rejected with the fix in the message,
// never silently ignored.

/** Edit distance (insertions, deletions, substitutions and adjacent transpositions). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    const row = d[i]!;
    const prev = d[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      row[j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate `word` most likely misspells, or undefined when none is close. Candidates in
 * `taken` (keys already present next to the typo) are skipped: with `iif` given, `oif` means
 * `oifs`. Ties go to a candidate that starts with `word`, then to the earlier candidate.
 */
export function didYouMean(
  word: string,
  candidates: readonly string[],
  taken: ReadonlySet<string> = new Set(),
): string | undefined {
  const lower = word.toLowerCase();
  const limit = Math.max(1, Math.min(2, Math.floor(lower.length / 3)));
  let best: { name: string; score: number } | undefined;
  for (const name of candidates) {
    if (taken.has(name)) continue;
    const distance = editDistance(lower, name.toLowerCase());
    if (distance > limit) continue;
    const score = distance * 2 + (name.startsWith(lower) ? 0 : 1);
    if (!best || score < best.score) best = { name, score };
  }
  return best?.name;
}
