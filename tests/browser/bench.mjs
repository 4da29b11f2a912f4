// Benchmark of the studio on a big file, next to the native CLI on the same file (issue 4).
//
//   node tests/browser/bench.mjs --file F.jsonl [--ajuste target/release/ajuste] [--dist DIR]
//        [--runs 3] [--browser-runs 3] [--records N] [--out target/bench/studio.json]
//
// Usually run through tests/browser/bench.sh, which builds both sides and writes the file first.
// Not a test: it prints figures and asserts nothing about them. With --records N (and --seed, by
// default 2026), FILE is taken to be `ajuste bench data --records N --seed S --write FILE`, and the
// stages are also timed inside the native process by `ajuste bench data` on the same records.
// --no-browser / --no-native run one side only. AJUSTE_BENCH_STEP_TIMEOUT_S bounds each browser
// step (default 900).
//
// Browser side (headless Chromium, the release studio served from --dist): the file goes through
// the Load page's file input, then the Deduplicate page previews exact and exact+near dedup, then
// "no deduplication" is applied (so that the Template page renders every record, as the CLI does)
// and the Template page renders them all with ChatML. The times are the worker's own (`timings`
// of the session, `ms` of the dedup view and of the template's overall view), read from the
// worker's messages by a probe installed before the page loads; wall times are measured on the
// test side as well.
//
// Native side: `ajuste data validate`, `data dedup`, `data dedup --near` and
// `data render --template chatml` on the same file, wall time of the process (median of --runs).
// Each command reads the file and parses+validates it before its own stage, so the browser's
// figure it is compared with is the same sum: parse+validate plus the stage.

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { closeStudio, launchBrowser, openStudio, ROOT, serveDir } from "./harness.mjs";

const { values: args } = parseArgs({
  options: {
    file: { type: "string" },
    ajuste: { type: "string", default: join(ROOT, "target", "release", "ajuste") },
    dist: { type: "string", default: process.env.AJUSTE_DIST ?? "/tmp/ajuste-bench-dist" },
    runs: { type: "string", default: "3" },
    "browser-runs": { type: "string", default: "3" },
    records: { type: "string" },
    seed: { type: "string", default: "2026" },
    out: { type: "string", default: join(ROOT, "target", "bench", "studio.json") },
    "no-browser": { type: "boolean", default: false },
    "no-native": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help || !args.file) {
  const lines = readFileSync(new URL(import.meta.url), "utf8").split("\n");
  const header = lines.slice(0, lines.findIndex((l) => !l.startsWith("//")));
  console.log(header.map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(args.help ? 0 : 2);
}
const FILE = resolve(args.file);
const AJUSTE = resolve(args.ajuste);
const RUNS = Number(args.runs);
const BROWSER_RUNS = Number(args["browser-runs"]);
// Time for one browser step: parsing 100k records in wasm on a busy 2-core machine is slow.
const STEP_TIMEOUT = Number(process.env.AJUSTE_BENCH_STEP_TIMEOUT_S ?? 900) * 1000;

const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const count = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
const log = (...xs) => console.error("bench:", ...xs);

// Installed before the studio's scripts run: wraps `Worker` so that every message to and from
// the studio worker is logged with the page's clock (the app itself is not changed).
// Responses are JSON text: `{"Session":{...}}`, `{"Dedup":{...}}`, or `"NoSession"`.
const PROBE = () => {
  const Native = self.Worker;
  const bench = (window.__ajusteBench = { log: [], longTasks: [], frames: [] });
  // Whether the page stays responsive while the worker works: the main thread's long tasks
  // (over 50 ms), and the time between animation frames.
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) bench.longTasks.push({ at: e.startTime, ms: e.duration });
  }).observe({ type: "longtask", buffered: true });
  const frame = (at) => {
    bench.frames.push(at);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  const kind = (body) => {
    if (typeof body !== "string") return null;
    const m = /^\{?"(\w+)"/.exec(body);
    return m ? m[1] : null;
  };
  window.Worker = class extends Native {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (e) => {
        const body = e.data && e.data.body;
        const k = kind(body) ?? (e.data && e.data.fatal ? "Fatal" : null);
        if (k) bench.log.push({ at: performance.now(), dir: "in", id: e.data.id, kind: k, body });
      });
    }
    postMessage(message, ...rest) {
      const body = message && message.body;
      const k = kind(body);
      if (k) bench.log.push({ at: performance.now(), dir: "out", id: message.id, kind: k, body });
      return super.postMessage(message, ...rest);
    }
  };
};

