// `siphon view FILE`: a capture replayed into the web view (--http, 127.0.0.1:8080
// unless given), which keeps serving its calls and ladders until SIGINT or SIGTERM:
// a customer's capture read in a browser. No envelopes on stdout unless --out names
// where; the run around it is run.ts's, the replay replay.ts's.
import { replay } from "./replay";
import { CaptureError } from "../source";
import type { Outcome, Run } from "./run";

export async function view(run: Run, input: string): Promise<Outcome> {
  const outcome = await replay(run, input);
  const { service } = run;
  const where = service.web?.server.address();
  // A capture cut short (tcpdump stopped mid-write, a copy cut in transit) is the usual customer
  // capture: what was read before the damage is served, and the damage still decides the exit code.
  const cut = outcome.failure instanceof CaptureError && (outcome.frames ?? 0) > 0;
  if ((outcome.failure === undefined || cut) && where !== undefined && service.stopRequested() === undefined) {
    const url = `http://${where.host.includes(":") ? `[${where.host}]` : where.host}:${where.port}/`;
    const what = cut ? `${(outcome.failure as CaptureError).message}; what was read before it is` : `${input} is`;
    process.stderr.write(`siphon: ${what} in the web view at ${url} until SIGINT or SIGTERM\n`);
    service.web?.server.keepProcess();
    await service.stopped;
  }
  return outcome;
}
