/** google.protobuf.Duration and Timestamp as proto-loader objects (int64 seconds as numbers), to and from milliseconds. */
export interface DurationPb {
  seconds: number;
  nanos: number;
}

export function durationOf(ms: number): DurationPb {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** Milliseconds of a Duration, `fallback` when absent. */
export function msOf(d: Partial<DurationPb> | null | undefined, fallback: number): number {
  if (!d) return fallback;
  return Number(d.seconds ?? 0) * 1000 + Math.floor(Number(d.nanos ?? 0) / 1_000_000);
}

/** A Timestamp is the same shape as a Duration (since the epoch). */
export const timestampOf = durationOf;
export const epochMsOf = msOf;
