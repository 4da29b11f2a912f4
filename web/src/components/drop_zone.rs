//! Where a file comes in: drop it on the zone, or choose it with the file picker.

use web_sys::{DragEvent, HtmlInputElement};
use yew::prelude::*;

/// File name endings the picker offers first; any file can still be chosen or dropped.
const ACCEPT: &str = ".jsonl,.ndjson,.json,.csv,.tsv,.parquet,.txt";

/// Props of [`DropZone`].
#[derive(Properties, PartialEq)]
pub struct DropZoneProps {
    /// Called with the file that was dropped or chosen.
    pub onfile: Callback<web_sys::File>,
    /// Greys the zone out while a file is being read.
    #[prop_or_default]
    pub busy: bool,
}

/// A drop target with a file picker inside. The picker is a real `<input type="file">` (kept
/// focusable, only visually hidden), so it works with the keyboard and with screen readers.
#[component]
pub fn DropZone(props: &DropZoneProps) -> Html {
    let dragging = use_state(|| false);

    let on_drag_over = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            // Without preventDefault the browser would open the dropped file itself.
            e.prevent_default();
            dragging.set(true);
        })
    };
    let on_drag_leave = {
        let dragging = dragging.clone();
        Callback::from(move |_: DragEvent| dragging.set(false))
    };
    let on_drop = {
        let dragging = dragging.clone();
        let onfile = props.onfile.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            let file = e
                .data_transfer()
                .and_then(|dt| dt.files())
                .and_then(|files| files.get(0));
            if let Some(file) = file {
                onfile.emit(file);
            }
        })
    };
    let on_change = {
        let onfile = props.onfile.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            if let Some(file) = input.files().and_then(|files| files.get(0)) {
                onfile.emit(file);
            }
            // Clear the input so that choosing the same file again still fires `change`.
            input.set_value("");
        })
    };

    html! {
        <div
            class={classes!("drop-zone", dragging.then_some("is-dragging"), props.busy.then_some("is-busy"))}
            data-testid="drop-zone"
            ondragenter={on_drag_over.clone()}
            ondragover={on_drag_over}
            ondragleave={on_drag_leave}
            ondrop={on_drop}
        >
            <svg class="drop-zone-icon" viewBox="0 0 24 24" aria-hidden="true">
                <path d="M12 16V4m0 0-4 4m4-4 4 4M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3" />
            </svg>
            <p class="drop-zone-title">{ "Drop a dataset file here" }</p>
            <p class="drop-zone-hint">{ "JSONL, JSON, CSV, TSV or Parquet" }</p>
            <input
                id="file-input"
                class="visually-hidden"
                type="file"
                accept={ACCEPT}
                disabled={props.busy}
                onchange={on_change}
            />
            <label for="file-input" class="button button-primary">{ "Choose a file…" }</label>
        </div>
    }
}
