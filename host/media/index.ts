// Media: the recorder. Takes each batch's SIP messages and the media packets the core tied to
// calls (MediaPacket, with the frames they came in); gives, for each call chosen (every call,
// --record-filter, or an address started at run time through control.ts), its own pcap
// (pcap-writer.ts) and for G.711 a WAV with a channel per direction (wav.ts), in files named
// and bounded by files.ts, and the paths for the call's events. recorder.ts is the Sink.
export { Recorder, type RecorderOptions } from "./recorder";
export { RecordingControl, canonicalAddress, type Recordings } from "./control";
export { recordingName } from "./files";
