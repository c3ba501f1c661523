// SIGTERM and SIGINT: the first stops reading input and lets the outputs
// deliver what they hold until --flush-timeout after it (every output's close
// is bounded by that deadline); the run then ends as usual, reporting what
// could not be delivered. A second signal ends the run at once.
import type { Logger } from "../log";

export class Interrupted extends Error {
  constructor(reason: string) {
    super(`stopped by ${reason}`);
    this.name = "Interrupted";
  }
}

export interface StopSignals {
  // The signal's name once one arrived.
  readonly received: string | undefined;
  // When it arrived (Date.now() milliseconds).
  readonly receivedAt: number | undefined;
  dispose(): void;
}

export function watchStopSignals(log: Logger, flushTimeoutSeconds: number, onStop: () => void,
  onSecond: (signal: string) => void): StopSignals {
  let received: string | undefined;
  let receivedAt: number | undefined;
  const handler = (signal: NodeJS.Signals): void => {
    if (received !== undefined) {
      log.error("second signal: exiting without waiting for the outputs", { signal });
      onSecond(signal);
      return;
    }
    received = signal;
    receivedAt = Date.now();
    log.info("stopping: delivering what is queued", { signal, flush_timeout_s: flushTimeoutSeconds });
    onStop();
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
  return {
    get received() {
      return received;
    },
    get receivedAt() {
      return receivedAt;
    },
    dispose() {
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    },
  };
}
