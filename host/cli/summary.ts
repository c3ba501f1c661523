// The one-line summary of a run, from the core's counters.
export function summaryLine(c: Record<string, number>, seconds: number, filtered = false): string {
  const sip = c.sip_udp + c.sip_tcp + c.sip_ws;
  const malformed = c.frame_malformed + c.sip_malformed;
  const parts = [
    `${c.frames} packets`,
    `${sip} SIP messages (udp ${c.sip_udp}, tcp ${c.sip_tcp}, ws ${c.sip_ws})`,
    `${c.non_sip} non-SIP`,
    `${malformed} malformed`,
  ];
  if (c.not_ip > 0) parts.push(`${c.not_ip} not IP`);
  if (filtered) parts.push(`${c.filter_matched} matched and ${c.filter_rejected} rejected by the filter`);
  if (c.trailing_bytes > 0) parts.push(`${c.trailing_bytes} trailing bytes`);
  if (c.link_unsupported > 0) parts.push(`${c.link_unsupported} unsupported link type`);
  if (c.fragments > 0) parts.push(`${c.fragments} fragments`);
  if (c.out_overflow > 0) parts.push(`${c.out_overflow} dropped (output full)`);
  if (c.tcp_evicted > 0) parts.push(`${c.tcp_evicted} TCP flows evicted (table full)`);
  if (c.tcp_gap > 0) parts.push(`${c.tcp_gap} TCP gaps resynced`);
  if (c.tcp_buffer_evicted > 0) parts.push(`${c.tcp_buffer_evicted} partial TCP messages evicted (stream buffers full)`);
  if (c.tcp_partial_idle > 0) parts.push(`${c.tcp_partial_idle} partial TCP messages given up (incomplete too long)`);
  if (c.tcp_clen_over + c.tcp_clen_unmet > 0) parts.push(`${c.tcp_clen_over + c.tcp_clen_unmet} TCP Content-Length claims not met (resynced)`);
  if (c.tcp_too_long > 0) parts.push(`${c.tcp_too_long} TCP messages too long to hold (skipped)`);
  if (c.core_traps > 0) parts.push(`${c.core_traps} packets skipped: the core trapped on them (see the warnings)`);
  if (c.media_evicted > 0) parts.push(`${c.media_evicted} media calls evicted (--media-calls or --media-endpoints full)`);
  if (c.media_ends_lost > 0) parts.push(`${c.media_ends_lost} media stats records lost (too many calls ended at once)`);
  if (c.time_clamped > 0) parts.push(`${c.time_clamped} capture times outside 1684-2255 (clamped)`);
  if (c.tcp_no_buffer > 0) parts.push(`${c.tcp_no_buffer} partial TCP messages dropped (no stream buffer free)`);
  if (c.defrag_end > 0) parts.push(`${c.defrag_end} fragmented datagrams incomplete at the end of the input (dropped)`);
  if (c.tcp_partial_end > 0) parts.push(`${c.tcp_partial_end} partial TCP messages at the end of the input (dropped)`);
  if (c.truncated > 0) parts.push(`${c.truncated} SIP messages cut by the snap length (emitted as far as captured)`);
  return `siphon: ${parts.join(", ")} in ${seconds.toFixed(2)} s`;
}
