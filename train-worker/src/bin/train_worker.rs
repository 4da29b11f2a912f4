//! The training worker: runs `ajuste_train_worker::worker::run` in a Web Worker (started by
//! `static/train-worker.js` when the Train page opens). Built for wasm32 by Trunk.
#![recursion_limit = "256"]

fn main() {
    #[cfg(target_arch = "wasm32")]
    ajuste_train_worker::worker::run();
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!(
        "train_worker runs in a browser (Trunk builds it for wasm32); natively, use `ajuste train`"
    );
}
