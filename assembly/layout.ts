// The core's memory map, shared by the AssemblyScript core and host/core/core.ts.
// This file must stay valid as both AssemblyScript and TypeScript: plain
// integer constants and string arrays only. host/core/core.ts imports it directly,
// and test/layout.test.ts checks the compiled core agrees (LAYOUT_SIGNATURE).

// Bump when any offset or size below changes.
export const LAYOUT_VERSION = 16;

// ---- configuration area (static, address from configArea()) ----
// u32 slots written by the host before configure().
export const CFG_IN_BYTES = 0;        // capacity of the frame-bytes region
export const CFG_MAX_FRAMES = 4;      // frames per batch (frame index entries)
export const CFG_MAX_RECORDS = 8;     // result records per batch
export const CFG_FILTER_BYTES = 12;   // capacity of the filter program region
export const CFG_FLAGS = 16;          // CFG_FLAG_* bits
export const CFG_OUT_JSON_BYTES = 20; // capacity of the envelope JSON region
export const CFG_SENSOR_LEN = 24;     // bytes of sensor name at CFG_SENSOR
export const CFG_AGENT_LEN = 28;      // bytes of agent string at CFG_AGENT
export const CFG_DEFRAG_SLOTS = 32;   // IP datagrams in reassembly at once; 0 turns reassembly off
export const CFG_DEFRAG_TIMEOUT = 36; // seconds of capture time a datagram may wait for its fragments
export const CFG_VXLAN_PORTS = 40;    // UDP ports read as VXLAN: low 16 bits, high 16 bits (0 for none)
export const CFG_GENEVE_PORT = 44;    // UDP port read as Geneve, 0 for none
export const CFG_TCP_FLOWS = 48;      // TCP connections followed at once; 0 turns TCP reassembly off
export const CFG_TCP_BUFFERS = 52;    // stream buffers shared by the flows (one per direction holding a partial message)
export const CFG_TCP_BUFFER_BYTES = 56; // bytes of one stream buffer: the longest message plus TCP_TAIL_ROOM
export const CFG_TCP_IDLE = 60;       // seconds of capture time a flow may stay silent before it is freed
export const CFG_SENSOR = 64;         // sensor name, JSON-safe UTF-8
export const CFG_SENSOR_MAX = 128;
export const CFG_AGENT = 192;         // agent string, JSON-safe UTF-8
export const CFG_AGENT_MAX = 64;
export const CFG_TCP_PARTIAL_IDLE = 256; // seconds of capture time a stream may hold a partial message without completing one
export const CFG_MAX_BODY = 260;      // bytes a Content-Length on a stream may claim; a larger claim is malformed
export const CFG_MEDIA_CALLS = 264;  // calls whose media is followed at once; 0 turns media tracking off
export const CFG_MEDIA_ENDPOINTS = 268; // media endpoints (address, port) from SDP held at once
export const CFG_MEDIA_IDLE = 272;   // seconds of capture time a call's media may stay silent before it is released
export const CFG_SIZE = 288;

export const CFG_FLAG_RENDER_JSON = 1; // render the envelope JSON per message
export const CFG_FLAG_MEDIA_PACKETS = 2; // write a media record per RTP/RTCP packet (the recorder reads them)
export const CFG_FLAG_CALL_KEYS = 4;   // sign each message's Call-ID into REC_CALL_KEY (the trackers' and the web view's key)
export const CFG_FLAG_DIALOG_SPANS = 8; // find the From and To tags (what follows dialogs reads them)
export const CFG_FLAG_ALL_FIELDS = 16; // index every header field (the filter, trackers and media table read them); else Call-ID and Content-Length only

// ---- regions (addresses from region(R_*), valid after configure()) ----
export const R_IN_BYTES = 0;
export const R_IN_INDEX = 1;
export const R_OUT_RECORDS = 2;
export const R_COUNTERS = 3;
export const R_FILTER = 4;
export const R_OUT_JSON = 5;          // envelopes, each followed by a newline: NDJSON as is
export const R_OUT_MEDIA = 6;         // media packet records (MED_*), one per RTP/RTCP packet of a known call
export const R_OUT_MEDIA_ENDS = 7;    // media stats records (CALL_STATS_SIZE each), one per call released
export const R_MEDIA_CALLS = 8;       // the media call table: CALL_SLOT_SIZE per slot, its first CALL_STATS_SIZE bytes as a stats record
export const R_EVENT = 9;             // one call event's description (EV_*), written by the host before renderEvent()
export const R_EVENT_OUT = 10;        // call events rendered as JSON lines by renderEvent()
export const REGION_COUNT = 11;

// ---- frame index entry, written by the host, one per frame ----
export const FRAME_SIZE = 32;
export const FRAME_OFFSET = 0;    // u32, offset of the frame in R_IN_BYTES
export const FRAME_CAPLEN = 4;    // u32, captured bytes
export const FRAME_ORIGLEN = 8;   // u32, length on the wire
export const FRAME_LINKTYPE = 12; // u32, LINKTYPE_* (tcpdump.org numbering)
export const FRAME_TS_SEC = 16;   // i64, seconds since the epoch
export const FRAME_TS_NSEC = 24;  // u32, nanoseconds
export const FRAME_IFACE = 28;    // u32, interface number in the capture

