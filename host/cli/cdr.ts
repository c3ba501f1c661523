// `siphon cdr --events FILE|- --cdr URL` and `siphon cdr --mqtt URL --events TOPIC --cdr URL`:
// call records from an event stream, away from the sensor. Every call-end,
// call-attempt and INVITE auth-failed becomes (or rewrites) one row.
import { createReadStream } from "node:fs";
import { boundedLines } from "./lines";
import { parseArgs } from "node:util";
import { cdrWriter, type CdrWriter, type Committed } from "../sink";
import { readTopic, SESSION_EXPIRY_S, subscriptionOf } from "./cdr-consumer";
import { parseEvent } from "../calls";
import { maskUrlPasswords } from "../redact";
import { boundsOf } from "./config";
import { defaultOf, optionSpec } from "../options";
import { boundedNumber, checkUrlPort } from "../bounds";
import { byDeadline } from "../sink";
import { exitCodeFor, failureLine, OutputError, UsageError } from "../exits";

export const CDR_HELP = `Usage:
  siphon cdr --events FILE|- --cdr URL            call records from an NDJSON event file (or stdin)
  siphon cdr --mqtt URL --events TOPIC --cdr URL  call records from events on an MQTT topic, until SIGINT/SIGTERM
  siphon cdr --mqtt URL --events 'siphon/+/events' --share GROUP --client-id ID --cdr URL
                                                  one of several consumers that split the stream of every sensor

  --cdr URL       postgres://user[:password]@host[:port]/database[?table=NAME] (table default siphon_calls)
  --events        the event stream: a file written by 'siphon replay --events', '-' for stdin, or a topic
  --mqtt URL      read the events from this broker (mqtt://, mqtts://, ws://, wss://), over MQTT 5; each
                  event is acknowledged once its call record is committed
  --share GROUP   join the shared subscription $share/GROUP/TOPIC: the broker gives each message to one
                  consumer of the group (needs --client-id)
  --client-id ID  this consumer's MQTT client id, the same after a restart: the broker keeps its session
                  (${SESSION_EXPIRY_S} s) and delivers again what it had not acknowledged; without it, a clean session
  --flush-timeout SECONDS  how long PostgreSQL may take for the last rows at the end (default ${defaultOf("flush-timeout")})
Rows are keyed by (sensor, call_id): the same events read twice leave the same rows. docs/cdr.md
Exit codes: 0 done; 1 the events could not be read; 2 bad usage; 3 PostgreSQL could not be reached or did
not take every record in time (README.md, "Exit codes").
`;

interface Counts {
  lines: number;
  events: number;
  notEvents: number;
}

