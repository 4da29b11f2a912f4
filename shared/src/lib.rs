//! ajuste-shared: the data side of ajuste.
//!
//! Formats (read, detect, write), validation with stable codes, cleaning, deduplication,
//! chat templates and loss masks, statistics, splits and the `.ajuste` bundle. Pure Rust with
//! no I/O beyond `Read`/`Write` and byte slices, so the same code runs in the CLI and, compiled
//! to WebAssembly, in the browser studio.

pub mod balance;
pub mod bundle;
pub mod clean;
pub mod codes;
pub mod command;
pub mod config;
pub mod container;
pub mod dedup;
pub mod diagnostic;
pub mod formats;
pub mod load;
pub mod record;
pub mod split;
pub mod stats;
pub mod synth;
pub mod template;
pub mod tokenize;
pub mod train_protocol;
pub mod validate;

pub use codes::Code;
pub use container::Container;
pub use diagnostic::{Finding, Severity};
pub use formats::Format;
pub use load::{LoadOptions, Loaded, load, load_streaming};
pub use record::{
    Conversation, Dataset, Feedback, Item, Kind, Message, Preference, Record, Role, Source,
};
