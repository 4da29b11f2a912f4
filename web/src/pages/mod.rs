//! One module per page, in data-flow order (see [`crate::app::Route`]).

pub mod clean;
pub mod dedup;
pub mod export;
pub mod load;
pub mod not_found;
pub mod stats;
pub mod template;
pub mod train;
pub mod validate;
