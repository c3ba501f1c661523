// MQTT topic names and filters as options give them: publish topics may name
// the sensor (`--topic 'sip/{sensor}'`), so many sensors share one broker and
// a consumer takes them all with a wildcard (`siphon/+/events`); subscriptions
// may join a shared subscription (`$share/GROUP/filter`, MQTT 5 §4.8.2).
import { UsageError } from "../exits";
import type { Config } from "./config";
import type { StringOption } from "../options";

const PLACEHOLDER = /\{([^{}]*)\}/g;
const KNOWN = ["sensor"] as const;

export interface TopicValues {
  sensor: string;
}

// The topic a template names for this sensor. Refused: an unknown placeholder, a
// stray brace, an empty topic, and the wildcards + and # (a PUBLISH topic cannot
// hold them, MQTT 5 §4.7.1); the sensor fills exactly one topic level.
export function expandTopic(template: string, option: string, values: TopicValues): string {
  const shown = `${option} '${template}'`;
  for (const match of template.matchAll(PLACEHOLDER)) {
    if (!(KNOWN as readonly string[]).includes(match[1])) {
      throw new UsageError(`${shown}: unknown placeholder {${match[1]}}; the one placeholder is {sensor}`);
    }
  }
  const literal = template.replace(PLACEHOLDER, "");
  if (/[{}]/.test(literal)) throw new UsageError(`${shown}: a brace outside a placeholder; write the sensor's name as {sensor}`);
  if (/[+#]/.test(literal)) throw new UsageError(`${shown}: + and # are wildcards, for subscriptions only; a topic to publish on cannot hold them`);
  if (template.includes("{sensor}")) checkSensorLevel(values.sensor, shown);
  const topic = template.replace(PLACEHOLDER, () => values.sensor);
  if (topic === "") throw new UsageError(`${shown}: the topic is empty; name one, e.g. siphon/{sensor}/sip`);
  if (topic.includes("\0")) throw new UsageError(`${shown}: a topic cannot hold the character U+0000`);
  return topic;
}

function checkSensorLevel(sensor: string, shown: string): void {
  if (sensor === "" || /[/+#\0]/.test(sensor)) {
    throw new UsageError(`${shown}: the sensor name '${sensor}' cannot be a topic level (it must be non-empty, without /, + or #): ` +
      "give --sensor a plain name, e.g. edge-1");
  }
}

// A filter to subscribe to: + stands for one whole level, # for the rest and only last (MQTT 5 §4.7.1).
export function checkTopicFilter(filter: string, option: string): void {
  const levels = filter.split("/");
  const bad = filter === "" || filter.includes("\0") ||
    levels.some((level, i) => (level.includes("+") && level !== "+") || (level.includes("#") && (level !== "#" || i !== levels.length - 1)));
  if (bad) {
    throw new UsageError(`${option} '${filter}': not a topic filter; + must be a whole level (siphon/+/events) and # the last one (siphon/#)`);
  }
  if (filter.startsWith("$share/")) throw new UsageError(`${option} '${filter}': name the topic alone and the group with --share GROUP`);
}

// `$share/GROUP/filter`: the broker gives each message to one subscriber of GROUP (MQTT 5 §4.8.2).
export function sharedFilter(group: string, filter: string): string {
  if (group === "" || /[/+#\0]/.test(group)) {
    throw new UsageError(`--share '${group}': a group name must be non-empty, without /, + or # (MQTT 5 §4.8.2)`);
  }
  return `$share/${group}/${filter}`;
}

export interface PublishTopics {
  topic: string;
  events?: string;
  status?: string;
  telemetry?: string;
}

// The run's topics, each option's template filled with the sensor's name.
export function publishTopics(config: Config, sensor: string): PublishTopics {
  const expand = (option: StringOption): string | undefined => {
    const template = config.str(option);
    return template === undefined ? undefined : expandTopic(template, `--${option}`, { sensor });
  };
  return { topic: expand("topic")!, events: expand("events-topic"), status: expand("status-topic"), telemetry: expand("telemetry-topic") };
}
