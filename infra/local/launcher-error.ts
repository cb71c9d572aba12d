/** Why the launcher refuses to start or gives up; the message is what the user reads. */
export type LauncherErrorCode = 'PORT_IN_USE' | 'PORT_CONFLICT' | 'NOT_OUR_PROCESS' | 'CHILD_EXITED';

export class LauncherError extends Error {
  constructor(
    readonly code: LauncherErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LauncherError';
  }
}