/** Reads the probe's log as it grows; `until` waits for the next answer that passes a test. */
class Probe {
  constructor(page) {
    this.page = page;
    this.cursor = 0;
    this.entries = [];
    // The first entry `until` has not looked at yet.
    this.next = 0;
  }

  async pull() {
    const fresh = await this.page.evaluate((from) => window.__ajusteBench.log.slice(from), this.cursor);
    this.cursor += fresh.length;
    for (const e of fresh) {
      e.data = JSON.parse(e.body);
      delete e.body;
      this.entries.push(e);
    }
    return fresh;
  }

  /** The next answer of `kind` (from the worker) for which `test(payload)` holds; the answers
   * before it are passed over for good. */
  async until(kind, test = () => true, timeout = STEP_TIMEOUT) {
    const deadline = now() + timeout;
    for (;;) {
      await this.pull();
      while (this.next < this.entries.length) {
        const e = this.entries[this.next++];
        if (e.dir !== "in") continue;
        if (["Failed", "OpenFailed", "Fatal"].includes(e.kind)) {
          throw new Error(`the studio worker answered ${JSON.stringify(e.data).slice(0, 500)}`);
        }
        if (e.kind === kind && test(e.data[kind], e)) return { entry: e, value: e.data[kind], sent: this.request(e.id) };
      }
      if (now() > deadline) {
        const last = this.entries.slice(-8).map((e) => `${e.dir} #${e.id} ${JSON.stringify(e.data).slice(0, 160)}`);
        throw new Error(`no ${kind} answer within ${timeout / 1000} s; the last messages:\n  ${last.join("\n  ")}`);
      }
      await new Promise((ok) => setTimeout(ok, 100));
    }
  }

  /** The request with this id (what the page sent). */
  request(id) {
    return this.entries.find((e) => e.dir === "out" && e.id === id);
  }
}

