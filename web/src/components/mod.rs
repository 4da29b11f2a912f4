//! Pieces of UI that several pages share.

pub mod chart;
pub mod copy_button;
pub mod dataset_card;
pub mod drop_zone;
pub mod empty_state;
pub mod header;
pub mod nav;
pub mod page_header;
pub mod pending_step;
pub mod status;
