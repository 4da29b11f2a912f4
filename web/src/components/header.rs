//! The bar across the top: the name, the dataset that is loaded, and undo.

use yew::prelude::*;

use crate::context::use_studio;
use crate::format;
use crate::protocol::Request;

/// The studio's header.
#[component]
pub fn Header() -> Html {
    let studio = use_studio();
    let session = studio.state.session.clone();
    let dataset = session.as_ref().map(|s| {
        html! {
            <p class="header-dataset" data-testid="header-dataset">
                <span class="visually-hidden">{ "Loaded dataset: " }</span>
                <span class="header-dataset-name">{ &s.file.name }</span>
                <span class="header-dataset-meta">
                    { format::plural(s.load.records, "record", "records") }
                </span>
            </p>
        }
    });
    let last = session.as_ref().and_then(|s| s.history.last().cloned());
    let undo = {
        let studio = studio.clone();
        Callback::from(move |_: MouseEvent| studio.send(Request::Undo))
    };
    html! {
        <header class="header">
            <div class="brand">
                <span class="brand-mark" aria-hidden="true">{ "≈" }</span>
                <span class="brand-name">{ "ajuste" }</span>
                <span class="brand-product">{ "studio" }</span>
            </div>
            <p class="tagline">{ "Fine-tuning data, prepared in your browser." }</p>
            { dataset }
            if let Some(last) = last {
                <button type="button" class="button header-undo" data-testid="undo"
                    title="Undo (Ctrl+Z)" aria-keyshortcuts="Control+Z"
                    disabled={studio.state.is_changing()} onclick={undo}>
                    { format!("Undo: {last}") }
                </button>
            }
        </header>
    }
}
