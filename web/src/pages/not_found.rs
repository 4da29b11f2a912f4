//! Shown for any address that is not a page.

use yew::prelude::*;

use crate::app::Route;
use crate::components::empty_state::EmptyState;
use crate::components::page_header::PageHeader;

/// The page at [`Route::NotFound`].
#[component]
pub fn NotFoundPage() -> Html {
    html! {
        <>
            <PageHeader route={Route::NotFound} />
            <EmptyState
                title="Nothing here"
                action={Some((Route::Load, AttrValue::from("Go to Load")))}
            >
                <p>{ "Pick a step from the list on the left." }</p>
            </EmptyState>
        </>
    }
}
