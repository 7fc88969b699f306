/**
 * An error meant for the user: `message` names what failed and on which value,
 * and `hint` gives the next step. Only `main.ts` prints these and picks the exit
 * code, so library code can be tested without a terminal.
 */
export class LockiError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "LockiError";
  }
}

/** Invalid command-line input; exits with code 2 like other CLI tools. */
export class UsageError extends LockiError {
  constructor(message: string, hint?: string) {
    super(message, hint, 2);
    this.name = "UsageError";
  }
}

/** Raised when the user interrupts a long step with Ctrl-C (exit code 130). */
export class InterruptedError extends LockiError {
  constructor(what: string) {
    super(
      `interrupted while ${what}; nothing half-made was kept`,
      "run the same command again to retry",
      130,
    );
    this.name = "InterruptedError";
  }
}
