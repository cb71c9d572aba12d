/** A queue's offsets waiting for redelivery (QueueLeases.ready): a sorted array, oldest first. */

export function insertSorted(a: number[], v: number): void {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  if (a[lo] !== v) a.splice(lo, 0, v);
}

export function removeValue(a: number[], v: number): void {
  const i = a.indexOf(v);
  if (i >= 0) a.splice(i, 1);
}

export function dropBelow(a: number[], v: number): void {
  let n = 0;
  while (n < a.length && a[n]! < v) n++;
  a.splice(0, n);
}
