//! ajuste-web: the data studio, a Yew app built by Trunk into `dist/`.
//!
//! Layout follows the data: [`app`] holds the routes and the shell, [`pages`] one module per
//! step, [`components`] the shared pieces, [`state`] the pure reducer every page reads.
//!
//! The dataset lives in one stateful Web Worker ([`worker`], started by the `studio_worker`
//! binary) around the [`studio::Engine`], which drives the data crate; the page talks to it
//! through [`client`] and [`loader`] with the messages of [`protocol`] and only receives what it
//! shows. [`studio`], [`analysis`], [`inspect`], [`format`] and [`state`] are pure and
//! unit-tested natively.
//!
//! This crate must never depend on burn: the training worker is a separate crate, so the
//! studio's wasm stays small and loads first.

pub mod analysis;
pub mod app;
pub mod client;
pub mod components;
pub mod context;
pub mod format;
pub mod inspect;
pub mod loader;
pub mod pages;
pub mod protocol;
pub mod state;
pub mod studio;
pub mod worker;

pub use app::App;