// ---- result record, written by the core, one per SIP message ----
export const REC_FRAME = 0;       // u32, index in the batch of the message's last frame
export const REC_FLAGS = 4;       // u32, REC_F_* bits and transport in the low nibble
export const REC_TS_SEC = 8;      // i64, capture time of the message's last packet
export const REC_TS_NSEC = 16;    // u32
export const REC_STATUS = 20;     // u32, response status, 0 for a request
export const REC_HASH = 24;       // u64, signature of the message bytes (envelope id); 0 when envelopes are not rendered
export const REC_MSG_ADDR = 32;   // u32, address of the message bytes in linear memory, valid until the next push()
export const REC_MSG_LEN = 36;    // u32
export const REC_JSON_OFF = 40;   // u32, envelope JSON, offset in R_OUT_JSON
export const REC_JSON_LEN = 44;   // u32, 0 when JSON rendering is off
export const REC_SRC_ADDR = 48;   // 16 bytes, IPv4 in the first 4
export const REC_DST_ADDR = 64;   // 16 bytes
export const REC_SRC_PORT = 80;   // u16
export const REC_DST_PORT = 82;   // u16
export const REC_CSEQ = 84;       // u32, CSeq number
export const REC_EXPIRES = 88;    // i32, Expires header, -1 when absent
export const REC_CLEN = 92;       // i32, Content-Length header, -1 when absent
export const REC_SPANS = 96;      // SPAN_COUNT x (u32 offset, u32 length), relative to the message
export const REC_HEADER_COUNT = 224; // u32, header fields in the message
export const REC_PROBLEMS = 228;  // u32, PROB_* bits found while tokenizing
// Tunnelled messages: the outermost tunnel's IP endpoints (REC_SRC/DST are the inner ones).
export const REC_OUTER_SRC = 232; // 16 bytes, IPv4 in the first 4; REC_F_OUTER_IPV6 says which
export const REC_OUTER_DST = 248; // 16 bytes
export const REC_OUTER_TYPE = 264; // u32, TUNNEL_*; TUNNEL_NONE when not tunnelled
export const REC_OUTER_ID = 268;   // u32, VNI, GRE key or ERSPAN session, when REC_F_OUTER_ID
export const REC_OUTER_DEPTH = 272; // u32, tunnels around the message (1 unless nested)
// Spans SPAN_BASE_COUNT and up (X-CID, P-Charging-Vector, the SDP's) continue here, same format.
export const REC_SPANS_MORE = 280;
// The SDP of the message (application/sdp, alone or as a multipart/mixed part), when it has one.
export const REC_SDP_FLAGS = 312;   // u32, SDP_F_* bits; 0 when the message carries no SDP
export const REC_SDP_ADDR = 316;    // 16 bytes, connection address of the first audio stream (IPv4 in the first 4)
export const REC_SDP_PORT = 332;    // u16, port of the first audio m= line (0: refused or absent)
export const REC_SDP_RTCP_PORT = 334; // u16, its RTCP port (a=rtcp, else port + 1)
export const REC_SDP_PT = 336;      // u32, first payload type of that m= line, 0xffffffff when none
export const REC_SDP_CLOCK = 340;   // u32, its clock rate (a=rtpmap, else the static one, 0 unknown)
export const REC_SDP_MEDIA = 344;   // u32, m= lines in the SDP
export const REC_SDP_CALL = 348;    // u32, media call slot the SDP was entered in, 0xffffffff for none
export const REC_CALL_KEY = 352;  // u64, signature of the Call-ID bytes (0 when absent): the call tracker's key
export const REC_SIZE = 360;

export const TRANSPORT_MASK = 15;
export const TRANSPORT_UDP = 1;
export const TRANSPORT_TCP = 2;
export const TRANSPORT_WS = 3;

export const REC_F_REQUEST = 16;
export const REC_F_IPV6 = 32;
export const REC_F_OUTER_IPV6 = 64;
export const REC_F_OUTER_ID = 128;
export const REC_F_RECORD = 256;    // the --record-filter program (loadRecordFilter) selected the message

// Tunnel types (REC_OUTER_TYPE), named in TUNNEL_NAMES for the envelope.
export const TUNNEL_NONE = 0;
export const TUNNEL_VXLAN = 1;
export const TUNNEL_GENEVE = 2;
export const TUNNEL_GRE = 3;
export const TUNNEL_ERSPAN = 4;
export const TUNNEL_IPIP = 5;      // IPv4 or IPv6 directly in IPv4 or IPv6 (protocols 4, 41)
export const TUNNEL_NAMES: string[] = ["", "vxlan", "geneve", "gre", "erspan", "ip"];

