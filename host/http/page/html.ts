// The page's markup: static, no inline script or style (the Content-Security-Policy
// forbids both); app.js fills it from the API, every value as text.
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Siphon</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>Siphon</h1>
  <span id="live-status" class="badge">connecting</span>
  <span id="control-status" class="badge"></span>
</header>
<main>
  <section id="calls-section">
    <h2>Calls <span id="calls-count"></span></h2>
    <input id="calls-filter" type="search" placeholder="filter: any text of the row" autocomplete="off">
    <table id="calls">
      <thead><tr>
        <th data-key="state">State</th><th data-key="method">Method</th><th data-key="from">Caller</th><th data-key="to">Callee</th>
        <th data-key="start">Start</th><th data-key="duration">Duration</th><th data-key="pdd">PDD</th><th data-key="status">Final</th>
        <th data-key="rtp">RTP</th><th data-key="messages">Msgs</th>
      </tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="ladder-section" hidden>
    <h2>Ladder <span id="ladder-title"></span> <button id="ladder-close" type="button">close</button></h2>
    <div id="ladder"></div>
    <pre id="message-text"></pre>
    <h3>Events of the call</h3>
    <ul id="call-events"></ul>
    <h3>Recordings</h3>
    <ul id="call-recordings"></ul>
  </section>
  <section id="registrations-section">
    <h2>Registrations</h2>
    <table id="registrations"><thead><tr><th>Address of record</th><th>Contact</th><th>Expires</th><th>Since</th><th>Client</th><th>User-Agent</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="control-section">
    <h2>Control</h2>
    <p id="control-message"></p>
    <div id="control-form" hidden>
      <label>Token <input id="token" type="password" autocomplete="off"></label>
      <h3>Event types blocked</h3>
      <div id="blocklist"></div>
      <h3>Capture filter (BPF)</h3>
      <div id="bpf-box"><input id="bpf" type="text" size="60"> <button id="bpf-apply" type="button">replace</button></div>
      <h3>Recordings</h3>
      <div id="recording-box"><input id="record-address" type="text" placeholder="IP address">
        <button id="record-start" type="button">start</button> <button id="record-stop" type="button">stop</button></div>
      <ul id="recordings-active"></ul>
      <p id="control-result"></p>
    </div>
  </section>
  <section id="counters-section">
    <h2>Counters and drops</h2>
    <table id="counters"><tbody></tbody></table>
  </section>
  <section id="events-section">
    <h2>Events</h2>
    <ol id="events" reversed></ol>
  </section>
</main>
</body>
</html>
`;
