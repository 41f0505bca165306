// The candidate wire alone, without the admin socket's protocol (which needs Node's string decoder): what the
// browser page bundles. index.ts exports the same names for Node code.
export * from './constants';
export * from './errors';
export * from './messages';
export { encode, encodeParts, decodePayload, clampText, MAX_ID_BYTES, MAX_RECEIPT_GAPS, MAX_TEXT_BYTES, MAX_TOKEN_BYTES } from './codec';
export { Decoder, type DecodeResult } from './decoder';
