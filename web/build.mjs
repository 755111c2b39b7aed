// Builds the page: src/page/main.ts bundled (esbuild) into one inline script, with the CSS
// and a Content-Security-Policy, into one self-contained HTML file (default:
// ../webpage/pbridge.html, which the Python package ships). Deterministic: the same sources
// and package-lock.json give the same bytes (tests/test_web_build.py rebuilds and compares).
//
//   node build.mjs [OUT]
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, "../webpage/pbridge.html"));

const bundled = await build({
  entryPoints: [resolve(here, "src/page/main.ts")],
  absWorkingDir: here,
  bundle: true,
  format: "iife",
  target: "es2022",
  platform: "browser",
  write: false,
  minify: true,
  legalComments: "eof", // the libraries' licences stay in the file
  charset: "utf8",
});
// "</script" inside the bundle would end the inline script early.
const script = bundled.outputFiles[0].text.replaceAll("</script", "<\\/script");
const style = readFileSync(resolve(here, "src/page/page.css"), "utf8");
const sha = (text) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;

// Nothing may leave the page: no connection, form, frame, worker or base of any kind.
// 'wasm-unsafe-eval': hash-wasm's Argon2id is WebAssembly compiled from bytes inside the script.
const csp = [
  "default-src 'none'",
  `script-src ${sha(script)} 'wasm-unsafe-eval'`,
  `style-src ${sha(style)}`,
  "img-src data:",
  "connect-src 'none'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-src 'none'",
  "worker-src 'none'",
  "manifest-src 'none'",
].join("; ");

const parts = { "%CSP%": csp, "%STYLE%": style, "%SCRIPT%": script };
const template = readFileSync(resolve(here, "src/page/template.html"), "utf8");
const html = template.replace(/%CSP%|%STYLE%|%SCRIPT%/g, (key) => parts[key]);
writeFileSync(out, html);
console.log(`${out}: ${html.length} bytes`);
