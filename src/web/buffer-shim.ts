// src/protocol reads and writes Node Buffers; in the page, esbuild injects this module wherever `Buffer` is used.
export { Buffer } from 'buffer';
