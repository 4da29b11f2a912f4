//! A calm box that says why a page has nothing to show, and what to do about it.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;

/// Props of [`EmptyState`].
#[derive(Properties, PartialEq)]
pub struct EmptyStateProps {
    /// A short headline: "Load a dataset first".
    pub title: AttrValue,
    /// One or two sentences under it.
    #[prop_or_default]
    pub children: Html,
    /// A page to go to instead, shown as a button.
    #[prop_or_default]
    pub action: Option<(Route, AttrValue)>,
}

/// An empty state.
#[component]
pub fn EmptyState(props: &EmptyStateProps) -> Html {
    html! {
        <section class="empty-state" data-testid="empty-state">
            <h2>{ &props.title }</h2>
            <div class="empty-state-body">{ props.children.clone() }</div>
            if let Some((route, label)) = &props.action {
                <Link<Route> to={*route} classes="button button-primary">{ label }</Link<Route>>
            }
        </section>
    }
}
