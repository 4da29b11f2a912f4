//! What is known about a loaded file, as a small table of facts.

use yew::prelude::*;

use crate::format;
use crate::inspect::Container;
use crate::state::LoadedFile;

/// Props of [`DatasetCard`].
#[derive(Properties, PartialEq)]
pub struct DatasetCardProps {
    pub file: LoadedFile,
}

/// The loaded file's name, size and line counts.
#[component]
pub fn DatasetCard(props: &DatasetCardProps) -> Html {
    let file = &props.file;
    let s = &file.summary;
    let container = match s.container {
        Container::Text => "Text (JSON, JSONL, CSV or TSV)",
        Container::Parquet => "Parquet",
    };
    html! {
        <section class="card" aria-labelledby="dataset-card-title" data-testid="dataset-card">
            <h2 id="dataset-card-title">{ "Loaded" }</h2>
            <dl class="facts">
                <div>
                    <dt>{ "File" }</dt>
                    <dd data-testid="file-name">{ &file.name }</dd>
                </div>
                <div>
                    <dt>{ "Size" }</dt>
                    <dd data-testid="file-size" title={format!("{} bytes", format::count(s.bytes))}>
                        { format::bytes(s.bytes) }
                    </dd>
                </div>
                <div>
                    <dt>{ "Contents" }</dt>
                    <dd data-testid="file-container">{ container }</dd>
                </div>
                if s.container == Container::Text {
                    <div>
                        <dt>{ "Lines" }</dt>
                        <dd data-testid="file-lines">{ format::count(s.lines) }</dd>
                    </div>
                    <div>
                        <dt>{ "Blank lines" }</dt>
                        <dd data-testid="file-blank-lines">{ format::count(s.blank_lines) }</dd>
                    </div>
                }
            </dl>
            if s.bom {
                <p class="note">{ "The file starts with a byte-order mark; readers skip it." }</p>
            }
        </section>
    }
}
