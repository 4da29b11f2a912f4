//! What is known about a loaded file: a small table of facts, then its findings by code.

use ajuste_shared::{Container, Format, Kind, Severity};
use yew::prelude::*;

use std::rc::Rc;

use crate::analysis::{CodeCount, LoadSummary};
use crate::format;
use crate::inspect::Content;
use crate::protocol::Summary;

/// Props of [`DatasetCard`].
#[derive(Properties, PartialEq)]
pub struct DatasetCardProps {
    pub summary: Rc<Summary>,
}

/// The loaded file's name, size, format, and record, line and finding counts.
#[component]
pub fn DatasetCard(props: &DatasetCardProps) -> Html {
    let file = &props.summary.file;
    let s = &file.summary;
    let load = &props.summary.load;
    html! {
        <section class="card" aria-labelledby="dataset-card-title" data-testid="dataset-card">
            <h2 id="dataset-card-title">{ "Loaded" }</h2>
            <dl class="facts">
                <Fact label="File" testid="file-name">{ &file.name }</Fact>
                <Fact label="Size" testid="file-size" title={format!("{} bytes", format::count(s.bytes))}>
                    { format::bytes(s.bytes) }
                </Fact>
                <Fact label="Format" testid="file-format" title={format!("--format {}", load.format)}>
                    { format_name(load.format) }
                </Fact>
                <Fact label="Kind" testid="file-kind">{ kind_name(load.kind) }</Fact>
                <Fact label="Container" testid="file-container">
                    { container_name(load.container, s.content) }
                </Fact>
                <Fact label="Records" testid="file-records">{ format::count(load.records) }</Fact>
                if s.content.has_lines() {
                    <Fact label="Lines" testid="file-lines">{ format::count(s.lines) }</Fact>
                    <Fact label="Blank lines" testid="file-blank-lines">{ format::count(s.blank_lines) }</Fact>
                }
            </dl>
            if let Some(bundle) = &file.from_bundle {
                <p class="note" data-testid="from-bundle">
                    { format!("The records of the bundle {bundle} (train and eval), with its recipe: cleaning, dedup, balancing, template, split and method.") }
                </p>
            }
            if s.bom {
                <p class="note">{ "The file starts with a byte-order mark; readers skip it." }</p>
            }
            <Findings load={load.clone()} />
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct FactProps {
    label: AttrValue,
    testid: AttrValue,
    #[prop_or_default]
    title: Option<AttrValue>,
    children: Html,
}

/// One term/value pair of the facts list.
#[component]
fn Fact(props: &FactProps) -> Html {
    html! {
        <div>
            <dt>{ &props.label }</dt>
            <dd data-testid={&props.testid} title={props.title.clone()}>{ props.children.clone() }</dd>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct FindingsProps {
    load: LoadSummary,
}

/// What the loader found: records kept and dropped, and findings counted by code.
#[component]
fn Findings(props: &FindingsProps) -> Html {
    let load = &props.load;
    let kept = format!(
        "{} kept, {} dropped.",
        format::plural(load.valid, "record", "records"),
        format::count(load.dropped())
    );
    html! {
        <div class="findings">
            <h3>{ "Findings" }</h3>
            <p class="findings-totals" data-testid="finding-totals">
                <span class="badge badge-error">{ format::plural(load.errors, "error", "errors") }</span>
                <span class="badge badge-warning">{ format::plural(load.warnings, "warning", "warnings") }</span>
                if load.infos > 0 {
                    <span class="badge badge-info">{ format::plural(load.infos, "note", "notes") }</span>
                }
                <span class="findings-kept" data-testid="records-kept">{ kept }</span>
            </p>
            if !load.by_code.is_empty() {
                <table class="codes" data-testid="finding-codes">
                    <caption class="visually-hidden">{ "Findings by code" }</caption>
                    <thead>
                        <tr>
                            <th scope="col">{ "Code" }</th>
                            <th scope="col">{ "Severity" }</th>
                            <th scope="col" class="num">{ "Count" }</th>
                            <th scope="col">{ "What it means" }</th>
                        </tr>
                    </thead>
                    <tbody>
                        for row in load.by_code.iter() {
                            <CodeRow count={*row} />
                        }
                    </tbody>
                </table>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct CodeRowProps {
    count: CodeCount,
}

#[component]
fn CodeRow(props: &CodeRowProps) -> Html {
    let c = props.count;
    html! {
        <tr>
            <td><code>{ c.code.as_str() }</code></td>
            <td><span class={classes!("badge", severity_class(c.severity))}>{ c.severity.as_str() }</span></td>
            <td class="num">{ format::count(c.count) }</td>
            <td class="muted">{ c.code.doc().what }</td>
        </tr>
    }
}

pub fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "badge-error",
        Severity::Warning => "badge-warning",
        Severity::Info => "badge-info",
    }
}

/// The format's usual name (the CLI's `--format` value is in the tooltip).
pub fn format_name(format: Format) -> &'static str {
    match format {
        Format::Sharegpt => "ShareGPT",
        Format::Openai => "OpenAI messages",
        Format::Alpaca => "Alpaca",
        Format::Dpo => "Preference pairs (TRL)",
        Format::Hh => "Anthropic HH",
        Format::Kto => "KTO",
    }
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Sft => "Conversations (SFT)",
        Kind::Preference => "Preferences (DPO, SimPO, ORPO)",
        Kind::Feedback => "Feedback (KTO)",
    }
}

fn container_name(container: Container, content: Content) -> String {
    let name = match container {
        Container::Jsonl => "JSON Lines",
        Container::JsonArray => "JSON array",
        Container::Csv => "CSV",
        Container::Tsv => "TSV",
        Container::Parquet => "Parquet",
    };
    match content {
        Content::Gzip => format!("{name}, gzip-compressed"),
        Content::Text | Content::Parquet => name.to_owned(),
    }
}
