//! The Template page. Will show: The rendered template with trained and untrained tokens marked.
//! Until that part of the data crate is wired in, it shows where the data stands.

use yew::prelude::*;

use crate::app::Route;
use crate::components::pending_step::PendingStep;

/// The page at [`Route::Template`].
#[component]
pub fn TemplatePage() -> Html {
    html! { <PendingStep route={Route::Template} /> }
}
