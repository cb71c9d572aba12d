/**
 * Writes made in one event-loop turn leave in one writev: the first write of a turn corks the
 * socket, the next tick uncorks it (end() uncorks too, so what was written before an end goes
 * out first). Both ends of a remoting connection use it: the requests a producer's concurrent
 * sends make together, the answers of one commit flush.
 */
export function turnCorker(socket: { cork(): void; uncork(): void }): () => void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  return () => {
    if (corked) return;
    corked = true;
    socket.cork();
    process.nextTick(uncork);
  };
}