/** Waits until the worker has written the session to OPFS (it does after answering an open). */
async function waitSaved(page, timeout = STEP_TIMEOUT) {
  const deadline = now() + timeout;
  for (;;) {
    const saved = await page.evaluate(async () => {
      try {
        const root = await navigator.storage.getDirectory();
        const dir = await root.getDirectoryHandle("ajuste-studio");
        await dir.getFileHandle("session.json");
        return true;
      } catch {
        return false;
      }
    });
    if (saved) return;
    if (now() > deadline) throw new Error("the session was not saved to OPFS in time");
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** The page's main thread between `from` and `to` (performance.now times): its longest task,
 *  how many tasks took over 50 ms, and the longest time between two animation frames. */
async function responsiveness(page, from, to) {
  const { longTasks, frames } = await page.evaluate(() => ({
    longTasks: window.__ajusteBench.longTasks,
    frames: window.__ajusteBench.frames,
  }));
  const tasks = longTasks.filter((t) => t.at + t.ms >= from && t.at <= to);
  const inside = frames.filter((f) => f >= from && f <= to);
  let gap = 0;
  for (let i = 1; i < inside.length; i++) gap = Math.max(gap, inside[i] - inside[i - 1]);
  return {
    ms: Math.round(to - from),
    long_tasks: tasks.length,
    longest_task_ms: Math.round(Math.max(0, ...tasks.map((t) => t.ms))),
    frames: inside.length,
    longest_frame_gap_ms: Math.round(gap),
  };
}

async function browserSide() {
  const server = await serveDir(resolve(args.dist));
  const browser = await launchBrowser();
  const out = { chromium: browser.version(), steps: {} };
  try {
    const page = await openStudio(browser, server.url);
    page.context().setDefaultTimeout(STEP_TIMEOUT);
    await page.addInitScript(PROBE);
    await page.reload();
    await page.getByRole("navigation", { name: "Steps" }).waitFor();
    const probe = new Probe(page);
    await probe.until("NoSession");
    const nav = (path) => page.locator(`nav a.nav-link[href="#/${path}"]`);

    // 1. Load: the file input, as a user picking the file.
    log("browser: loading", FILE);
    let t = now();
    await page.locator("#file-input").setInputFiles(FILE);
    const open = await probe.until("Session");
    await page.getByTestId("dataset-card").waitFor();
    const loadWall = now() - t;
    const reads = probe.entries.filter((e) => e.dir === "in" && e.kind === "Progress" && e.data.Progress.task.startsWith("Reading"));
    const readDone = reads.find((e) => e.data.Progress.done === e.data.Progress.total && e.data.Progress.total > 0);
    // The worker answers an open once it has kept the source in OPFS ("Keeping the file" progress).
    const keep = probe.entries.find((e) => e.dir === "in" && e.kind === "Progress" && e.id === open.entry.id && e.data.Progress.task.startsWith("Keeping"));
    const timing = (stage) => open.value.timings.find((x) => x.stage === stage)?.ms ?? null;
    // Older studios saved after answering: let that finish so the next step does not queue behind it.
    await waitSaved(page);
    out.steps.load = {
      records: open.value.load.records,
      valid: open.value.load.valid,
      worker_ms: {
        parse_validate: timing("parse and validate"),
        clean: timing("clean"),
        exact_dedup: timing("dedup"),
      },
      timings: open.value.timings,
      read_file_ms: readDone && open.sent ? readDone.at - open.sent.at : null,
      request_to_answer_ms: open.entry.at - open.sent.at,
      save_source_ms: keep ? open.entry.at - keep.at : null,
      wall_ms: loadWall,
    };
    out.steps.load.main_thread = await responsiveness(page, open.sent.at, open.entry.at);
    out.steps.load.progress_messages = probe.entries.filter((e) => e.dir === "in" && e.kind === "Progress" && e.id === open.entry.id).length;
    log("browser: load", JSON.stringify(out.steps.load.worker_ms), `wall ${loadWall.toFixed(0)} ms`);
    log("browser: while loading,", JSON.stringify(out.steps.load.main_thread), `${out.steps.load.progress_messages} progress messages`);

    // 2. Deduplicate: the page previews the session's dedup (exact) when it opens...
    t = now();
    await nav("dedup").click();
    const exact = await probe.until("Dedup", (v) => !v.config.near && v.generation === open.value.generation);
    await page.getByTestId("dedup-counts").filter({ hasText: `${count(exact.value.exact)} exact` }).waitFor();
    out.steps.exact_dedup = dedupStep(probe, exact, now() - t);
    log("browser: exact dedup", JSON.stringify(out.steps.exact_dedup));

    // ... and again with near duplicates when the box is ticked.
    t = now();
    await page.locator("#dedup-near").check();
    const near = await probe.until("Dedup", (v) => v.config.near);
    await page.getByTestId("dedup-counts").filter({ hasText: `${count(near.value.near)} near` }).waitFor();
    out.steps.near_dedup = dedupStep(probe, near, now() - t);
    log("browser: exact+near dedup", JSON.stringify(out.steps.near_dedup));

    // 3. No deduplication, so that the template renders every record (as `data render` does).
    await page.locator("#dedup-near").uncheck();
    await probe.until("Dedup", (v) => !v.config.near);
    await page.locator('input[name="dedup-on"][value="off"]').check();
    await page.getByTestId("apply-dedup").click();
    const undeduped = await probe.until("Session", (v) => v.dedup === null);
    // A change answers once it is saved in OPFS: what a small change costs on a big file.
    out.steps.change = {
      worker_ms: undeduped.value.timings.reduce((a, t) => a + t.ms, 0),
      request_to_answer_ms: undeduped.entry.at - undeduped.sent.at,
    };
    // The page previews again for the new generation; let that finish before timing the next.
    await probe.until("Dedup", (v) => v.generation === undeduped.value.generation);

    // 4. Template: the page renders every prepared record with the session's template (ChatML).
    t = now();
    await nav("template").click();
    const tpl = await probe.until("Template", (v) => v.generation === undeduped.value.generation);
    await page.getByTestId("template-overall").waitFor();
    out.steps.render = {
      template: undeduped.value.template.name,
      records: tpl.value.overall.records,
      worker_ms: tpl.value.overall.ms,
      request_to_answer_ms: tpl.entry.at - tpl.sent.at,
      wall_ms: now() - t,
    };
    log("browser: render", JSON.stringify(out.steps.render));

    out.problems = page.problems;
    await closeStudio(page);
  } finally {
    await browser.close();
    await server.close();
  }
  return out;
}

function dedupStep(probe, { entry, value, sent }, wall) {
  const leakage = probe.entries.find((e) => e.dir === "in" && e.id === entry.id && e.kind === "Progress" && e.data.Progress.task.includes("leakage"));
  return {
    records: value.records,
    exact: value.exact,
    near: value.near,
    clusters: value.clusters,
    worker_ms: value.ms,
    // Besides dedup itself, a preview checks train/eval leakage and swapped preference pairs.
    request_to_answer_ms: entry.at - sent.at,
    // From the worker's "Checking train/eval leakage" progress to its answer.
    leakage_and_rest_ms: leakage ? entry.at - leakage.at : null,
    wall_ms: wall,
  };
}

/** The median of every number in `objects` (objects of the same shape), leaf by leaf. */
function medians(objects) {
  const [first] = objects;
  if (typeof first === "number") return median(objects);
  if (first === null || typeof first !== "object" || Array.isArray(first)) return first;
  return Object.fromEntries(Object.keys(first).map((k) => [k, medians(objects.map((o) => o[k]))]));
}

/** Runs `ajuste ARGS` `RUNS` times; wall times (ms) of each run and their median. */
function native(name, argv, { okCodes = [0] } = {}) {
  const runs = [];
  let stdout = "";
  for (let i = 0; i < RUNS; i++) {
    const t = now();
    const r = spawnSync(AJUSTE, argv, { stdio: ["ignore", name === "render" ? "ignore" : "pipe", "pipe"], maxBuffer: 1 << 26 });
    const ms = now() - t;
    if (r.error) throw r.error;
    if (!okCodes.includes(r.status)) {
      throw new Error(`ajuste ${argv.join(" ")} exited with ${r.status}: ${r.stderr}`);
    }
    runs.push(ms);
    // The CLI reports on stderr (stdout carries data, as for render).
    stdout = `${r.stdout ?? ""}\n${r.stderr ?? ""}`;
  }
  const summary = stdout.trim().split("\n").filter((l) => l.trim()).pop() ?? "";
  log(`native ${name}: ${runs.map((x) => x.toFixed(0)).join(", ")} ms; ${summary}`);
  return { command: `ajuste ${argv.join(" ")}`, runs_ms: runs, median_ms: median(runs), summary };
}

/** `ajuste bench data` on the same generator and seed: the stages timed inside the process. */
function inProcess() {
  if (!args.records) return null;
  const lines = { parse_validate: "ajuste parse+validate", exact_dedup: "ajuste exact dedup", near_dedup: "ajuste exact+near dedup" };
  const runs = Object.fromEntries(Object.keys(lines).map((k) => [k, []]));
  // A Python that cannot import datasketch: `bench data` then skips its datasketch comparison.
  const argv = ["bench", "data", "--records", args.records, "--seed", args.seed, "--python", "/bin/false"];
  for (let i = 0; i < RUNS; i++) {
    const r = spawnSync(AJUSTE, argv, { encoding: "utf8", maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`ajuste ${argv.join(" ")} failed: ${r.stderr}`);
    for (const [k, label] of Object.entries(lines)) {
      const line = r.stdout.split("\n").find((l) => l.startsWith(label + " "));
      const m = line && /\(\s*([\d.]+) s\)/.exec(line);
      if (!m) throw new Error(`no '${label}' line in: ${r.stdout}`);
      runs[k].push(Number(m[1]) * 1000);
    }
  }
  const out = { command: `ajuste ${argv.join(" ")}` };
  for (const [k, xs] of Object.entries(runs)) out[k] = { runs_ms: xs, median_ms: median(xs) };
  log("native in-process:", JSON.stringify(out));
  return out;
}

function nativeSide() {
  const tmp = mkdtempSync(join(tmpdir(), "ajuste-bench-"));
  try {
    const out = {
      validate: native("validate", ["data", "validate", FILE]),
      exact_dedup: native("dedup", ["data", "dedup", FILE, "-o", join(tmp, "exact.jsonl")]),
      near_dedup: native("dedup --near", ["data", "dedup", "--near", FILE, "-o", join(tmp, "near.jsonl")]),
      render: native("render", ["data", "render", "--template", "chatml", FILE]),
    };
    out.in_process = inProcess();
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function git(...argv) {
  const r = spawnSync("git", ["-C", ROOT, ...argv], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

// --- run ---
const started = new Date();
const load0 = loadavg();
const result = {
  date: started.toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? "?", memory_gb: Math.round(totalmem() / 2 ** 30), loadavg_start: load0 },
  commit: git("rev-parse", "--short", "HEAD"),
  dirty_paths: git("status", "--porcelain")?.split("\n").filter(Boolean).length ?? null,
  file: { path: FILE, bytes: statSync(FILE).size },
  dist: resolve(args.dist),
  ajuste: AJUSTE,
  native_runs: RUNS,
  browser_runs: BROWSER_RUNS,
};
if (!args["no-browser"]) {
  // Each run in a fresh browser; the figures kept are the medians over the runs, leaf by leaf.
  const runs = [];
  for (let i = 0; i < BROWSER_RUNS; i++) {
    log(`browser run ${i + 1} of ${BROWSER_RUNS}`);
    runs.push(await browserSide());
  }
  result.browser = {
    chromium: runs[0].chromium,
    runs: runs.length,
    steps: medians(runs.map((r) => r.steps)),
    problems: runs.flatMap((r) => r.problems),
    each: runs.map((r) => r.steps),
  };
}
// The browser is closed by now: the native runs have the machine to themselves (as far as the
// other users of it allow).
if (!args["no-native"]) result.native = nativeSide();
result.machine.loadavg_end = loadavg();

// --- the table ---
const rows = [];
const b = result.browser?.steps;
const n = result.native;
if (b || n) {
  const parse = b?.load.worker_ms.parse_validate;
  const sum = (...xs) => (xs.every((x) => typeof x === "number") ? xs.reduce((a, c) => a + c, 0) : null);
  rows.push(
    { stage: "parse+validate", browser_ms: parse, native_ms: n?.validate.median_ms, native: "data validate" },
    { stage: "parse+validate + exact dedup", browser_ms: sum(parse, b?.load.worker_ms.exact_dedup), native_ms: n?.exact_dedup.median_ms, native: "data dedup" },
    { stage: "parse+validate + exact+near dedup", browser_ms: sum(parse, b?.near_dedup.worker_ms), native_ms: n?.near_dedup.median_ms, native: "data dedup --near" },
    { stage: "parse+validate + render chatml", browser_ms: sum(parse, b?.render.worker_ms), native_ms: n?.render.median_ms, native: "data render --template chatml" },
  );
  const ip = n?.in_process;
  if (ip) {
    rows.push(
      { stage: "parse+validate (stage only)", browser_ms: parse, native_ms: ip.parse_validate.median_ms, native: "bench data, in process" },
      { stage: "exact dedup (stage only)", browser_ms: b?.load.worker_ms.exact_dedup, native_ms: ip.exact_dedup.median_ms, native: "bench data, in process" },
      { stage: "exact+near dedup (stage only)", browser_ms: b?.near_dedup.worker_ms, native_ms: ip.near_dedup.median_ms, native: "bench data, in process" },
    );
  }
  for (const r of rows) r.ratio = r.browser_ms != null && r.native_ms ? r.browser_ms / r.native_ms : null;
}
result.table = rows;
if (b) {
  // Exact dedup as the load runs it (the session's default recipe dedups exactly); the
  // Deduplicate page's preview runs it again, usually faster (the worker's memory is grown by then).
  const total = b.load.worker_ms.parse_validate + b.load.worker_ms.exact_dedup;
  result.goal_5s = {
    parse_validate_exact_dedup_ms: total,
    with_preview_dedup_ms: b.load.worker_ms.parse_validate + b.exact_dedup.worker_ms,
    under_5s: total < 5000,
  };
}
result.goal_2x = rows.filter((r) => r.ratio != null).map((r) => ({ stage: r.stage, ratio: r.ratio, within_2x: r.ratio <= 2 }));

mkdirSync(dirname(resolve(args.out)), { recursive: true });
writeFileSync(resolve(args.out), JSON.stringify(result, null, 2) + "\n");

const fmt = (x) => (x == null ? "-" : x.toFixed(0));
const records = b?.load.records ?? args.records ?? "?";
console.log(`\najuste studio vs native CLI: ${count(records)} records, ${(result.file.bytes / 1e6).toFixed(1)} MB (${FILE})`);
console.log(`machine: ${result.machine.cpus} cores (${result.machine.cpu}), load average ${load0.map((x) => x.toFixed(1)).join(" ")} at start, ${result.machine.loadavg_end.map((x) => x.toFixed(1)).join(" ")} at end; ${result.browser?.chromium ? `Chromium ${result.browser.chromium}` : "no browser run"}`);
console.log(`browser: ms measured by the studio worker, median of ${BROWSER_RUNS} run(s); native: wall ms of the process, median of ${RUNS} (stage only: timed inside \`ajuste bench data\`, median of ${RUNS})\n`);
const header = ["stage", "browser ms", "native ms", "ratio", "native side"];
const lines = rows.map((r) => [r.stage, fmt(r.browser_ms), fmt(r.native_ms), r.ratio == null ? "-" : `${r.ratio.toFixed(2)}x`, r.native]);
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
const row = (cells) => "| " + cells.map((c, i) => (i > 0 && i < 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ") + " |";
console.log(row(header));
console.log("|" + widths.map((w, i) => (i > 0 && i < 4 ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|") + "|");
for (const l of lines) console.log(row(l));
if (b) {
  console.log(`\nbrowser wall (test side): load ${fmt(b.load.wall_ms)} ms (file read into the worker ${fmt(b.load.read_file_ms)} ms; then parse+validate, clean ${fmt(b.load.worker_ms.clean)} ms, exact dedup ${fmt(b.load.worker_ms.exact_dedup)} ms, source saved to OPFS ${fmt(b.load.save_source_ms)} ms); a change (Apply: no deduplication) ${fmt(b.change.request_to_answer_ms)} ms (its stages ${fmt(b.change.worker_ms)} ms); exact dedup preview ${fmt(b.exact_dedup.wall_ms)} ms (dedup ${fmt(b.exact_dedup.worker_ms)} ms of it); near dedup preview ${fmt(b.near_dedup.wall_ms)} ms (dedup ${fmt(b.near_dedup.worker_ms)} ms of it, the train/eval leakage check and the rest ${fmt(b.near_dedup.leakage_and_rest_ms)} ms); template ${fmt(b.render.wall_ms)} ms`);
  console.log(`counts: browser ${count(b.exact_dedup.exact)} exact, ${count(b.near_dedup.near)} near duplicates; native: ${n?.exact_dedup.summary ?? "-"} / ${n?.near_dedup.summary ?? "-"}`);
  const g = result.goal_5s;
  console.log(`goal: parse+validate+exact dedup of ${count(records)} records in the browser < 5 s: ${(g.parse_validate_exact_dedup_ms / 1000).toFixed(2)} s (worker, dedup as the load runs it; ${(g.with_preview_dedup_ms / 1000).toFixed(2)} s with the Deduplicate page's rerun) — ${g.under_5s ? "met" : "NOT met"}`);
}
const over = result.goal_2x.filter((g) => !g.within_2x);
console.log(`goal: browser within 2x of native: ${over.length === 0 ? "met on every stage" : "NOT met on " + over.map((g) => `${g.stage} (${g.ratio.toFixed(2)}x)`).join(", ")}`);
if (b && result.browser.problems.length) console.log(`page problems: ${result.browser.problems.join("; ")}`);
console.log(`\nwritten: ${resolve(args.out)}`);
