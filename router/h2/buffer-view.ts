/**
 * When a view into a socket read is worth copying before it is held: a small frame kept while the rest of
 * its read buffer is garbage would pin the whole buffer (a 64 KiB read for a 100-byte header block), so
 * memory held would no longer be bounded by what the router means to hold (windows, replay limit).
 */
export function wastesItsBuffer(view: Buffer): boolean {
  return view.buffer.byteLength > 4 * view.length + 1024;
}
