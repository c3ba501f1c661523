// --anonymize-envelopes: each envelope the core rendered is rendered again in
// the host with its addresses (src, dst, the tunnel's outer ones), its call_id
// and its SIP text rewritten (sip.ts), and an `anonymized` field that says so
// and names the key. Field order and every other field stay as the core wrote
// them; `id` stays the signature of the message as captured, so copies of one
// message still share it. Without the option envelopes leave untouched.
import type { MessageBatch } from "../core/records";
import type { Sink } from "../sink/sink";
import type { Anonymizer } from "./rewrite";
import { rewriteSip } from "./sip";

interface Envelope {
  src: string;
  dst: string;
  call_id: string | null;
  outer?: { src: string; dst: string };
  sip: string;
  anonymized?: { key_check: string };
}

export function anonymizeEnvelope(a: Anonymizer, keyCheck: string, line: string): string {
  const envelope = JSON.parse(line) as Envelope;
  envelope.src = a.endpoint(envelope.src);
  envelope.dst = a.endpoint(envelope.dst);
  if (envelope.call_id !== null) envelope.call_id = a.pseudonym("call-id", envelope.call_id);
  if (envelope.outer !== undefined) envelope.outer = { ...envelope.outer, src: a.ip(envelope.outer.src), dst: a.ip(envelope.outer.dst) };
  envelope.sip = rewriteSip(a, Buffer.from(envelope.sip, "base64")).toString("base64");
  envelope.anonymized = { key_check: keyCheck };
  return JSON.stringify(envelope);
}

// The batch as the envelope outputs read it (ndjsonView), its envelopes rewritten once, when first read.
function anonymizedBatch(a: Anonymizer, keyCheck: string, batch: MessageBatch): MessageBatch {
  let rendered: Buffer | undefined;
  const view = (): Buffer => {
    if (rendered !== undefined) return rendered;
    const lines = Buffer.from(batch.ndjsonView()).toString("utf8").split("\n").filter((l) => l !== "");
    rendered = Buffer.from(lines.map((l) => `${anonymizeEnvelope(a, keyCheck, l)}\n`).join(""));
    return rendered;
  };
  return {
    count: batch.count,
    ndjson: () => Buffer.from(view()),
    ndjsonView: view,
    message: (i, inPlace) => batch.message(i, inPlace),
    cursor: () => batch.cursor(),
    storedLength: (i) => batch.storedLength(i),
    storeRun: (first, into, at) => batch.storeRun(first, into, at),
    mediaCount: batch.mediaCount,
    mediaEndCount: batch.mediaEndCount,
    media: (i) => batch.media(i),
    mediaEnd: (i) => batch.mediaEnd(i),
    mediaEndAfterBye: (i) => batch.mediaEndAfterBye(i),
    mediaEndPackets: (i) => batch.mediaEndPackets(i),
    frame: (i) => batch.frame(i),
  };
}

// The envelope outputs (NDJSON, MQTT) given the rewritten envelopes.
export function anonymizingEnvelopes(a: Anonymizer, keyCheck: string, sink: Sink): Sink {
  return {
    write: (batch) => sink.write(anonymizedBatch(a, keyCheck, batch)),
    backlog: () => sink.backlog(),
    close: (deadline) => sink.close(deadline),
  };
}
