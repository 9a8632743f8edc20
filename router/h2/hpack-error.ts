/** Malformed HPACK input: the connection error COMPRESSION_ERROR (RFC 7541 section 2.3, RFC 9113 section 4.3). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}
