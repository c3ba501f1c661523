// One direction of a TCP stream, as the flow table (tcp.ts), the SIP framer
// (stream.ts) and the WebSocket framer (websocket.ts) all read it: the layout
// of its record in the flow table, its framing modes, and the longest message
// a direction's buffer can hold. Its own file so that the two framers, which
// hand a direction to each other, need not import one another.
export const DIR_MODE = 0;      // u32, MODE_*
export const DIR_NEXT_SEQ = 4;  // u32, sequence number after the last in-order byte
export const DIR_BASE_SEQ = 8;  // u32, sequence number of the first byte not yet consumed
export const DIR_BUFFER = 12;   // u32, stream buffer index + 1, 0 for none
export const DIR_START = 16;    // u32, where DIR_BASE_SEQ's byte sits in the buffer
export const DIR_SKIP = 20;     // u32, bytes still to discard (MODE_SKIP)
export const DIR_RANGES = 24;   // u32, out-of-order ranges held
export const DIR_NEED = 28;     // u32, bytes the message at the start needs, 0 when unknown
export const DIR_MID_LINE = 32; // u32, 1 when resync starts inside a line
export const DIR_WS_DONE = 36;  // u32, WebSocket payload bytes of the current message gathered at the start
export const DIR_WS_RAW = 40;   // u32, offset of the first WebSocket frame byte not yet decoded
export const DIR_FIN = 44;      // u32, 1 once a FIN was seen
export const DIR_RANGE = 48;    // RANGE_MAX x (u32 first seq, u32 end seq)
export const RANGE_MAX: u32 = 4;
export const DIR_STARTED = 80;  // u32, 1 once the sequence numbers are known
export const DIR_OLDER = 84;    // u32, address of the buffer holder that progressed before this one, 0 for none
export const DIR_HOLE_SINCE = 88; // i64, capture second the oldest hole opened
export const DIR_WAIT_SINCE = 96; // i64, capture second the buffer was taken or last gave a message
export const DIR_NEWER = 104;   // u32, address of the buffer holder that progressed after this one
export const DIR_SIZE: u32 = 112;

export const MODE_NEW: u32 = 0;      // no byte seen yet
export const MODE_SYNC: u32 = 1;     // a message starts at the first byte
export const MODE_RESYNC: u32 = 2;   // looking for a line that is a SIP start line
export const MODE_SKIP: u32 = 3;     // discarding the rest of a message too long to hold
export const MODE_WS_HTTP: u32 = 4;  // the server's reply to a WebSocket upgrade, to skip
export const MODE_WS: u32 = 5;       // WebSocket frames (RFC 6455 §5)
export const MODE_IGNORE: u32 = 6;   // nothing more can be read on this direction

// The longest message a caller can hold; longer ones are skipped by their Content-Length.
export let streamMessageMax: u32 = 65536;

export function setStreamMessageMax(n: u32): void {
  streamMessageMax = n;
}

export function setMode(dir: usize, m: u32): void {
  store<u32>(dir + DIR_MODE, m);
  store<u32>(dir + DIR_NEED, 0);
}
