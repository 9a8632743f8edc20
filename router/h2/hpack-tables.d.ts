// Typed views of the two hpack.js data modules the relay reads its tables from.
declare module "hpack.js/lib/hpack/huffman" {
  /** Per symbol 0-256 (256 is EOS): [bit length, code]. */
  export const encode: ReadonlyArray<readonly [number, number]>;
}
declare module "hpack.js/lib/hpack/static-table" {
  /** RFC 7541 Appendix A, index 1 first. */
  export const table: ReadonlyArray<{ readonly name: string; readonly value: string }>;
}
