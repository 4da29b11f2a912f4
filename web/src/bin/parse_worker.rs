//! The parse worker: runs [`ajuste_web::agent::ParseTask`] in a Web Worker.
use ajuste_web::agent::ParseTask;
use yew_agent::Registrable;

fn main() {
    ParseTask::registrar().register();
}
