//! The app shell: routes, the layout every page shares, and the providers (parse worker, studio
//! state) that pages draw on.
//!
//! Routing uses hash URLs (`#/validate`), so the studio works from any static file server
//! (`dist/` served as it is, no rewrite rules) and a reload stays on the same page.

use wasm_bindgen::JsCast;
use yew::prelude::*;
use yew_router::prelude::*;

use crate::components::header::Header;
use crate::components::nav::Nav;
use crate::components::status::{StatusBar, WorkerBanner};
use crate::context::{StudioContext, use_studio};
use crate::loader::use_studio_shell;
use crate::pages;
use crate::protocol::Request;

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
            Route::Stats => {
                "Lengths, turns, roles and languages across the prepared data, and the balance of its labels or topics."
            }
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

/// The root component: the router around the shell.
#[component]
pub fn App() -> Html {
    html! {
        <HashRouter>
            <Shell />
        </HashRouter>
    }
}

/// The layout, the studio worker and the state shared by every page.
#[component]
fn Shell() -> Html {
    let context = use_studio_shell();
    let route = use_route::<Route>().unwrap_or(Route::NotFound);
    let main_ref = use_node_ref();
    use_route_focus(route, main_ref.clone());

    html! {
        <ContextProvider<StudioContext> {context}>
            <a class="skip-link" href="#main" onclick={skip_to_main(main_ref.clone())}>
                { "Skip to content" }
            </a>
            <UndoShortcut />
            <Header />
            <div class="layout">
                <Nav current={route} />
                <main id="main" class="page" tabindex="-1" ref={main_ref}>
                    <WorkerBanner />
                    <StatusBar />
                    <Switch<Route> render={switch} />
                </main>
            </div>
        </ContextProvider<StudioContext>>
    }
}

/// Ctrl+Z (Cmd+Z) anywhere outside a text field takes back the last change, as the Undo
/// button in the header does.
#[component]
fn UndoShortcut() -> Html {
    let studio = use_studio();
    let can_undo = studio
        .state
        .session
        .as_ref()
        .is_some_and(|s| !s.history.is_empty())
        && !studio.state.is_changing();
    use_effect_with(can_undo, move |&can_undo| {
        let document = web_sys::window().and_then(|w| w.document());
        let listener = document.filter(|_| can_undo).map(|document| {
            // Not passive (gloo's default), or `prevent_default` below would be refused.
            let options = gloo::events::EventListenerOptions::enable_prevent_default();
            gloo::events::EventListener::new_with_options(
                &document,
                "keydown",
                options,
                move |event| {
                    let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                        return;
                    };
                    let in_field = key
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|e| {
                            matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                        });
                    if (key.ctrl_key() || key.meta_key()) && key.key() == "z" && !in_field {
                        key.prevent_default();
                        studio.send(Request::Undo);
                    }
                },
            )
        });
        move || drop(listener)
    });
    Html::default()
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