export async function cdrCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: { events: { type: "string" }, cdr: { type: "string" }, mqtt: { type: "string" },
      share: { type: "string" }, "client-id": { type: "string" },
      "flush-timeout": { type: "string" }, help: { type: "boolean", short: "h" } }, strict: true }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\. To specify.*$/s, "")} (try 'siphon cdr --help')`);
  }
  if (values.help) {
    process.stdout.write(CDR_HELP);
    return 0;
  }
  const events = values.events as string | undefined;
  const url = values.cdr as string | undefined;
  if (events === undefined || url === undefined) throw new UsageError("cdr needs --events FILE|-|TOPIC and --cdr URL (try 'siphon cdr --help')");
  const broker = values.mqtt as string | undefined;
  const share = values.share as string | undefined;
  const clientId = values["client-id"] as string | undefined;
  checkTopicOptions(broker, events, share, clientId);
  const flushTimeout = flushTimeoutOf(values["flush-timeout"] as string | undefined);
  let databaseFailed: (err: Error) => void = () => undefined;
  let writer: CdrWriter;
  try {
    writer = cdrWriter({ url, failed: (err) => databaseFailed(err) });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const counts: Counts = { lines: 0, events: 0, notEvents: 0 };
  // `undefined`: a line of the file too long to hold (lines.ts), not an event either.
  const take = (line: string | undefined, committed?: Committed): void => {
    if (line?.trim() === "") return committed?.();
    counts.lines++;
    const event = line === undefined ? undefined : parseEvent(line);
    if (line === undefined || event === undefined) {
      counts.notEvents++;
      return committed?.();
    }
    counts.events++;
    writer.write(event, line, committed);
  };
  const failures: Error[] = [];
  let closing: OutputError | undefined;
  let closed = false;
  try {
    if (broker !== undefined) {
      // A consumer whose database fails stops: what it did not acknowledge stays with the broker.
      const stopped = new Promise<void>((resolve) => {
        databaseFailed = () => resolve();
        process.once("SIGINT", () => resolve());
        process.once("SIGTERM", () => resolve());
      });
      await readTopic({ url: broker, topic: events, share, clientId, take, flushSoon: () => writer.flushSoon(), stopped,
        drain: async () => {
          closed = true;
          closing = await closeWithin(writer, url, flushTimeout);
        } });
    } else {
      await fromFile(events, writer, take);
    }
  } catch (err) {
    failures.push(err as Error);
  }
  if (!closed) closing = await closeWithin(writer, url, flushTimeout);
  if (closing) failures.push(closing);
  process.stderr.write(`siphon cdr: ${counts.events} events read, ${writer.summary()}` +
    `${counts.notEvents ? `, ${counts.notEvents} lines were not events` : ""}\n`);
  const line = failureLine(failures);
  if (line) process.stderr.write(`${line}\n`);
  return exitCodeFor(failures);
}

// The run commands' --flush-timeout row: the same default and range.
function flushTimeoutOf(text: string | undefined): number {
  if (text === undefined) return defaultOf("flush-timeout");
  return boundedNumber(text, boundsOf(optionSpec("flush-timeout")), "--flush-timeout");
}

// The writer's last rows within the flush timeout; a database that refuses or does not answer is the failure.
async function closeWithin(writer: CdrWriter, url: string, flushTimeout: number): Promise<OutputError | undefined> {
  const deadline = Date.now() + flushTimeout * 1000;
  try {
    if (await byDeadline(writer.close(deadline), deadline) !== "late") return undefined;
    return new OutputError(`--cdr ${maskUrlPasswords(url)}: PostgreSQL did not take every call record within --flush-timeout ${flushTimeout} s: ` +
      "check that the server is up and not locked, or raise --flush-timeout");
  } catch (err) {
    return new OutputError((err as Error).message);
  }
}

async function fromFile(path: string, writer: CdrWriter, take: (line: string | undefined) => void): Promise<void> {
  const input = path === "-" ? process.stdin : createReadStream(path);
  const opened = new Promise<void>((resolve, reject) => {
    input.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`--events ${path}: cannot read it (${err.code ?? err.message}): check the path`)));
    input.once("readable", () => resolve());
    input.once("end", () => resolve());
  });
  await opened;
  for await (const line of boundedLines(input)) {
    take(line);
    const wait = writer.backlog();
    if (wait) await wait;
  }
}

// --share and --client-id are for a topic; a group member needs a stable id, or a consumer
// that dies loses what it had not acknowledged (Mosquitto hands it to no other member).
function checkTopicOptions(broker: string | undefined, events: string, share: string | undefined, clientId: string | undefined): void {
  if (broker === undefined) {
    if (share !== undefined || clientId !== undefined) throw new UsageError("--share and --client-id need --mqtt URL: they are for reading a topic");
    return;
  }
  checkBrokerUrl(broker);
  if (share !== undefined && clientId === undefined) {
    throw new UsageError("--share needs --client-id ID, the same each time this consumer starts: the broker keeps what it " +
      "had not acknowledged for that id, and gives it back after a restart");
  }
  if (clientId !== undefined && (clientId === "" || clientId.length > 65535)) throw new UsageError(`--client-id: give a non-empty id`);
  subscriptionOf(events, share);
}

function checkBrokerUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--mqtt: '${url}' is not a URL; use e.g. mqtt://127.0.0.1:1883`);
  }
  checkUrlPort(parsed, "--mqtt");
}
