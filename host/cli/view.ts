// `siphon view FILE`: a capture replayed into the web view (--http, 127.0.0.1:8080
// unless given), which keeps serving its calls and ladders until SIGINT or SIGTERM:
// a customer's capture read in a browser. No envelopes on stdout unless --out names
// where; the run around it is run.ts's, the replay replay.ts's.
import { replay } from "./replay";
import type { Outcome, Run } from "./run";

export async function view(run: Run, input: string): Promise<Outcome> {
  const outcome = await replay(run, input);
  const { service } = run;
  const where = service.web?.server.address();
  if (outcome.failure === undefined && where !== undefined && service.stopRequested() === undefined) {
    process.stderr.write(`siphon: ${input} is in the web view at http://${where.host.includes(":") ? `[${where.host}]` : where.host}:${where.port}/ ` +
      "until SIGINT or SIGTERM\n");
    service.web?.server.keepProcess();
    await service.stopped;
  }
  return outcome;
}