// Spans into the message; offset 0 and length 0 mean absent.
export const SPAN_METHOD = 0;       // request method, or CSeq method of a response
export const SPAN_URI = 1;          // Request-URI
export const SPAN_REASON = 2;       // response reason phrase
export const SPAN_CALL_ID = 3;
export const SPAN_CSEQ_METHOD = 4;
export const SPAN_FROM = 5;         // whole From value
export const SPAN_FROM_TAG = 6;
export const SPAN_TO = 7;
export const SPAN_TO_TAG = 8;
export const SPAN_CONTACT = 9;
export const SPAN_CONTENT_TYPE = 10;
export const SPAN_USER_AGENT = 11;  // User-Agent, or Server in a response
export const SPAN_BODY = 12;
export const SPAN_EXPIRES = 13;     // Expires value text
export const SPAN_REASON_HEADER = 14;  // Reason header (RFC 3326), first one
export const SPAN_SESSION_ID = 15;     // Session-ID (RFC 7989): correlates B2BUA legs
export const SPAN_BASE_COUNT = 16;  // spans at REC_SPANS; the rest at REC_SPANS_MORE
export const SPAN_X_CID = 16;          // X-CID: the other leg's Call-ID, as SBCs add it
export const SPAN_P_CHARGING_VECTOR = 17; // P-Charging-Vector (RFC 7315)
export const SPAN_SDP = 18;             // the SDP: the body, or its application/sdp part in a multipart body
export const SPAN_SDP_CODEC = 19;       // encoding name of REC_SDP_PT from its a=rtpmap ("" for a static type without one)
export const SPAN_COUNT = 20;

// Tokenizer problems: the message is emitted, the problem counted.
// PROB_NAMES[k] names bit 1 << k, as parse-error events list them (docs/events.md).
export const PROB_NAMES: string[] = [
  "content-length-bad", "content-length-short", "no-call-id", "no-cseq", "header-overflow", "truncated",
  "uri-not-ascii", "status-range", "no-empty-line",
];
export const PROB_CLEN_BAD = 1;       // Content-Length not a number, or repeated with other values
export const PROB_CLEN_SHORT = 2;     // Content-Length larger than the bytes present
export const PROB_NO_CALL_ID = 4;
export const PROB_NO_CSEQ = 8;
export const PROB_HEADER_OVERFLOW = 16; // more header fields than the index holds
export const PROB_TRUNCATED = 32;     // frame was cut by the snap length
export const PROB_URI_NOT_ASCII = 64; // Request-URI holds raw bytes 0x80-0xFF (RFC 3261 §25.1 wants them %-escaped)
export const PROB_STATUS_RANGE = 128; // status code outside 100-699 (RFC 3261 §21)
export const PROB_NO_EMPTY_LINE = 256; // a datagram's header section ran to its end without the empty line (RFC 3261 §7)

