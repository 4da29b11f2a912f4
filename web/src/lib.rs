//! ajuste-web: the data studio, a Yew app built by Trunk into `dist/`.
//!
//! Layout follows the data: [`app`] holds the routes and the shell, [`pages`] one module per
//! step, [`components`] the shared pieces, [`state`] the pure reducer every page reads.
//! Browser work lives in [`loader`] (file reads, fetches) and [`agent`] (the parse worker);
//! [`analysis`], [`inspect`] and [`format`] are pure and unit-tested natively.
//!
//! This crate must never depend on burn: the training worker is a separate crate, so the
//! studio's wasm stays small and loads first.

pub mod agent;
pub mod analysis;
pub mod app;
pub mod components;
pub mod context;
pub mod format;
pub mod inspect;
pub mod loader;
pub mod pages;
pub mod protocol;
pub mod state;
pub mod studio;

pub use app::App;
