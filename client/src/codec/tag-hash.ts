/** The tag hash code kept in each ConsumeQueue unit: Java's String.hashCode, as RocketMQ uses. */
export function tagsHashCode(tags: string | undefined): number {
  if (!tags) return 0;
  let h = 0;
  for (let i = 0; i < tags.length; i++) h = (Math.imul(31, h) + tags.charCodeAt(i)) | 0;
  return h;
}
