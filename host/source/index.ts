// Sources: where frames come from. Takes a capture file (pcap or pcapng, sniffed
// from its first bytes), a pcap stream on stdin or a FIFO, or live interfaces
// through libpcap (live.ts, with the kernel filter built by bpf.ts); gives each
// frame, synchronously, to a FrameConsumer (the core) as numbers and a view into
// the reader's buffer: its bytes, capture time, original length, link type and
// interface. A source knows nothing of SIP, the core's memory or the outputs;
// a damaged capture is a CaptureError that says where.
export { CaptureError, type FrameConsumer } from "./frames";
export { CaptureParser, readCapture, readCaptureStream, type ChunkHook } from "./file";
export {
  DECODED_LINK_TYPES, LiveCapture, LiveCaptureError, linkTypeName, loadPcap, type InterfaceDrops, type InterfaceStats, type LiveOptions,
} from "./live";
export { captureFilter, DEFAULT_GENEVE_PORTS, DEFAULT_SIP_PORTS, DEFAULT_VXLAN_PORTS } from "./bpf";
