//! The heading block at the top of every page.

use yew::prelude::*;

use crate::app::Route;

/// Props of [`PageHeader`].
#[derive(Properties, PartialEq)]
pub struct PageHeaderProps {
    pub route: Route,
}

/// The page's step number, title and one-line summary.
#[component]
pub fn PageHeader(props: &PageHeaderProps) -> Html {
    let route = props.route;
    html! {
        <div class="page-header">
            if let Some(step) = route.step() {
                <p class="page-step">{ format!("Step {step} of {}", Route::STEPS.len()) }</p>
            }
            <h1>{ route.title() }</h1>
            <p class="page-summary">{ route.summary() }</p>
        </div>
    }
}
