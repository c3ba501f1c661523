// Builds the core twice (SIMD and scalar, chosen at load time) and bundles
// the host with both inside into dist/siphon.mjs, runnable with plain node.
import asc from "assemblyscript/asc";
import * as esbuild from "esbuild";
import { chmodSync, readFileSync } from "node:fs";
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
