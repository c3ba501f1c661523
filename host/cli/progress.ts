// Progress of a long replay, on a terminal only: bytes read, packets/s and
// time left, redrawn in place on stderr at most four times a second.
export interface Progress {
  update(bytesRead: number, totalBytes: number | undefined, packets: number): void;
  done(): void;
}

const REDRAW_MS = 250;

export function progressOnTerminal(stream: NodeJS.WriteStream, enabled: boolean): Progress {
  if (!enabled || !stream.isTTY) return { update() {}, done() {} };
  const started = Date.now();
  let lastDraw = 0;
  let drawn = false;
  return {
    update(bytesRead, totalBytes, packets) {
      const now = Date.now();
      if (now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      const seconds = Math.max((now - started) / 1000, 0.001);
      const parts = [`read ${megabytes(bytesRead)}${totalBytes ? ` of ${megabytes(totalBytes)}` : ""}`,
        `${Math.round(packets / seconds).toLocaleString("en-US")} packets/s`];
      if (totalBytes && bytesRead > 0) {
        parts.push(`${Math.ceil(((totalBytes - bytesRead) / bytesRead) * seconds)} s left`);
      }
      stream.write(`\r\x1b[K${parts.join(", ")}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write("\r\x1b[K");
    },
  };
}

function megabytes(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}
