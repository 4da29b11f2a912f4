//! The left navigation: one link per step, in data-flow order.

use yew::prelude::*;
use yew_router::prelude::*;

use crate::app::Route;
use crate::context::use_studio;

/// Props of [`Nav`].
#[derive(Properties, PartialEq)]
pub struct NavProps {
    /// The page shown now; its link is marked `aria-current="page"`.
    pub current: Route,
}

/// The list of steps.
#[component]
pub fn Nav(props: &NavProps) -> Html {
    let loaded = use_studio().state.session.is_some();
    html! {
        <nav class="nav" aria-label="Steps">
            <ol>
                for route in Route::STEPS {
                    <li>
                        <NavLink
                            {route}
                            current={props.current == route}
                            done={route == Route::Load && loaded}
                        />
                    </li>
                }
            </ol>
        </nav>
    }
}

#[derive(Properties, PartialEq)]
struct NavLinkProps {
    route: Route,
    current: bool,
    done: bool,
}

/// A link to one step. yew-router's `Link` cannot set `aria-current`, so this is its own
/// anchor: a real `href` (keyboard, middle-click and "open in new tab" work) whose plain
/// clicks go through the router instead of reloading.
#[component]
fn NavLink(props: &NavLinkProps) -> Html {
    let navigator = use_navigator();
    let route = props.route;
    let onclick = Callback::from(move |e: MouseEvent| {
        if e.ctrl_key() || e.meta_key() || e.shift_key() || e.alt_key() {
            return;
        }
        if let Some(navigator) = &navigator {
            e.prevent_default();
            navigator.push(&route);
        }
    });
    let step = route.step().unwrap_or_default();
    html! {
        <a
            class={classes!("nav-link", props.done.then_some("is-done"))}
            href={format!("#{}", route.to_path())}
            aria-current={props.current.then_some("page")}
            {onclick}
        >
            <span class="nav-step" aria-hidden="true">
                { if props.done { "✓".to_string() } else { step.to_string() } }
            </span>
            <span class="nav-title">{ route.title() }</span>
            if props.done {
                <span class="visually-hidden">{ " (done)" }</span>
            }
        </a>
    }
}
