//! The Export page. Will show: Downloads of the prepared data and of the bundle.
//! Until that part of the data crate is wired in, it shows where the data stands.

use yew::prelude::*;

use crate::app::Route;
use crate::components::pending_step::PendingStep;

/// The page at [`Route::Export`].
#[component]
pub fn ExportPage() -> Html {
    html! { <PendingStep route={Route::Export} /> }
}
