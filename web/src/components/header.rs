//! The bar across the top: the name, and the dataset that is loaded.

use yew::prelude::*;

use crate::context::use_studio;
use crate::format;

/// The studio's header.
#[component]
pub fn Header() -> Html {
    let studio = use_studio();
    let dataset = studio.state.dataset().map(|file| {
        html! {
            <p class="header-dataset" data-testid="header-dataset">
                <span class="visually-hidden">{ "Loaded dataset: " }</span>
                <span class="header-dataset-name">{ &file.name }</span>
                <span class="header-dataset-meta">
                    { format::plural(file.analysis.load.records, "record", "records") }
                </span>
            </p>
        }
    });
    html! {
        <header class="header">
            <div class="brand">
                <span class="brand-mark" aria-hidden="true">{ "≈" }</span>
                <span class="brand-name">{ "ajuste" }</span>
                <span class="brand-product">{ "studio" }</span>
            </div>
            <p class="tagline">{ "Fine-tuning data, prepared in your browser." }</p>
            { dataset }
        </header>
    }
}