// ---- counters: u64 each, at R_COUNTERS + 8 * C_* ----
export const C_FRAMES = 0;
export const C_BYTES = 1;
export const C_LINK_UNSUPPORTED = 2;
export const C_FRAME_MALFORMED = 3;
export const C_IPV4 = 4;
export const C_IPV6 = 5;
export const C_UDP = 6;
export const C_TCP = 7;
export const C_OTHER_L4 = 8;
export const C_NON_SIP = 9;
export const C_SIP_UDP = 10;
export const C_SIP_TCP = 11;
export const C_SIP_MALFORMED = 12;
export const C_TRAILING_BYTES = 13;
export const C_UDP_MULTI = 14;
export const C_HEADER_OVERFLOW = 15;
export const C_FRAGMENTS = 16;
export const C_TRUNCATED = 17;
export const C_CLEN_BAD = 18;
export const C_CLEN_SHORT = 19;
export const C_FILTER_MATCHED = 20;
export const C_FILTER_REJECTED = 21;
export const C_SIP_WS = 22;
export const C_OUT_OVERFLOW = 23;     // a message dropped because one frame outgrew the output regions
export const C_DEFRAG_DONE = 24;      // datagrams reassembled from fragments
export const C_DEFRAG_DUPLICATE = 25; // fragments that repeated one already held (ignored)
export const C_DEFRAG_OVERLAP = 26;   // datagrams dropped: fragments overlapped (RFC 5722)
export const C_DEFRAG_TIMEOUT = 27;   // datagrams dropped: incomplete after CFG_DEFRAG_TIMEOUT
export const C_DEFRAG_EVICTED = 28;   // datagrams dropped: the table was full
export const C_DEFRAG_OVERSIZE = 29;  // datagrams dropped: longer than 65535 bytes of payload
export const C_DEFRAG_MALFORMED = 30; // fragments dropped: not a multiple of 8 bytes before the last
export const C_DEFRAG_ATOMIC = 31;    // fragment headers with offset 0 and no more fragments (RFC 6946)
export const C_TUNNEL_VXLAN = 32;
export const C_TUNNEL_GENEVE = 33;
export const C_TUNNEL_GRE = 34;
export const C_TUNNEL_ERSPAN = 35;
export const C_TUNNEL_IP = 36;
export const C_TUNNEL_DEPTH = 37;     // packets dropped: tunnels nested deeper than the bound
export const C_TUNNEL_UNSUPPORTED = 38; // GRE versions, flags or payload types not decoded
export const C_TCP_FLOWS = 39;        // flows entered in the table
export const C_TCP_CLOSED = 40;       // flows freed by FIN in both directions or by RST
export const C_TCP_IDLE = 41;         // flows freed after CFG_TCP_IDLE seconds of silence
export const C_TCP_EVICTED = 42;      // flows freed because the table was full (least recently seen)
export const C_TCP_RETRANSMIT = 43;   // segments whose bytes were all delivered already (dropped)
export const C_TCP_OUT_OF_ORDER = 44; // segments held until the bytes before them arrive
export const C_TCP_GAP = 45;          // holes given up on: bytes never seen, stream resynced after them
export const C_TCP_RESYNC = 46;       // resyncs: the next SIP start line searched after a gap or bad data
export const C_TCP_SKIPPED = 47;      // stream bytes discarded while looking for a start line
export const C_TCP_NO_BUFFER = 48;    // partial messages dropped: every stream buffer was in use
export const C_TCP_TOO_LONG = 49;     // messages longer than a stream buffer, skipped by Content-Length
export const C_WS_UPGRADE = 50;       // WebSocket upgrades (RFC 6455 §4) seen on a stream
export const C_WS_FRAMES = 51;        // WebSocket frames decoded
export const C_WS_BAD = 52;           // WebSocket streams given up: reserved bits, opcodes or lengths out of bounds
export const C_URI_NOT_ASCII = 53;    // messages with PROB_URI_NOT_ASCII
export const C_STATUS_RANGE = 54;     // messages with PROB_STATUS_RANGE
export const C_PPPOE = 55;            // frames read through a PPPoE session header (RFC 2516)
export const C_MPLS = 56;             // frames read through an MPLS label stack (RFC 3032)
export const C_NOT_IP = 57;           // frames whose link layer carries no IP Siphon reads (ARP, PPP control, other ethertypes)
export const C_TCP_BUFFER_EVICTED = 58; // partial messages dropped to give their stream buffer to another direction (the one waiting longest)
export const C_TCP_PARTIAL_IDLE = 59; // partial messages given up after CFG_TCP_PARTIAL_IDLE seconds without a message completed
export const C_TCP_CLEN_OVER = 60;    // messages whose Content-Length claimed more than CFG_MAX_BODY: malformed, resynced after the header
export const C_TCP_CLEN_UNMET = 61;   // messages whose claimed body did not arrive within CFG_TCP_PARTIAL_IDLE: malformed, resynced in the body
export const C_SDP = 62;              // messages carrying SDP (read when media is followed)
export const C_SDP_MALFORMED = 63;    // SDP bodies with a line or address Siphon could not read (the rest is used)
export const C_RTP = 64;              // RTP packets of a known call
export const C_RTCP = 65;             // RTCP packets of a known call
export const C_RTP_UNKNOWN = 66;      // UDP packets that look like RTP v2 on no endpoint from SDP (e.g. calls begun before the capture)
export const C_MEDIA_MALFORMED = 67;  // packets on a media endpoint that are not valid RTP/RTCP (lengths past the end, version not 2)
export const C_MEDIA_CALLS = 68;      // calls entered in the media table
export const C_MEDIA_ENDED = 69;      // calls released by BYE or a failed final answer
export const C_MEDIA_IDLE = 70;       // calls released after CFG_MEDIA_IDLE seconds without SIP or media
export const C_MEDIA_EVICTED = 71;    // calls released because the call or endpoint table was full (the least recently active)
export const C_MEDIA_ENDS_LOST = 72;  // stats records lost: more calls released in one push than R_OUT_MEDIA_ENDS holds
export const C_MEDIA_ID_TOO_LONG = 73; // SDP of calls whose Call-ID is longer than CALL_ID_MAX (not followed)
export const C_TIME_CLAMPED = 74;     // frames whose capture time lies outside 1684-07-28 to 2255-06-05 (what the host's microseconds hold exactly): clamped
export const C_NO_EMPTY_LINE = 75;    // messages with PROB_NO_EMPTY_LINE
export const C_TCP_PARTIAL_END = 76;  // partial messages (or bytes after a hole) held when the input ended: dropped
export const C_DEFRAG_END = 77;       // datagrams still missing fragments when the input ended: dropped
export const COUNTER_COUNT = 80;
export const COUNTER_NAMES: string[] = [
  "frames", "bytes", "link_unsupported", "frame_malformed", "ipv4", "ipv6", "udp", "tcp",
  "other_l4", "non_sip", "sip_udp", "sip_tcp", "sip_malformed", "trailing_bytes", "udp_multi",
  "header_overflow", "fragments", "truncated", "clen_bad", "clen_short", "filter_matched",
  "filter_rejected", "sip_ws", "out_overflow", "defrag_done", "defrag_duplicate", "defrag_overlap",
  "defrag_timeout", "defrag_evicted", "defrag_oversize", "defrag_malformed", "defrag_atomic",
  "tunnel_vxlan", "tunnel_geneve", "tunnel_gre", "tunnel_erspan", "tunnel_ip", "tunnel_depth",
  "tunnel_unsupported", "tcp_flows", "tcp_closed", "tcp_idle", "tcp_evicted", "tcp_retransmit",
  "tcp_out_of_order", "tcp_gap", "tcp_resync", "tcp_skipped", "tcp_no_buffer", "tcp_too_long",
  "ws_upgrade", "ws_frames", "ws_bad", "uri_not_ascii", "status_range",
  "pppoe", "mpls", "not_ip",
  "tcp_buffer_evicted", "tcp_partial_idle", "tcp_clen_over", "tcp_clen_unmet",
  "sdp", "sdp_malformed", "rtp", "rtcp", "rtp_unknown", "media_malformed", "media_calls",
  "media_ended", "media_idle", "media_evicted", "media_ends_lost", "media_id_too_long", "time_clamped",
  "no_empty_line", "tcp_partial_end", "defrag_end",
];

