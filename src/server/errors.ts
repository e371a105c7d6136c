/**
 * Errors the server answers with, in the OpenAI shape llama-server also uses:
 * `{"error":{"code":400,"message":"…","type":"invalid_request_error"}}`.
 */

export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'server_error' | 'unavailable_error' | 'not_supported_error';

const STATUS: Record<ApiErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  not_found_error: 404,
  server_error: 500,
  not_supported_error: 501,
  unavailable_error: 503,
};

/** An error answered to the client with its HTTP status; everything else is a 500. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  constructor(
    readonly type: ApiErrorType,
    message: string,
    status?: number,
  ) {
    super(message);
    this.status = status ?? STATUS[type];
  }
}

export const badRequest = (message: string): ApiError => new ApiError('invalid_request_error', message);

/** The JSON body of an error response. */
export function errorBody(e: ApiError): { error: { code: number; message: string; type: ApiErrorType } } {
  return { error: { code: e.status, message: e.message, type: e.type } };
}
