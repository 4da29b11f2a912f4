//! The studio worker: runs [`ajuste_web::worker::run`] in a Web Worker (started by
//! `static/studio-worker.js`), where the dataset lives and every heavy job runs.
fn main() {
    ajuste_web::worker::run();
}
