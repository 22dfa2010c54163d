// Kept apart from analyze-image.ts so importing it does not load sharp (the API never decodes).

export type UnrecoverableImageReason = 'too_large' | 'too_many_frames' | 'undecodable' | 'timeout';

/**
 * The image itself is the problem: retrying cannot help. `message` is written for the end user.
 * The processor should mark the image as failed with this message and not retry the job.
 */
export class UnrecoverableImageError extends Error {
  override readonly name = 'UnrecoverableImageError';
  constructor(
    message: string,
    readonly reason: UnrecoverableImageReason,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
