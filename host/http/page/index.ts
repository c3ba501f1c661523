// The web view's page: markup (html.ts), style (css.ts) and script (app.ts,
// bundled for the browser by build.mjs into SIPHON_PAGE_SCRIPT), all inside
// the one dist bundle: no file beside it, nothing fetched from elsewhere.
export { PAGE_HTML } from "./html";
export { PAGE_CSS } from "./css";

declare const SIPHON_PAGE_SCRIPT: string;
export const PAGE_SCRIPT: string = SIPHON_PAGE_SCRIPT;
