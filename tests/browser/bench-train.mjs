// Training throughput of the shipped micro model in the studio, next to the native trainer
// (issue 5):
//
//   node tests/browser/bench-train.mjs [--ajuste target/release/ajuste] [--dist DIR] [--steps 6]
//        [--batch 4] [--max-length 128] [--native-devices cpu,wgpu] [--browser-backends cpu,webgpu]
//        [--out target/bench/train.json]
//
// Usually run through `tests/browser/bench.sh --train`, which builds both sides first. Not a
// test: it prints figures and asserts nothing about them.
//
// Every side trains the same thing: LoRA SFT of static/models/micro on the pirate persona
// (static/samples/pirate-train.jsonl), with the Train page's defaults but for --steps, --batch
// and --max-length. In the browser (headless Chromium, the studio served from --dist) the run
// is started from the Train page on each backend: "cpu" is burn's flex backend in the training
// worker's wasm (one thread), "webgpu" is whatever adapter Chromium offers (SwiftShader, on the
// CPU, on a machine without a GPU). Natively, the page's own command line (`ajuste train`) runs
// on the bundle the Export page downloads, with `--device` set to each of --native-devices
// (cpu: flex on every core; wgpu: Vulkan, lavapipe on a machine without a GPU; cuda).
//
// tokens/s is the mean of each run's per-step `tokens_per_s` (events.jsonl) after its first
// step, which also compiles shaders and warms caches; the wall time of the whole run is printed
// beside it.

import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { ROOT, closeStudio, launchBrowser, openStudio, serveDir } from "./harness.mjs";
import {
  MICRO,
  PIRATE,
  download,
  downloadBundle,
  loadData,
  openTrain,
  readEvents,
  runNative,
  runToEnd,
  setNumber,
} from "./train-page.mjs";

const { values: args } = parseArgs({
  options: {
    ajuste: { type: "string", default: join(ROOT, "target", "release", "ajuste") },
    dist: { type: "string", default: process.env.AJUSTE_DIST ?? "/tmp/ajuste-bench-dist" },
    steps: { type: "string", default: "6" },
    batch: { type: "string", default: "4" },
    "max-length": { type: "string", default: "128" },
    "native-devices": { type: "string", default: "cpu,wgpu" },
    "browser-backends": { type: "string", default: "cpu,webgpu" },
    out: { type: "string", default: join(ROOT, "target", "bench", "train.json") },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  const lines = readFileSync(new URL(import.meta.url), "utf8").split("\n");
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith("//"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}
const AJUSTE = resolve(args.ajuste);
const STEPS = Number(args.steps);
const BATCH = Number(args.batch);
const MAX_LENGTH = Number(args["max-length"]);
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
if (!(STEPS >= 2)) {
  console.error("bench-train: --steps must be at least 2 (the first step is left out of tokens/s)");
  process.exit(2);
}
const log = (...xs) => console.error("bench-train:", ...xs);

/** Mean tokens/s of the steps after the first, and the tokens of a step. */
function throughput(events) {
  const steps = events.filter((e) => e.event === "step");
  const timed = steps.slice(1);
  const mean = timed.reduce((a, e) => a + e.tokens_per_s, 0) / timed.length;
  const tokens = timed.reduce((a, e) => a + e.tokens, 0) / timed.length;
  return { tokens_per_s: mean, tokens_per_step: tokens, steps: steps.length, losses: steps.map((e) => e.loss) };
}

const work = mkdtempSync(join(tmpdir(), "ajuste-bench-train-"));
const server = await serveDir(resolve(args.dist));
const browser = await launchBrowser();
const rows = [];
let command;
let bundle;
try {
  for (const backend of list(args["browser-backends"])) {
    const page = await openStudio(browser, server.url);
    try {
      await loadData(page, PIRATE);
      await openTrain(page);
      // "WebGPU works here: google swiftshader …." (or why it does not).
      const webgpu = (await page.locator('[data-testid="webgpu-ok"], [data-testid="webgpu-missing"]').first().innerText()).trim();
      await page.getByTestId("model-check").waitFor();
      await page.getByTestId(`backend-${backend}`).check();
      await setNumber(page, "train-steps", STEPS);
      await setNumber(page, "train-batch", BATCH);
      await setNumber(page, "train-max-length", MAX_LENGTH);
      log(`browser ${backend}: ${STEPS} steps`);
      const seconds = await runToEnd(page, 1_800_000);
      const dir = join(work, `browser-${backend}`);
      // The adapter's zip is made first; then its files can be saved one by one.
      await download(page, page.getByTestId("adapter-download"), dir);
      const events = readEvents(await download(page, page.getByTestId("adapter-events"), dir, "events.jsonl"));
      rows.push({ side: "browser", backend, seconds, device: backend === "webgpu" ? webgpu : "flex in wasm, one thread", ...throughput(events) });
      if (!command) {
        command = (await page.getByTestId("train-native-command").innerText()).trim();
        bundle = await downloadBundle(page, join(work, "bundle"));
      }
    } finally {
      await closeStudio(page);
    }
  }
} finally {
  await browser.close();
  await server.close();
}

try {
  if (!command) throw new Error("no browser run: pass at least one of --browser-backends");
  for (const device of list(args["native-devices"])) {
    log(`native ${device}: ${STEPS} steps`);
    const runDir = join(work, `native-${device}`);
    const started = Date.now();
    try {
      const events = runNative(AJUSTE, command, { bundle, model: MICRO, runDir, device });
      rows.push({ side: "native", backend: device, seconds: (Date.now() - started) / 1000, device: device === "cpu" ? `flex, ${cpus().length} threads` : device, ...throughput(events) });
    } catch (error) {
      const why = String(error.stderr ?? error.message).trim().split("\n").at(-1);
      rows.push({ side: "native", backend: device, error: why });
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? "?"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadavg()[0].toFixed(1)}`;
console.log(`LoRA SFT of the micro model (static/models/micro) on the pirate sample, batch ${BATCH}, max length ${MAX_LENGTH}, ${STEPS} steps`);
console.log(`machine: ${machine}; ${new Date().toISOString().slice(0, 10)}`);
console.log(`${"side".padEnd(8)} ${"backend".padEnd(8)} ${"tokens/s".padStart(10)} ${"wall s".padStart(8)}  device`);
for (const r of rows) {
  const rate = r.error ? "-" : r.tokens_per_s.toFixed(0);
  const wall = r.error ? "-" : r.seconds.toFixed(1);
  console.log(`${r.side.padEnd(8)} ${r.backend.padEnd(8)} ${rate.padStart(10)} ${wall.padStart(8)}  ${r.error ? `not run: ${r.error}` : r.device}`);
}
mkdirSync(dirname(resolve(args.out)), { recursive: true });
writeFileSync(resolve(args.out), JSON.stringify({ date: new Date().toISOString(), machine, steps: STEPS, batch: BATCH, max_length: MAX_LENGTH, command, rows }, null, 2) + "\n");
log(`wrote ${resolve(args.out)}`);
