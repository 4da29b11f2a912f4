// Test harness for the studio: a static file server for dist/, Debian's Chromium launched through
// playwright-core with the flags known to work on these machines, and screenshot helpers.
// No other dependencies: node's own http, fs and test modules do the rest.

import { execFileSync } from "node:child_process";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
} from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const DIST = resolve(process.env.AJUSTE_DIST ?? join(ROOT, "dist"));
export const ARTIFACTS = resolve(
  process.env.AJUSTE_ARTIFACTS ?? join(ROOT, "target", "browser-artifacts"),
);

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  // WebAssembly.instantiateStreaming refuses anything but application/wasm.
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".jsonl": "application/x-ndjson; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
};

/**
 * Serves the built studio (`root`, dist/ by default) on 127.0.0.1 at a free port. Resolves to
 * `{ url, requests, close }` (see `serveFiles`).
 */
export async function serveDir(root = DIST) {
  if (!existsSync(join(root, "index.html"))) {
    throw new Error(`${root}/index.html is missing: build the studio first (tests/browser/run.sh)`);
  }
  if (readFileSync(join(root, "index.html"), "utf8").includes("/.well-known/trunk/ws")) {
    // `trunk serve` adds a live-reload script that needs its own server; under this one it
    // fails and every test would report that instead of what it checks.
    throw new Error(`${root} was written by \`trunk serve\`: rebuild it with \`trunk build\` (run.sh without --no-build)`);
  }
  return serveFiles(root);
}

/**
 * Serves the files under `root` on 127.0.0.1 at a free port, with their sizes (so HEAD says how
 * large a file is). `cors`: let pages of other sites read them, as huggingface.co does.
 * Resolves to `{ url, requests, close }`; `requests` lists every `METHOD path` asked for, so
 * tests can tell which files the app fetched.
 */
export async function serveFiles(root, { cors = false } = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400, { "content-type": "text/plain" }).end("bad request path");
      return;
    }
    requests.push(req.method === "GET" ? path : `${req.method} ${path}`);
    const headers = cors ? { "access-control-allow-origin": "*" } : {};
    const file = normalize(join(root, path === "/" ? "index.html" : path));
    // Refuse anything that resolves outside the served folder.
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { ...headers, "content-type": "text/plain" }).end(`not found: ${path}`);
      return;
    }
    res.writeHead(200, {
      ...headers,
      "content-type": MIME[extname(file)] ?? "application/octet-stream",
      "content-length": statSync(file).size,
      "cache-control": "no-store",
    });
    // Node sends no body for HEAD.
    createReadStream(file).pipe(res);
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** The Chromium to drive: $CHROMIUM, else whatever `chromium` is on the PATH. */
export function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("chromium is not installed: run scripts/setup.sh --browser");
  }
}

// Flags that work in containers without a GPU (see the handout's stack notes). Headless mode is
// passed as a flag rather than through `headless: true` so that it is exactly `--headless=new`.
const CHROMIUM_FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * Launches Chromium. Resolves to the browser; every `openStudio` gets a fresh incognito
 * context of it, so the studio's saved session (OPFS) never leaks from one test to the next.
 */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: false,
    args: CHROMIUM_FLAGS,
    timeout: 60_000,
  });
}

/**
 * Opens the studio at `url` in a new page of a new context and waits until the app has rendered. Every console
 * error and uncaught exception is collected in `page.problems`, for tests to assert it is empty.
 */
export async function openStudio(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") page.problems.push(`console: ${msg.text()}`);
  });
  page.on("pageerror", (err) => page.problems.push(`exception: ${err.message}`));
  await page.goto(url);
  await page.getByRole("navigation", { name: "Steps" }).waitFor();
  return page;
}

/** Closes a page opened by `openStudio`, with its context (and the context's storage). */
export async function closeStudio(page) {
  await page.context().close();
}

/**
 * Saves a full-page screenshot as `<ARTIFACTS>/<name>.png` and returns its path. The page is
 * scrolled to the top first: a full-page capture draws sticky panels where the scrolled
 * viewport has them, which looks like a broken layout.
 */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage: true });
  return path;
}
