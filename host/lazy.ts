// The heavy libraries, loaded on first use. Evaluating pg, MQTT.js and
// prom-client at start-up cost about 55 ms, as long as the whole replay of a
// small capture: a run that writes NDJSON only never loads them. The bundler
// still includes them; require() here only defers their evaluation.
import type * as Mqtt from "mqtt";
import type * as Pg from "pg";
import type * as Prom from "prom-client";

export function mqttLibrary(): typeof Mqtt {
  return require("mqtt") as typeof Mqtt;
}

export function pgLibrary(): typeof Pg {
  return require("pg") as typeof Pg;
}

export function promLibrary(): typeof Prom {
  return require("prom-client") as typeof Prom;
}