// Header identities known to the tokenizer (index = id; 0 is any other header).
// RFC 3261 §7.3.3 and later RFCs give the compact forms, aligned in HEADER_COMPACT.
export const HEADER_NAMES: string[] = [
  "", "call-id", "from", "to", "via", "contact", "content-length", "content-type", "cseq",
  "expires", "user-agent", "server", "subject", "supported", "content-encoding", "event",
  "allow-events", "refer-to", "referred-by", "session-expires", "reject-contact",
  "accept-contact", "identity", "request-disposition", "identity-info", "max-forwards", "route",
  "record-route", "authorization", "proxy-authorization", "www-authenticate",
  "proxy-authenticate", "reason", "session-id", "x-cid", "p-charging-vector",
];
export const HEADER_COMPACT: string[] = [
  "", "i", "f", "t", "v", "m", "l", "c", "", "", "", "", "s", "k", "e", "o", "u", "r", "b", "x",
  "j", "a", "y", "d", "n", "", "", "", "", "", "", "", "", "", "", "",
];
export const H_OTHER = 0;
export const H_CALL_ID = 1;
export const H_FROM = 2;
export const H_TO = 3;
export const H_VIA = 4;
export const H_CONTACT = 5;
export const H_CONTENT_LENGTH = 6;
export const H_CONTENT_TYPE = 7;
export const H_CSEQ = 8;
export const H_EXPIRES = 9;
export const H_USER_AGENT = 10;
export const H_SERVER = 11;
export const H_REASON = 32;
export const H_SESSION_ID = 33;
export const H_X_CID = 34;
export const H_P_CHARGING_VECTOR = 35;

// ---- media ----
// SDP_F_* bits in REC_SDP_FLAGS.
export const SDP_F_PRESENT = 1;
export const SDP_F_IPV6 = 2;        // REC_SDP_ADDR is IPv6
export const SDP_F_SENDRECV = 4;    // direction of the first audio stream (RFC 4566 §6): one of these four
export const SDP_F_SENDONLY = 8;
export const SDP_F_RECVONLY = 16;
export const SDP_F_INACTIVE = 32;
export const SDP_F_MALFORMED = 64;  // a line or address could not be read
export const SDP_F_NO_ADDR = 128;   // no c= for the first audio stream
export const SDP_F_HOLD = 256;      // c= 0.0.0.0 (RFC 3264 §8.4 hold, old style)

// A media packet record, one per RTP/RTCP packet of a known call (with CFG_FLAG_MEDIA_PACKETS).
export const MED_SIZE = 56;
export const MED_FRAME = 0;       // u32, index in the batch of the packet's frame
export const MED_CALL = 4;        // u32, call slot (R_MEDIA_CALLS)
export const MED_FLAGS = 8;       // u32, MED_F_* bits
export const MED_SSRC = 12;       // u32
export const MED_SEQ = 16;        // u32, RTP sequence number (0 for RTCP)
export const MED_RTP_TS = 20;     // u32, RTP timestamp (0 for RTCP)
export const MED_PT = 24;         // u32, payload type (RTCP: the first packet's type, 200-204)
export const MED_PAYLOAD_ADDR = 28; // u32, payload in linear memory (RTP: after header, CSRCs, extension; less padding; RTCP: whole packet)
export const MED_PAYLOAD_LEN = 32;  // u32
export const MED_GEN = 36;        // u32, the call's serial number (CALL_GEN)
export const MED_TS_SEC = 40;     // i64, capture time
export const MED_TS_NSEC = 48;    // u32
export const MED_F_DIRECTION = 1; // sent from the answerer's side (0: from the offerer's)
export const MED_F_RTCP = 2;
export const MED_F_MARKER = 4;

// A media call slot. Its first CALL_STATS_SIZE bytes are what a stats record holds.
export const CALL_ID_MAX = 256;
export const CALL_GEN = 0;        // u32, the call's serial number: one per call taking a slot, from 1 (a run's 2^32 calls)
export const CALL_STATE = 4;      // u32, 0 free, 1 in use; in a stats record a STATS_* kind
export const CALL_ID_LEN = 8;     // u32
export const CALL_END_REASON = 12; // u32, MEDIA_END_*
export const CALL_FIRST_US = 16;  // i64, capture time (microseconds) of the first SDP
export const CALL_LAST_US = 24;   // i64, capture time of the last SIP message with SDP or media packet (in the
                                  // core's table, direction 1's media packets' is at DIR_LAST_US: see lastActive)
