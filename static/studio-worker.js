// Starts the studio worker: wasm-bindgen's glue for the `studio_worker` binary (which Trunk
// emits as studio_worker.js, no-modules), then its wasm, whose `main` installs the message
// handler. Messages that arrive while the wasm is still loading are kept and handed over.
// A module that fails to load is reported to the page instead of leaving it waiting.
"use strict";

const early = [];
self.onmessage = (event) => early.push(event);

try {
  importScripts("./studio_worker.js");
} catch (error) {
  self.postMessage({ id: 0, fatal: `the studio worker's script did not load: ${error}` });
  throw error;
}

wasm_bindgen({ module_or_path: "./studio_worker_bg.wasm" }).then(
  () => {
    // `main` replaced `self.onmessage`; give it what came in meanwhile, in order.
    for (const event of early.splice(0)) self.onmessage(event);
  },
  (error) => {
    self.postMessage({ id: 0, fatal: `the studio worker did not start: ${error && error.message ? error.message : error}` });
  },
);
