//! The studio page: mounts [`ajuste_web::app::App`] on the document body.
fn main() {
    yew::Renderer::<ajuste_web::app::App>::new().render();
}