export const CALL_DIR = 32;       // two DIR_SIZE blocks: direction 0 (from the offerer), direction 1
export const DIR_SIZE = 160;
export const CALL_ID = 352;       // CALL_ID_MAX bytes of Call-ID
export const CALL_STATS_SIZE = 608;
export const CALL_SLOT_SIZE = 1024; // the rest is the core's working state
// Per direction (DIR_*, offsets in a DIR_SIZE block): RFC 3550 A.1/A.3/A.8 and RTCP.
export const DIR_PACKETS = 0;     // u32, RTP packets received (duplicates included, as RFC 3550 A.3 counts)
export const DIR_EXPECTED = 4;    // u32, highest extended sequence - first + 1, summed over SSRCs
export const DIR_LOST = 8;        // i32, expected - packets (negative with duplicates)
export const DIR_DUPLICATES = 12; // u32
export const DIR_OUT_OF_ORDER = 16; // u32, packets older than the highest sequence seen, not duplicates
export const DIR_SSRC_CHANGES = 20; // u32
export const DIR_SSRC = 24;       // u32, current SSRC
export const DIR_PT = 28;         // u32, payload type of the codec, 0xffffffff before the first packet
export const DIR_CLOCK = 32;      // u32, clock rate used for jitter (Hz)
export const DIR_RTCP_PACKETS = 36; // u32, RTCP packets sent from this direction's sender
export const DIR_JITTER = 40;     // f64, interarrival jitter at the end (RFC 3550 A.8), ms
export const DIR_MAX_JITTER = 48; // f64, ms
// What every RTP packet reads and writes is in the block's first 96 bytes (the fields above and
// the working state), so that a packet touches two cache lines of its direction, not three.
export const DIR_WORK = 56;       // 40 bytes: working state of the sequence and jitter estimators
// Direction 1's block is the slot's bytes 192 to 351: its first 128 bytes are the two lines its packets
// touch, so a direction-1 packet's activity time is kept here, not in the slot's first line
// (CALL_LAST_US, in the line direction 0 already touches). Unused in direction 0's block.
export const DIR_LAST_US = 96;    // i64, capture time of the last RTP or RTCP packet of direction 1
export const DIR_RTCP_REPORTS = 104; // u32, RTCP report blocks about this direction's stream (from its receiver)
export const DIR_RTCP_FRACTION = 108; // u32, last reported fraction lost, /256
export const DIR_RTCP_LOST = 112; // i32, last reported cumulative lost
export const DIR_RTCP_JITTER = 120; // f64, last reported jitter, ms (timestamp units / clock rate)
export const DIR_CODEC = 128;     // 16 bytes, encoding name (a=rtpmap or the static table), NUL-padded

// A stats record's kind (at CALL_STATE): a BYE hands on the figures up to it (STATS_LEAVING), and when
// the call's endpoints leave CLOSING_US later, the final figures with the late RTP (STATS_AFTER_BYE).
export const STATS_LEAVING = 1;
export const STATS_AFTER_BYE = 2;

export const MEDIA_END_BYE = 1;
export const MEDIA_END_FAILED = 2; // a final answer >= 300 before any 2xx
export const MEDIA_END_IDLE = 3;
export const MEDIA_END_EVICTED = 4;
export const MEDIA_END_CAPTURE = 5; // the input ended with the call still held
export const MEDIA_END_NAMES: string[] = ["", "bye", "failed", "idle", "evicted", "end"];

