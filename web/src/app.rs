//! The app shell: routes, the layout every page shares, and the providers (parse worker, studio
//! state) that pages draw on.
//!
//! Routing uses hash URLs (`#/validate`), so the studio works from any static file server
//! (`dist/` served as it is, no rewrite rules) and a reload stays on the same page.

use yew::prelude::*;
use yew_agent::oneshot::OneshotProvider;
use yew_router::prelude::*;

use crate::agent::{PARSE_WORKER_PATH, ParseTask};
use crate::components::header::Header;
use crate::components::nav::Nav;
use crate::context::StudioContext;
use crate::loader::use_loader;
use crate::pages;
use crate::state::State;

/// The studio's pages, in the order data flows through them.
#[derive(Routable, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    #[at("/")]
    Load,
    #[at("/validate")]
    Validate,
    #[at("/clean")]
    Clean,
    #[at("/dedup")]
    Dedup,
    #[at("/template")]
    Template,
    #[at("/stats")]
    Stats,
    #[at("/train")]
    Train,
    #[at("/export")]
    Export,
    #[not_found]
    #[at("/404")]
    NotFound,
}

impl Route {
    /// The steps shown in the navigation, in data-flow order.
    pub const STEPS: [Route; 8] = [
        Route::Load,
        Route::Validate,
        Route::Clean,
        Route::Dedup,
        Route::Template,
        Route::Stats,
        Route::Train,
        Route::Export,
    ];

    /// The page's name, as the navigation and the page heading show it.
    pub fn title(self) -> &'static str {
        match self {
            Route::Load => "Load",
            Route::Validate => "Validate",
            Route::Clean => "Clean",
            Route::Dedup => "Deduplicate",
            Route::Template => "Template",
            Route::Stats => "Statistics",
            Route::Train => "Train",
            Route::Export => "Export",
            Route::NotFound => "Page not found",
        }
    }

    /// One sentence on what the page is for.
    pub fn summary(self) -> &'static str {
        match self {
            Route::Load => {
                "Open a JSON, JSONL, CSV or Parquet file. It is read in this browser tab and never uploaded."
            }
            Route::Validate => "Every problem in the data, with its line and field.",
            Route::Clean => {
                "Normalise text, repair turns, strip boilerplate and redact personal data, step by step."
            }
            Route::Dedup => "Find exact and near duplicates, and leaks between train and eval.",
            Route::Template => "Pick a chat template and see exactly which tokens are trained.",
            Route::Stats => "Lengths, turns, roles and languages across the dataset.",
            Route::Train => "Fine-tune a small model on this data, right in the browser.",
            Route::Export => "Write the prepared data, or a bundle for the native trainer.",
            Route::NotFound => "There is no page at this address.",
        }
    }

    /// 1-based position in the data flow; `None` for pages outside it.
    pub fn step(self) -> Option<usize> {
        Route::STEPS.iter().position(|r| *r == self).map(|i| i + 1)
    }
}

/// Renders the page for `route`.
fn switch(route: Route) -> Html {
    match route {
        Route::Load => html! { <pages::load::LoadPage /> },
        Route::Validate => html! { <pages::validate::ValidatePage /> },
        Route::Clean => html! { <pages::clean::CleanPage /> },
        Route::Dedup => html! { <pages::dedup::DedupPage /> },
        Route::Template => html! { <pages::template::TemplatePage /> },
        Route::Stats => html! { <pages::stats::StatsPage /> },
        Route::Train => html! { <pages::train::TrainPage /> },
        Route::Export => html! { <pages::export::ExportPage /> },
        Route::NotFound => html! { <pages::not_found::NotFoundPage /> },
    }
}

/// The root component: the parse worker and the router around the shell.
#[component]
pub fn App() -> Html {
    html! {
        <OneshotProvider<ParseTask> path={PARSE_WORKER_PATH}>
            <HashRouter>
                <Shell />
            </HashRouter>
        </OneshotProvider<ParseTask>>
    }
}

/// The layout and the studio state shared by every page.
#[component]
fn Shell() -> Html {
    let state = use_reducer(State::default);
    let load = use_loader(&state);
    let route = use_route::<Route>().unwrap_or(Route::NotFound);
    let main_ref = use_node_ref();
    use_route_focus(route, main_ref.clone());

    let context = StudioContext { state, load };
    html! {
        <ContextProvider<StudioContext> {context}>
            <a class="skip-link" href="#main" onclick={skip_to_main(main_ref.clone())}>
                { "Skip to content" }
            </a>
            <Header />
            <div class="layout">
                <Nav current={route} />
                <main id="main" class="page" tabindex="-1" ref={main_ref}>
                    <Switch<Route> render={switch} />
                </main>
            </div>
        </ContextProvider<StudioContext>>
    }
}

/// The skip link targets `#main`, but with hash routing following that fragment would change
/// the route; focus the main region instead.
fn skip_to_main(main_ref: NodeRef) -> Callback<MouseEvent> {
    Callback::from(move |e: MouseEvent| {
        e.prevent_default();
        focus(&main_ref);
    })
}

/// On every page change after the first: update the document title and move keyboard focus to
/// the page, so screen-reader and keyboard users land on the new content, not on the old link.
#[hook]
fn use_route_focus(route: Route, main_ref: NodeRef) {
    let first = use_mut_ref(|| true);
    use_effect_with(route, move |route| {
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(&format!("{} · ajuste studio", route.title()));
        }
        if !std::mem::replace(&mut *first.borrow_mut(), false) {
            focus(&main_ref);
        }
    });
}

fn focus(node: &NodeRef) {
    if let Some(element) = node.cast::<web_sys::HtmlElement>() {
        // Focusing can only fail for elements that cannot take focus; `main` has tabindex=-1.
        let _ = element.focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_the_data_flow_and_each_has_a_unique_path() {
        let paths: Vec<String> = Route::STEPS.iter().map(|r| r.to_path()).collect();
        assert_eq!(
            paths,
            [
                "/",
                "/validate",
                "/clean",
                "/dedup",
                "/template",
                "/stats",
                "/train",
                "/export"
            ]
        );
        for route in Route::STEPS {
            assert_eq!(Route::recognize(&route.to_path()), Some(route));
        }
    }

    #[test]
    fn steps_are_numbered_from_one() {
        assert_eq!(Route::Load.step(), Some(1));
        assert_eq!(Route::Export.step(), Some(8));
        assert_eq!(Route::NotFound.step(), None);
    }
}
