// The page's style sheet, served as /app.css.
export const PAGE_CSS = `
body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { display: flex; gap: 12px; align-items: center; padding: 8px 16px; background: #1d2330; color: #fff; }
h1 { font-size: 18px; margin: 0; }
h2 { font-size: 15px; margin: 0 0 8px; }
h3 { font-size: 13px; margin: 10px 0 4px; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; padding: 12px 16px; }
#calls-section, #ladder-section, #counters-section, #events-section { grid-column: 1 / -1; }
section { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: 10px 12px; overflow-x: auto; }
.badge { padding: 2px 8px; border-radius: 10px; background: #4a5365; font-size: 12px; }
.badge.live { background: #1f7a3d; }
.badge.down { background: #a12b2b; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eceef2; white-space: nowrap; max-width: 320px; overflow: hidden; text-overflow: ellipsis; }
th[data-key] { cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; }
th.sorted-desc::after { content: " \\25BC"; }
#calls tbody tr { cursor: pointer; }
#calls tbody tr:hover, #calls tbody tr.selected { background: #e8f0fe; }
.state-answered, .state-ok { color: #1f7a3d; }
.state-failed, .state-timeout, .state-auth-failed { color: #a12b2b; }
.state-ended, .state-cancelled, .state-challenged { color: #5b6275; }
#calls-filter { width: 320px; margin-bottom: 6px; }
#ladder svg { font: 12px monospace; }
#ladder .msg { cursor: pointer; }
#ladder .msg:hover text, #ladder .msg.selected text { fill: #1a56c4; font-weight: bold; }
#ladder .lane { stroke: #c3c8d2; stroke-dasharray: 4 3; }
#ladder .arrow { stroke: #1d2330; marker-end: url(#arrowhead); }
#ladder .request .arrow { stroke: #1a56c4; }
#ladder .response .arrow { stroke: #1f7a3d; }
#message-text { background: #f2f4f7; padding: 8px; white-space: pre-wrap; word-break: break-all; max-height: 400px; overflow: auto; }
#message-text:empty { display: none; }
#events { max-height: 320px; overflow: auto; font-family: monospace; font-size: 12px; }
#counters tbody { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); column-gap: 16px; }
#counters tr { display: flex; justify-content: space-between; }
#counters td { border: none; padding: 1px 4px; }
#counters td:last-child { font-family: monospace; }
#counters tr.zero { color: #9aa1ad; }
.error { color: #a12b2b; }
`;