// ---- call events (assembly/events.ts renders them; host/calls/tracker.ts decides them) ----
// The host describes one event at R_EVENT and calls renderEvent(at), which writes its JSON
// line at R_EVENT_OUT + at. Strings are UTF-8 the host wrote into the description's text
// area, each named by a slot of (offset from R_EVENT, length); a length of EV_ABSENT leaves
// the member out. Numbers the host gives as f64 are integers of at most 2^53.
export const EVENT_BYTES = 1 << 20;     // R_EVENT: the fixed part, then the text area
export const EVENT_OUT_BYTES = 1 << 20; // R_EVENT_OUT
export const EV_TYPE = 0;          // u32, index in EVENT_TYPE_NAMES
export const EV_FLAGS = 4;         // u32, EVF_* bits
export const EV_AT_US = 8;         // f64, @timestamp: microseconds since the epoch
export const EV_DURATION = 16;     // f64, event.duration in nanoseconds (EVF_DURATION)
export const EV_SEQUENCE = 24;     // f64, event.sequence
export const EV_STATUS = 32;       // u32, sip.response.status (EVF_RESPONSE)
export const EV_CLIENT_PORT = 36;  // u32
export const EV_SERVER_PORT = 40;  // u32
export const EV_TRANSPORT = 44;    // u32, TRANSPORT_*
export const EV_PDD = 48;          // f64, sip.pdd in microseconds: written as milliseconds (EVF_PDD)
export const EV_RING_TIME = 56;    // f64, sip.ring_time in microseconds (EVF_RING_TIME)
export const EV_ORIGINATOR = 64;   // u32, index in ORIGINATOR_NAMES (EVF_ORIGINATOR)
export const EV_OUTCOME = 68;      // u32, index in OUTCOME_NAMES (EVF_CALL)
export const EV_TIMES = 72;        // 4 x f64: sip.call.times invite, ringing, answer, end in microseconds (EVF_TIME_* each)
export const EV_EXPIRES = 104;     // f64, sip.binding.expires (EVF_BINDING)
export const EV_PROBLEMS = 112;    // u32, PROB_* bits: sip.problems (EVF_PROBLEMS)
export const EV_LEGS = 116;        // u32, sip.call.legs in the order the call saw them: 2 bits each from bit 0, 1 + index in LEG_NAMES, 0 ends
export const EV_TEXT_END = 120;    // u32, the end of the text the core's tracker wrote (offset from R_EVENT): the host's strings go after it
export const EV_SLOTS = 128;       // EV_SLOT_COUNT x (u32 offset, u32 length)
export const EV_CALL_KEY = 264;    // f64, the core's tracker's: the Call-ID's key as a message's REC_CALL_KEY has it (its low 53 bits), -1 without one
export const EV_RTP = 272;         // 2 x EV_RTP_SIZE: rtp.from_offerer, rtp.from_answerer (EVF_RTP)
export const EV_RTP_SIZE = 96;     // 12 x f64: EVR_*
export const EV_TEXT = 512;        // where the text area starts
// One direction's figures at EV_RTP (docs/events.md, rtp.*); the *_MS ones are in thousandths
// of a millisecond (the event has them rounded to three places). The rtcp member is written
// when EVR_RTCP_REPORTS is above 0.
export const EVR_PACKETS = 0;
export const EVR_EXPECTED = 8;
export const EVR_LOST = 16;
export const EVR_JITTER = 24;
export const EVR_MAX_JITTER = 32;
export const EVR_DUPLICATES = 40;
export const EVR_OUT_OF_ORDER = 48;
export const EVR_SSRC_CHANGES = 56;
export const EVR_RTCP_REPORTS = 64;
export const EVR_RTCP_FRACTION_LOST = 72;
export const EVR_RTCP_LOST = 80;
export const EVR_RTCP_JITTER = 88;
export const EV_ABSENT = 0xffffffff;
export const EVS_CALL_ID = 0;
export const EVS_FROM = 1;         // the whole From value: the core writes its URI (uriOf in host/calls/message.ts)
export const EVS_TO = 2;
export const EVS_METHOD = 3;       // sip.request.method
export const EVS_REASON = 4;       // sip.response.reason
export const EVS_REASON_HEADER = 5;
export const EVS_CLIENT_IP = 6;
export const EVS_SERVER_IP = 7;
export const EVS_USER_AGENT = 8;
export const EVS_OBSERVER = 9;     // observer.name
export const EVS_AOR = 10;         // sip.binding.aor
export const EVS_CONTACT = 11;
export const EVS_LEG = 12;         // three slots: the values of sip.call.legs, in EV_LEGS order
export const EVS_CODEC = 15;       // two slots: rtp.from_offerer.codec, rtp.from_answerer.codec
export const EV_SLOT_COUNT = 17;
export const EVF_DURATION = 1;
export const EVF_REQUEST = 2;
export const EVF_RESPONSE = 4;
export const EVF_PDD = 8;
export const EVF_RING_TIME = 16;
export const EVF_ORIGINATOR = 32;
export const EVF_CALL = 64;
export const EVF_IMPLIED = 128;
export const EVF_BINDING = 256;
export const EVF_PROBLEMS = 512;
export const EVF_TIME_INVITE = 1024; // EVF_TIME_INVITE << k for time k of EV_TIMES
export const EVF_RTP = 16384;
export const EVENT_TYPE_NAMES: string[] = [
  "call-attempt", "call-start", "call-end", "reg-new", "reg-del", "reg-expired", "auth-failed",
  "other-ok", "other-failed", "other-timeout", "parse-error", "msg-probe", "counters",
];
export const ORIGINATOR_NAMES: string[] = ["caller", "callee", "timeout"];
export const OUTCOME_NAMES: string[] = ["answered", "failed", "cancelled", "timeout", "auth-failed"];
export const CALL_TIME_NAMES: string[] = ["invite", "ringing", "answer", "end"];
export const LEG_NAMES: string[] = ["x_cid", "session_id", "p_charging_vector"];

