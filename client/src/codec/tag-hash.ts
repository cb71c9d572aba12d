/** Java's String.hashCode, which RocketMQ uses for tag codes and sharding-key selection. */
export function javaHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/** The tag hash code kept in each ConsumeQueue unit; 0 for a message without tags. */
export function tagsHashCode(tags: string | undefined): number {
  return tags ? javaHashCode(tags) : 0;
}
