import type { ByeReasonName } from './constants';

/** Stable codes for everything a decoder can reject. Scripts and tests match on these, never on messages. */
export type ProtocolErrorCode =
  | 'VIGIL_ERR_BAD_MAGIC'
  | 'VIGIL_ERR_UNKNOWN_KIND'
  | 'VIGIL_ERR_TOO_LARGE'
  | 'VIGIL_ERR_MALFORMED'
  | 'VIGIL_ERR_BAD_VALUE'
  | 'VIGIL_ERR_VERSION'
  | 'VIGIL_ERR_CODEC_CONFIG'
  | 'VIGIL_ERR_KEYFRAME'
  | 'VIGIL_ERR_MEDIA';

const BYE_FOR_CODE: Record<ProtocolErrorCode, ByeReasonName> = {
  VIGIL_ERR_BAD_MAGIC: 'protocol_error',
  VIGIL_ERR_UNKNOWN_KIND: 'protocol_error',
  VIGIL_ERR_TOO_LARGE: 'message_too_large',
  VIGIL_ERR_MALFORMED: 'protocol_error',
  VIGIL_ERR_BAD_VALUE: 'protocol_error',
  VIGIL_ERR_VERSION: 'unsupported_version',
  VIGIL_ERR_CODEC_CONFIG: 'bad_codec_config',
  VIGIL_ERR_KEYFRAME: 'keyframe_required',
  VIGIL_ERR_MEDIA: 'bad_media',
};

/** The only error the decoder ever throws or returns: a code to match, a message to show, the BYE to answer with. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode;
  readonly bye: ByeReasonName;

  constructor(code: ProtocolErrorCode, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.bye = BYE_FOR_CODE[code];
  }
}
