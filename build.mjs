// Builds the core twice (SIMD and scalar, chosen at load time) and bundles
// the host with both inside into dist/siphon.mjs, runnable with plain node.
import asc from "assemblyscript/asc";
import * as esbuild from "esbuild";
import { chmodSync, readFileSync } from "node:fs";
import { brotliCompressSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));

// The web view's script (host/http/page/app.ts), bundled for the browser and
// carried as a string inside the host bundle: served as /app.js, nothing beside it.
async function pageScript() {
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(new URL("./host/http/page/app.ts", import.meta.url))],
    bundle: true, write: false, format: "iife", platform: "browser", target: "es2020", minify: true, logLevel: "warning",
  });
  return result.outputFiles[0].text;
}

async function compileCore(target) {
  const { error, stderr } = await asc.main(["--config", "asconfig.json", "--target", target]);
  if (error) {
    process.stderr.write(stderr.toString());
    throw new Error(`build: the ${target} core did not compile`);
  }
}

const bundleOptions = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  loader: { ".wasm": "binary" },
  // The libpcap addon (a .node file) is found and loaded at run time by host/source/libpcap/addon.ts,
  // so everything else, node-gyp-build included, is in the one file.
  // Bundled CommonJS dependencies call require() for Node's built-ins.
  banner: { js: "import { createRequire as __siphonRequire } from 'node:module';\nconst require = __siphonRequire(import.meta.url);" },
  define: { SIPHON_VERSION: JSON.stringify(version), SIPHON_PAGE_SCRIPT: JSON.stringify(await pageScript()) },
  logLevel: "warning",
};

// The heavy libraries host/lazy.ts loads on first use (MQTT.js, pg, prom-client: about two
// thirds of the bundle). Start-up parses every function of the bundle, called or not, which
// for these cost about 20 ms of a run that never uses them; so they are bundled apart, kept in
// the bundle as one string, and compiled from it when lazy.ts first asks for one of them.
const DEFERRED_LIBRARIES = ["mqtt", "pg", "prom-client"];

async function deferredLibrariesSource() {
  const entry = `module.exports = {${DEFERRED_LIBRARIES.map((name) => `${JSON.stringify(name)}: () => require(${JSON.stringify(name)})`).join(", ")}};`;
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: ".", sourcefile: "siphon-libraries.js" },
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minifyWhitespace: true,
    minifySyntax: true,
    write: false,
    logLevel: "warning",
  });
  return result.outputFiles[0].text;
}

// Resolves lazy.ts's require("mqtt") (and the others) to a stub that compiles the string above.
// The string is kept compressed (brotli, base64): start-up scans every byte of a string literal,
// and 750 KB of source cost about 3 ms of every run; 200 KB of base64 cost a quarter of that,
// and the 2 ms of decompression fall on the first run that uses one of the libraries.
function deferLibraries(source) {
  const names = new RegExp(`^(${DEFERRED_LIBRARIES.join("|")})$`);
  return {
    name: "defer-libraries",
    setup(b) {
      b.onResolve({ filter: names }, (args) => (args.importer.endsWith("lazy.ts") ? { path: args.path, namespace: "deferred" } : undefined));
      b.onResolve({ filter: /^siphon-libraries$/ }, () => ({ path: "siphon-libraries", namespace: "deferred" }));
      b.onLoad({ filter: /.*/, namespace: "deferred" }, (args) => ({
        loader: "js",
        contents: args.path === "siphon-libraries"
          ? `let loaded; const packed = ${JSON.stringify(brotliCompressSync(`${source}\n//# sourceURL=siphon-libraries.js`).toString("base64"))};
module.exports = (name) => {
  if (!loaded) {
    const source = require("node:zlib").brotliDecompressSync(Buffer.from(packed, "base64")).toString();
    const m = { exports: {} };
    new Function("require", "module", "exports", source)(require, m, m.exports);
    loaded = m.exports;
  }
  return loaded[name]();
};`
          : `module.exports = require("siphon-libraries")(${JSON.stringify(args.path)});`,
      }));
    },
  };
}

export async function build() {
  await compileCore("simd");
  await compileCore("scalar");
  await esbuild.build({
    ...bundleOptions,
    entryPoints: ["host/cli/main.ts"],
    outfile: "dist/siphon.mjs",
    // Start-up parses the whole bundle; without white space and with simpler
    // syntax it parses faster. Names stay, so a stack trace still reads.
    minifyWhitespace: true,
    minifySyntax: true,
    banner: { js: "#!/usr/bin/env node\n" + bundleOptions.banner.js },
    plugins: [deferLibraries(await deferredLibrariesSource())],
  });
  chmodSync("dist/siphon.mjs", 0o755);
}

export { bundleOptions };

if (import.meta.url === `file://${process.argv[1]}`) {
  build().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
