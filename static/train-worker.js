// Starts the training worker: wasm-bindgen's glue for the `train_worker` binary of the
// ajuste-train-worker crate (Trunk emits it as train_worker.js, no-modules), then its wasm, whose
// `main` installs the message handler. The page creates this worker only when the Train page
// opens, so the module (burn, megabytes) is never fetched before. Messages that arrive while the
// wasm is still loading are kept and handed over; a module that fails to load is reported to the
// page instead of leaving it waiting.
"use strict";

const early = [];
self.onmessage = (event) => early.push(event);

try {
  importScripts("./train_worker.js");
} catch (error) {
  self.postMessage({ fatal: `the training worker's script did not load: ${error}` });
  throw error;
}

wasm_bindgen({ module_or_path: "./train_worker_bg.wasm" }).then(
  () => {
    // `main` replaced `self.onmessage`; give it what came in meanwhile, in order.
    for (const event of early.splice(0)) self.onmessage(event);
  },
  (error) => {
    self.postMessage({ fatal: `the training worker did not start: ${error && error.message ? error.message : error}` });
  },
);
