// The engine's memory policy while the call tracker runs. Its calls and
// transactions live seconds of capture time, long enough to be promoted to the
// old generation, then die there: by default the young generation grows to 16 MiB
// semi-spaces and the old one fills to several times what is live before a full
// collection, so a run peaked at ~170 MiB where plain replay peaks at ~70 (docs/performance.md).
// Both flags are read by the engine at each collection, so setting them when the
// tracker starts applies to the whole run.
import { setFlagsFromString } from "node:v8";

export function boundTrackerHeap(): void {
  setFlagsFromString("--semi-space-growth-factor=1");  // young generation stays at its initial semi-space size
  setFlagsFromString("--heap-growing-percent=25");     // next full collection at 1.25x what the last one left live
}
