// What `siphon deanonymize` does to one record: the sealed originals put back.
// An event carries them in anonymized.encrypted by field path (sip.call_id,
// client.ip ...); a call record in its `encrypted` column by column name, as
// JSON text (a row exported as text) or an object (a row exported as JSON).
// Each is opened with the key (fieldcrypt.ts); one that does not authenticate is
// left as it was and counted. What was restored is no longer listed as sealed.

export interface Opener {
  keyCheck: string;
  open(sealed: string): string;
}

interface Opened {
  kind: "restored";
  fields: number;
  failed: string[];   // where a sealed value did not authenticate
}

export type Restored = Opened | { kind: "other-key"; keyCheck: string } | { kind: "nothing-sealed" };

type Json = Record<string, unknown>;

export function restoreRecord(opener: Opener, record: Json): Restored {
  const mark = record.anonymized as { key_check?: unknown; encrypted?: Record<string, string> } | undefined;
  if (typeof mark === "object" && mark !== null && typeof mark.encrypted === "object" && mark.encrypted !== null) {
    if (mark.key_check !== opener.keyCheck) return { kind: "other-key", keyCheck: String(mark.key_check) };
    const result = openAll(opener, mark.encrypted, (path, value) => setPath(record, path, value));
    if (result.failed.length === 0) delete mark.encrypted;
    return result;
  }
  const sealed = typeof record.encrypted === "string" ? parseObject(record.encrypted) : record.encrypted;
  if (typeof sealed === "object" && sealed !== null && "key_check" in record) {
    if (record.key_check !== opener.keyCheck) return { kind: "other-key", keyCheck: String(record.key_check) };
    const result = openAll(opener, sealed as Record<string, string>, (column, value) => { record[column] = value; });
    if (result.failed.length === 0) record.encrypted = null;
    return result;
  }
  return { kind: "nothing-sealed" };
}

function openAll(opener: Opener, sealed: Record<string, string>, put: (where: string, value: string) => void): Opened {
  let fields = 0;
  const failed: string[] = [];
  for (const [where, value] of Object.entries(sealed)) {
    try {
      put(where, opener.open(String(value)));
      fields++;
    } catch {
      failed.push(where);
    }
  }
  return { kind: "restored", fields, failed };
}

// Sets "a.b.c" in place, where the record has it already (the pseudonym the original replaced).
// Own fields only: "__proto__.x" or "constructor.prototype.x" from a crafted line, with any value
// sealed under the key, walked into Object.prototype and set x on every object of the process.
function setPath(record: Json, path: string, value: string): void {
  const names = path.split(".");
  let at: Json = record;
  for (const name of names.slice(0, -1)) {
    const next = Object.hasOwn(at, name) ? at[name] : undefined;
    if (typeof next !== "object" || next === null) throw new Error(`no ${path} in the record`);
    at = next as Json;
  }
  const last = names[names.length - 1];
  if (!Object.hasOwn(at, last)) throw new Error(`no ${path} in the record`);
  at[last] = value;
}

function parseObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