// ---- the core's call tracker (assembly/track.ts, --tracker core) ----
// Its settings, f64 each, written by the host at R_EVENT + TRK_SETTINGS before configureTracker(),
// the observer name's bytes after them at TRK_SETTINGS_END.
export const TRK_SETTINGS = 0;
export const TRK_INVITE = 0;
export const TRK_GRACE = 8;
export const TRK_ESTABLISHED = 16;
export const TRK_LINGER = 24;
export const TRK_TRANSACTION = 32;
export const TRK_CHALLENGE = 40;
export const TRK_EXPIRY_GRACE = 48;
export const TRK_COUNTERS = 56;
export const TRK_MAX_CALLS = 64;
export const TRK_MAX_BINDINGS = 72;
export const TRK_MAX_TRANSACTIONS = 80;
export const TRK_SETTINGS_END = 88;
// trackerCounter(TC_*): host/calls/tracker.ts TrackerCounters in its order, then the core's own.
export const TC_MESSAGES = 0;
export const TC_CALLS_HELD = 1;
export const TC_CALLS_EVICTED = 2;
export const TC_BINDINGS_HELD = 3;
export const TC_BINDINGS_EVICTED = 4;
export const TC_TRANSACTIONS_HELD = 5;
export const TC_TRANSACTIONS_EVICTED = 6;
export const TC_CHALLENGES_HELD = 7;
export const TC_CHALLENGES_EVICTED = 8;
export const TC_TIMERS_ARMED = 9;
export const TC_EVENTS = 10;
export const TC_TEXT_LOST = 11;     // strings an entry could not keep: the text arena was full
export const TRACKER_COUNTER_NAMES: string[] = [
  "messages", "calls_held", "calls_evicted", "bindings_held", "bindings_evicted", "transactions_held",
  "transactions_evicted", "challenges_held", "challenges_evicted", "timers_armed", "events",
];
export const TRACK_ENTRY_SIZE = 240;       // bytes of one call, transaction, binding or challenge
export const TRACK_TEXT_PER_ENTRY = 512;   // text arena bytes reserved per entry (Call-ID, From, To, ...)

// configure() results
export const CONFIGURE_OK = 0;
export const CONFIGURE_BAD_SIZE = 1;
export const CONFIGURE_NO_MEMORY = 2;

// A checksum of the layout that the core computes from its own copy of these
// constants; host/core/core.ts computes the same and refuses a core that differs.
export const LAYOUT_SIGNATURE =
  LAYOUT_VERSION * 1000003 + CFG_SIZE * 7919 + FRAME_SIZE * 7907 + REC_SIZE * 7901 +
  REC_SPANS * 7883 + SPAN_COUNT * 7879 + COUNTER_COUNT * 7877 + REGION_COUNT * 7873 +
  REC_PROBLEMS * 7867 + FRAME_IFACE * 7853 + CFG_AGENT * 7841 + MED_SIZE * 7829 +
  CALL_SLOT_SIZE * 7823 + CALL_STATS_SIZE * 7817 + DIR_SIZE * 7841 + EV_TEXT * 7793 + EV_SLOT_COUNT * 7789 + EV_RTP * 7759 + EV_CALL_KEY * 7757;

// ---- filter program, compiled by host/filter, copied into R_FILTER ----
// All words are u32 little-endian; offsets are bytes from the region's start.
// The core checks a program once (loadFilter) before running it on any message.
export const FILTER_MAGIC = 0x46504953; // "SIPF"
export const FILTER_FORMAT = 1;
export const FP_MAGIC = 0;
export const FP_FORMAT = 4;
export const FP_LENGTH = 8;      // bytes in the whole program
export const FP_CODE = 12;       // offset of the first instruction
export const FP_CODE_WORDS = 16; // instruction words
export const FP_HEADER_SIZE = 20;
export const FILTER_MAX_CODE_WORDS = 65536;

// An instruction's first word is its opcode in the low byte and its size in
// words (opcode word included) above it: OP | (words << 8). Operands follow.
// Instructions leave a yes/no result; jumps are forward only, so every message
// costs at most one pass over the code.
export const OP_END = 0;           // stop with the result
export const OP_TRUE = 1;
export const OP_REQUEST = 2;
export const OP_RESPONSE = 3;
export const OP_METHOD = 4;        // count, then count x (name offset, name length), names upper-case
export const OP_STATUS = 5;        // count, then count x (lowest, highest)
export const OP_HEADER = 6;        // header id, name offset, name length (lower-case, for id 0), automaton offset or 0 for presence
export const OP_BODY = 7;          // automaton offset
export const OP_MESSAGE = 8;       // automaton offset
export const OP_ADDRESS = 9;       // side (0 source, 1 destination), IP version, prefix bits, address offset (16 bytes), port or FILTER_ANY_PORT
export const OP_PORT = 10;         // count, then count ports; either side
export const OP_TRANSPORT = 11;    // bit mask of 1 << TRANSPORT_*
export const OP_HAS_SDP = 12;
export const OP_NOT = 13;
export const OP_JUMP_IF_FALSE = 14; // target: instruction word index in the code
export const OP_JUMP_IF_TRUE = 15;
export const OP_COUNT = 16;
export const FILTER_ANY_PORT = 0xffffffff;

// Automaton (see host/filter/automaton.ts): a header, the class of each byte,
// a flag per state, then the transition table. State values are row offsets
// (state * classes); value `states * classes` is dead, one more is matched.
export const DFA_CLASSES = 0;      // u32, 1..256
export const DFA_STATES = 4;       // u32, non-final states
export const DFA_START = 8;        // u32, state value before the first byte
export const DFA_CLASS_OF = 12;    // 256 bytes
export const DFA_AT_END = 268;     // one byte per state: 1 when the text may end there
// the table (u32 entries) starts at DFA_AT_END + states rounded up to 4

// loadFilter() results
export const FILTER_OK = 0;
export const FILTER_BAD_HEADER = 1;
export const FILTER_BAD_CODE = 2;
export const FILTER_BAD_OPERAND = 3;
export const FILTER_BAD_AUTOMATON = 4;
