export * from './constants';
export * from './errors';
export * from './messages';
export { encode, encodeParts, decodePayload, clampText, MAX_ID_BYTES, MAX_RECEIPT_GAPS, MAX_TEXT_BYTES, MAX_TOKEN_BYTES } from './codec';
export { Decoder, type DecodeResult } from './decoder';
export * from './admin';
