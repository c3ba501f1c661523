// Call records into PostgreSQL with `pg`: one row per finished call, the table
// created on first use, rows written in batches (one multi-row INSERT per
// batch, in the background) and keyed by (sensor, call_id) so that a replay of
// the same capture rewrites the same rows instead of adding duplicates.
import { checkUrlPort } from "../config";
import { pgLibrary } from "../lazy";
import type { SipEvent } from "../calls/events";
import type { EventOutput } from "../sink/events";
import { RECORD_COLUMNS, recordOf, type CallRecord } from "./record";

export interface CdrOptions {
  url: string;            // postgres://user[:password]@host[:port]/database[?table=NAME]
  batchRows?: number;     // rows per INSERT (default 500)
  flushMs?: number;       // a partial batch waits at most this long (default 1000)
  queueRows?: number;     // rows queued before the source is held back (default 20000)
}

export interface CdrWriter extends EventOutput {
  written(): number;
  table: string;
}

const DEFAULT_TABLE = "siphon_calls";
const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const COLUMN_TYPES: Record<keyof CallRecord, string> = {
  sensor: "text NOT NULL", call_id: "text NOT NULL", x_cid: "text", session_id: "text", p_charging_vector: "text",
  caller: "text", callee: "text", src_ip: "text", src_port: "integer", dst_ip: "text", dst_port: "integer",
  transport: "text", invite_time: "timestamptz", ringing_time: "timestamptz", answer_time: "timestamptz",
  end_time: "timestamptz", duration_ms: "numeric(15,3)", pdd_ms: "numeric(15,3)", ring_ms: "numeric(15,3)",
  outcome: "text NOT NULL", final_status: "integer", final_reason: "text", reason_header: "text", hangup: "text",
  implied: "boolean NOT NULL", user_agent: "text",
};

export function schemaSql(table: string): string {
  const columns = RECORD_COLUMNS.map((c) => `  ${c} ${COLUMN_TYPES[c]}`).join(",\n");
  return `CREATE TABLE IF NOT EXISTS ${table} (\n${columns},\n  PRIMARY KEY (sensor, call_id)\n)`;
}

// The table comes from ?table= on the URL; pg is given the URL without it.
export function splitCdrUrl(url: string): { connectionString: string; table: string; where: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`--cdr: '${url}' is not a URL; use e.g. postgres://postgres@127.0.0.1:5432/siphon`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new Error(`--cdr: scheme '${parsed.protocol.replace(/:$/, "")}' is not postgres or postgresql`);
  }
  checkUrlPort(parsed, "--cdr");
  const table = parsed.searchParams.get("table") ?? DEFAULT_TABLE;
  if (!TABLE_NAME.test(table)) throw new Error(`--cdr: table '${table}' is not a plain SQL name (letters, digits, _)`);
  parsed.searchParams.delete("table");
  return { connectionString: parsed.toString(), table, where: `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}` };
}

function insertSql(table: string, rows: number): string {
  const width = RECORD_COLUMNS.length;
  const values = Array.from({ length: rows }, (_, r) => `(${RECORD_COLUMNS.map((_, c) => `$${r * width + c + 1}`).join(",")})`);
  const updates = RECORD_COLUMNS.filter((c) => c !== "sensor" && c !== "call_id").map((c) => `${c} = EXCLUDED.${c}`).join(", ");
  return `INSERT INTO ${table} (${RECORD_COLUMNS.join(",")}) VALUES ${values.join(",")} ON CONFLICT (sensor, call_id) DO UPDATE SET ${updates}`;
}

export function cdrWriter(options: CdrOptions): CdrWriter {
  const { connectionString, table, where } = splitCdrUrl(options.url);
  const batchRows = options.batchRows ?? 500;
  const flushMs = options.flushMs ?? 1000;
  const queueRows = options.queueRows ?? 20000;
  const client = new (pgLibrary().Client)({ connectionString });
  let ready: Promise<void> | undefined;
  let queue: CallRecord[] = [];
  let written = 0;
  let inFlight = 0;       // rows handed to a pending INSERT
  let running: Promise<void> = Promise.resolve();
  let failure: Error | undefined;
  let timer: NodeJS.Timeout | undefined;

  const explain = (err: Error): Error => {
    const code = (err as { code?: string }).code;
    return new Error(`cdr: PostgreSQL at ${where}: ${err.message}${code ? ` (${code})` : ""}; check --cdr URL and that the server accepts this user`);
  };
  client.on("error", (err) => { failure ??= explain(err); });

  const connect = (): Promise<void> => {
    ready ??= client.connect().then(() => client.query(schemaSql(table))).then(() => undefined);
    return ready;
  };

  // Rows of one batch with the same key would make one INSERT touch a row twice; the last wins.
  const writeBatch = async (rows: CallRecord[]): Promise<void> => {
    const byKey = new Map(rows.map((r) => [`${r.sensor}\n${r.call_id}`, r]));
    const unique = [...byKey.values()];
    await connect();
    await client.query(insertSql(table, unique.length), unique.flatMap((r) => RECORD_COLUMNS.map((c) => r[c])));
    written += unique.length;
  };

  const flush = (): void => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    while (queue.length > 0) {
      const rows = queue.splice(0, batchRows);
      inFlight += rows.length;
      running = running
        .then(() => (failure ? undefined : writeBatch(rows)))
        .catch((err: Error) => { failure ??= explain(err); })
        .finally(() => { inFlight -= rows.length; });
    }
  };

  return {
    table,
    written: () => written,
    write(event: SipEvent) {
      const record = recordOf(event);
      if (record === undefined) return;
      queue.push(record);
      if (queue.length >= batchRows) flush();
      else timer ??= setTimeout(flush, flushMs);
    },
    // Called at the end of every batch of messages: full batches go at once, a partial one waits for the timer.
    flush() {
      if (queue.length >= batchRows) flush();
    },
    backlog() {
      return inFlight > queueRows ? running : undefined;
    },
    async close() {
      flush();
      await running;
      if (ready !== undefined) await client.end().catch(() => undefined);
      if (failure) throw failure;
    },
    counters: () => ({ cdr_rows_written: written, cdr_rows_queued: queue.length }),
  };
}
