// SIGTERM and SIGINT: the first stops reading input and lets the outputs
// deliver what they hold within --flush-timeout; the run then ends as usual,
// reporting what could not be delivered. A second signal, or outputs that
// overrun the deadline by a grace period, end the process at once.
import type { Logger } from "./log";

export class Interrupted extends Error {
  constructor(signal: string) {
    super(`stopped by ${signal}`);
    this.name = "Interrupted";
  }
}

const GRACE_MS = 3000;
const EXIT_INTERRUPTED = 1;

export interface StopSignals {
  // The signal's name once one arrived.
  readonly received: string | undefined;
  dispose(): void;
}

export function watchStopSignals(log: Logger, flushTimeoutSeconds: number, onStop: () => void): StopSignals {
  let received: string | undefined;
  const handler = (signal: NodeJS.Signals): void => {
    if (received !== undefined) {
      log.error("second signal: exiting without waiting for the outputs", { signal });
      process.exit(EXIT_INTERRUPTED);
    }
    received = signal;
    log.info("stopping: delivering what is queued", { signal, flush_timeout_s: flushTimeoutSeconds });
    const hardStop = setTimeout(() => {
      log.error("outputs did not finish within the flush deadline; exiting", { flush_timeout_s: flushTimeoutSeconds });
      process.exit(EXIT_INTERRUPTED);
    }, flushTimeoutSeconds * 1000 + GRACE_MS);
    hardStop.unref();
    onStop();
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return {
    get received() {
      return received;
    },
    dispose() {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    },
  };
}
