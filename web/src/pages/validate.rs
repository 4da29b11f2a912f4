//! The Validate page: the loader's findings counted by code, all of them in a virtualised table
//! (only the rows in view are fetched from the worker and drawn), and the record of a finding
//! with the field it names highlighted, to fix in place or drop.

use std::rc::Rc;

use ajuste_shared::{Code, Severity};
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::app::Route;
use crate::components::dataset_card::severity_class;
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::use_studio;
use crate::format;
use crate::pages::{event_value, sentence};
use crate::protocol::{FindingsQuery, Op, RecordStatus, RecordView, Request, Summary};
use crate::state::Job;
use crate::studio::json_view::span_for;

/// Height of a findings row in pixels (CSS gives rows exactly this height).
pub const ROW_HEIGHT: f64 = 34.0;
/// Height of the scrolling area of the table.
const VIEW_HEIGHT: f64 = 408.0;
/// Rows fetched beyond those in view, on each side.
const OVERSCAN: usize = 40;
/// The tallest the scrolled content is made. Browsers cap an element's height (Firefox near
/// 17.9 million pixels, Chromium near 33.5 million), so past this many pixels (about 235,000
/// findings) the scroll bar maps onto the rows proportionally instead of one pixel for one.
pub const MAX_SCROLL_HEIGHT: f64 = 8_000_000.0;

/// Height of the content the table scrolls: every row's, up to [`MAX_SCROLL_HEIGHT`].
pub fn scroll_height(total: usize) -> f64 {
    (total as f64 * ROW_HEIGHT).min(MAX_SCROLL_HEIGHT)
}

/// Where the view starts among all the rows (in pixels of rows) when the box is scrolled to
/// `scroll_top`: the same number while every row fits, scaled when they do not; clamped to
/// the last screenful, so a position left over from a longer list still shows rows.
pub fn rows_top(scroll_top: f64, total: usize) -> f64 {
    let full = total as f64 * ROW_HEIGHT;
    let real = scroll_height(total);
    let last = (full - VIEW_HEIGHT).max(0.0);
    let top = if full > real {
        scroll_top * last / (real - VIEW_HEIGHT).max(1.0)
    } else {
        scroll_top
    };
    top.clamp(0.0, last)
}

/// Where row `index` is drawn in the scrolled content.
pub fn row_top(index: usize, scroll_top: f64, total: usize) -> f64 {
    let y = index as f64 * ROW_HEIGHT;
    if total as f64 * ROW_HEIGHT > scroll_height(total) {
        // Scaled: placed around the view, which shows the rows from `rows_top` on.
        scroll_top + y - rows_top(scroll_top, total)
    } else {
        y
    }
}

/// Height of the scrolling box for a list of `total` rows (`None`: not known yet): room for
/// every row, at least three and at most [`VIEW_HEIGHT`].
pub fn box_height(total: Option<usize>) -> f64 {
    total.map_or(VIEW_HEIGHT, |n| {
        (n.max(3) as f64 * ROW_HEIGHT).min(VIEW_HEIGHT)
    })
}

/// The rows `[start, end)` to have fetched when the table is scrolled to `scroll_top`.
pub fn window(scroll_top: f64, total: usize) -> (usize, usize) {
    let first = (rows_top(scroll_top, total) / ROW_HEIGHT) as usize;
    let visible = (VIEW_HEIGHT / ROW_HEIGHT).ceil() as usize + 1;
    let start = first.saturating_sub(OVERSCAN).min(total);
    let end = (first + visible + OVERSCAN).min(total).max(start);
    (start, end)
}

/// The page at [`Route::Validate`].
#[component]
pub fn ValidatePage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <Validate {summary} /> },
        None => html! { <NeedsDataset route={Route::Validate} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Validate} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct ValidateProps {
    summary: Rc<Summary>,
}

#[component]
fn Validate(props: &ValidateProps) -> Html {
    let studio = use_studio();
    let s = &props.summary;
    let code = use_state(|| None::<Code>);
    let severity = use_state(|| None::<Severity>);
    // The finding whose record is shown: (record, path).
    let selected = use_state(|| None::<(usize, String)>);

    // The record shown follows the session: after a fix or an undo, read it again.
    {
        let studio = studio.clone();
        let selected = selected.clone();
        use_effect_with((s.generation, (*selected).clone()), move |(_, selected)| {
            if let Some((record, _)) = selected {
                studio.send(Request::Record { record: *record });
            }
        });
    }

    let load = &s.load;
    let set_code = {
        let code = code.clone();
        Callback::from(move |c: Option<Code>| code.set(c))
    };
    let on_severity = {
        let severity = severity.clone();
        Callback::from(move |e: Event| {
            severity.set(match event_value(&e).as_str() {
                "error" => Some(Severity::Error),
                "warning" => Some(Severity::Warning),
                "info" => Some(Severity::Info),
                _ => None,
            })
        })
    };
    let on_open = {
        let selected = selected.clone();
        Callback::from(move |pick: (usize, String)| selected.set(Some(pick)))
    };
    let record = studio
        .state
        .record
        .clone()
        .filter(|r| selected.as_ref().is_some_and(|(n, _)| *n == r.record));
    html! {
        <div class="validate">
            <p class="lede" data-testid="validate-summary">
                { format!("{}: {} kept, {} dropped by errors. ",
                    format::plural(load.records, "record", "records"),
                    format::count(load.valid),
                    format::count(load.dropped())) }
                <span class="badge badge-error">{ format::plural(load.errors, "error", "errors") }</span>
                { " " }
                <span class="badge badge-warning">{ format::plural(load.warnings, "warning", "warnings") }</span>
                if s.edited_records + s.dropped_records > 0 {
                    <span class="muted" data-testid="edit-counts">
                        { format!(" {} fixed by hand, {} dropped by hand.",
                            format::plural(s.edited_records as u64, "record", "records"),
                            format::count(s.dropped_records as u64)) }
                    </span>
                }
            </p>
            <CodeCounts summary={props.summary.clone()} selected={*code} onselect={set_code} />
            <div class="validate-grid">
                <section aria-labelledby="findings-title">
                    <div class="table-toolbar">
                        <h2 id="findings-title">
                            { match *code { Some(c) => format!("Findings: {}", c.as_str()), None => "All findings".to_owned() } }
                        </h2>
                        <label for="severity-filter">{ "Severity" }</label>
                        // Every option says whether it is chosen: Yew inserts options last
                        // first, so without it the select would show the last one.
                        <select id="severity-filter" onchange={on_severity}>
                            <option value="" selected={severity.is_none()}>{ "any" }</option>
                            <option value="error" selected={*severity == Some(Severity::Error)}>{ "errors" }</option>
                            <option value="warning" selected={*severity == Some(Severity::Warning)}>{ "warnings" }</option>
                            <option value="info" selected={*severity == Some(Severity::Info)}>{ "notes" }</option>
                        </select>
                    </div>
                    <FindingsTable
                        generation={s.generation}
                        code={*code}
                        severity={*severity}
                        selected={(*selected).clone()}
                        onopen={on_open.clone()}
                    />
                </section>
                <section class="record-panel" aria-labelledby="record-title" data-testid="record-panel">
                    if let Some(view) = record {
                        <RecordPanel
                            view={view}
                            path={selected.as_ref().map(|(_, p)| p.clone()).unwrap_or_default()}
                            onpath={on_open}
                        />
                    } else {
                        <h2 id="record-title">{ "Record" }</h2>
                        <p class="muted">
                            if selected.is_some() { { "Reading the record…" } }
                            else { { "Choose a finding to see its record, with the field it is about highlighted." } }
                        </p>
                    }
                </section>
            </div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct CodeCountsProps {
    summary: Rc<Summary>,
    selected: Option<Code>,
    onselect: Callback<Option<Code>>,
}

/// Findings counted by code; each row filters the table.
#[component]
fn CodeCounts(props: &CodeCountsProps) -> Html {
    let by_code = &props.summary.load.by_code;
    if by_code.is_empty() {
        return html! { <p class="note" data-testid="no-findings">{ "No findings: every record reads well." }</p> };
    }
    let all = {
        let onselect = props.onselect.clone();
        Callback::from(move |_: MouseEvent| onselect.emit(None))
    };
    html! {
        <table class="codes" data-testid="code-counts">
            <caption class="visually-hidden">{ "Findings by code; choose one to list only those" }</caption>
            <thead>
                <tr>
                    <th scope="col">{ "Code" }</th>
                    <th scope="col">{ "Severity" }</th>
                    <th scope="col" class="num">{ "Count" }</th>
                    <th scope="col">{ "What it means" }</th>
                </tr>
            </thead>
            <tbody>
                for c in by_code.iter() {
                    <tr class={classes!((props.selected == Some(c.code)).then_some("is-selected"))}>
                        <td>
                            <button type="button" class="link-button" aria-pressed={(props.selected == Some(c.code)).to_string()}
                                onclick={{ let onselect = props.onselect.clone(); let code = c.code; Callback::from(move |_: MouseEvent| onselect.emit(Some(code))) }}>
                                <code>{ c.code.as_str() }</code>
                            </button>
                        </td>
                        <td><span class={classes!("badge", severity_class(c.severity))}>{ c.severity.as_str() }</span></td>
                        <td class="num" data-testid={format!("count-{}", c.code.as_str())}>{ format::count(c.count) }</td>
                        <td class="muted">{ c.code.doc().what }</td>
                    </tr>
                }
            </tbody>
            if props.selected.is_some() {
                <tfoot>
                    <tr><td colspan="4"><button type="button" class="link-button" onclick={all}>{ "Show all findings" }</button></td></tr>
                </tfoot>
            }
        </table>
    }
}

#[derive(Properties, PartialEq)]
struct FindingsTableProps {
    generation: u64,
    code: Option<Code>,
    severity: Option<Severity>,
    selected: Option<(usize, String)>,
    onopen: Callback<(usize, String)>,
}

/// The findings, virtualised: a scrolling box as tall as every row, in which only the rows
/// near the view are drawn; they are fetched from the worker as the box scrolls.
#[component]
fn FindingsTable(props: &FindingsTableProps) -> Html {
    let studio = use_studio();
    let scroll_top = use_state(|| 0.0_f64);
    let scroller = use_node_ref();
    {
        // Another filter lists other findings: start at the top of them.
        let scroll_top = scroll_top.clone();
        let scroller = scroller.clone();
        use_effect_with((props.code, props.severity), move |_| {
            if let Some(el) = scroller.cast::<web_sys::Element>() {
                el.set_scroll_top(0);
            }
            scroll_top.set(0.0);
        });
    }
    let requested = use_mut_ref(|| None::<(u64, FindingsQuery)>);
    let page = studio.state.findings.clone();
    let query_of = |offset: usize, limit: usize| FindingsQuery {
        code: props.code,
        severity: props.severity,
        offset,
        limit,
    };
    let same_filter = |q: &FindingsQuery| q.code == props.code && q.severity == props.severity;
    let current = page
        .as_ref()
        .filter(|p| p.generation == props.generation && same_filter(&p.query));
    let total = current.map_or(0, |p| p.total);
    // The box is as tall as its rows, up to VIEW_HEIGHT. While another list is being fetched
    // it keeps the height of the last one, so that the page does not jump.
    let last_total = use_mut_ref(|| None::<usize>);
    if let Some(p) = current {
        *last_total.borrow_mut() = Some(p.total);
    }
    let box_height = box_height(*last_total.borrow());

    // Fetch the window in view when it is not what the worker last sent.
    {
        let studio = studio.clone();
        let (start, end) = window(*scroll_top, total.max(1));
        let covered = current
            .is_some_and(|p| p.query.offset <= start && end <= p.query.offset + p.rows.len());
        let want = query_of(start, (end - start).max(2 * OVERSCAN));
        let requested = requested.clone();
        let generation = props.generation;
        use_effect_with(
            (generation, want.clone(), covered),
            move |(generation, want, covered)| {
                let again = requested.borrow().as_ref() != Some(&(*generation, want.clone()));
                if !covered && again {
                    *requested.borrow_mut() = Some((*generation, want.clone()));
                    studio.send(Request::Findings(want.clone()));
                }
            },
        );
    }

    let onscroll = {
        let scroll_top = scroll_top.clone();
        Callback::from(move |e: Event| {
            if let Some(el) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            {
                scroll_top.set(f64::from(el.scroll_top()));
            }
        })
    };
    let onkeydown = Callback::from(|e: KeyboardEvent| {
        // Arrow keys move between rows, as in a list.
        let next = match e.key().as_str() {
            "ArrowDown" => true,
            "ArrowUp" => false,
            _ => return,
        };
        let Some(row) = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let sibling = if next {
            row.next_element_sibling()
        } else {
            row.previous_element_sibling()
        };
        if let Some(el) = sibling.and_then(|s| s.dyn_into::<web_sys::HtmlElement>().ok()) {
            e.prevent_default();
            let _ = el.focus();
        }
    });
    let rows = current.map(|p| {
        p.rows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let index = p.query.offset + i;
                let top = row_top(index, *scroll_top, total);
                let pick = f.record.map(|r| (r, f.path.clone()));
                let is_selected = pick.is_some() && pick == props.selected;
                let open = {
                    let onopen = props.onopen.clone();
                    let pick = pick.clone();
                    Callback::from(move |_: MouseEvent| {
                        if let Some(pick) = pick.clone() {
                            onopen.emit(pick);
                        }
                    })
                };
                let key_open = {
                    let onopen = props.onopen.clone();
                    Callback::from(move |e: KeyboardEvent| {
                        if matches!(e.key().as_str(), "Enter" | " ")
                            && let Some(pick) = pick.clone()
                        {
                            e.prevent_default();
                            onopen.emit(pick);
                        }
                    })
                };
                html! {
                    // Keyed, so that a row keeps its element (and keyboard focus) as the
                    // window moves.
                    <div key={index} role="row" class={classes!("vrow", is_selected.then_some("is-selected"))}
                        aria-rowindex={(index + 2).to_string()} aria-selected={is_selected.to_string()}
                        tabindex="0" style={format!("top: {top}px")} onclick={open} onkeydown={key_open}
                        data-testid="finding-row">
                        <span role="cell" class="c-sev"><span class={classes!("badge", severity_class(f.severity))}>{ f.severity.as_str() }</span></span>
                        <span role="cell" class="c-code"><code>{ f.code.as_str() }</code></span>
                        <span role="cell" class="c-line num">{ f.line.map(|l| l.to_string()).unwrap_or_default() }</span>
                        <span role="cell" class="c-field"><code>{ &f.path }</code></span>
                        <span role="cell" class="c-msg" title={match &f.hint {
                            Some(hint) => format!("{} {}", sentence(&f.message), sentence(hint)),
                            None => sentence(&f.message),
                        }}>{ sentence(&f.message) }</span>
                    </div>
                }
            })
            .collect::<Html>()
    });
    html! {
        <div role="table" class="vtable" aria-label="Findings" aria-rowcount={(total + 1).to_string()}
            data-testid="findings-table" data-total={total.to_string()}>
            <div role="row" class="vrow vhead" aria-rowindex="1">
                <span role="columnheader" class="c-sev">{ "Severity" }</span>
                <span role="columnheader" class="c-code">{ "Code" }</span>
                <span role="columnheader" class="c-line num">{ "Line" }</span>
                <span role="columnheader" class="c-field">{ "Field" }</span>
                <span role="columnheader" class="c-msg">{ "Message (hint on hover)" }</span>
            </div>
            // A box of fixed height that scrolls a spacer as tall as every row; the rows in
            // the window are placed in it at their own height (CSS: position absolute).
            <div class="vscroll" ref={scroller} style={format!("height: {box_height}px")} onscroll={onscroll} {onkeydown}>
                if current.is_some() && total == 0 {
                    <p class="vempty" data-testid="findings-empty">{ "No findings with these filters." }</p>
                }
                <div class="vspacer" style={format!("height: {}px", scroll_height(total))}>
                    { rows.unwrap_or_default() }
                </div>
            </div>
            <p class="muted table-foot" data-testid="findings-count">
                { format::plural(total as u64, "finding", "findings") }
            </p>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct RecordPanelProps {
    view: Rc<RecordView>,
    /// The field to highlight.
    path: String,
    onpath: Callback<(usize, String)>,
}

/// One record: its findings, its JSON with the field highlighted, and the fix form.
#[component]
fn RecordPanel(props: &RecordPanelProps) -> Html {
    let studio = use_studio();
    let view = &props.view;
    let status = match view.status {
        RecordStatus::Kept => ("kept", "badge-ok"),
        RecordStatus::Invalid => ("dropped: it has errors", "badge-error"),
        RecordStatus::DroppedByUser => ("dropped by hand", "badge-warning"),
    };
    let json = match &view.json {
        Some(text) => match span_for(&view.spans, &props.path) {
            Some(span) => html! {
                <pre class="record-json" data-testid="record-json">
                    { &text[..span.start] }
                    <mark data-testid="record-highlight">{ &text[span.start..span.end] }</mark>
                    { &text[span.end..] }
                </pre>
            },
            None => html! { <pre class="record-json" data-testid="record-json">{ text }</pre> },
        },
        None => {
            html! { <p class="note">{ "This record is not JSON, so it has no fields to show or fix; it can only be dropped." }</p> }
        }
    };
    let drop = {
        let studio = studio.clone();
        let record = view.record;
        Callback::from(move |_: MouseEvent| studio.send(Request::Apply(Op::Drop { record })))
    };
    html! {
        <>
            <h2 id="record-title">
                { format!("Record {} (line {}) ", view.record, view.line) }
                <span class={classes!("badge", status.1)} data-testid="record-status">{ status.0 }</span>
            </h2>
            if !view.findings.is_empty() {
                <ul class="record-findings">
                    for f in view.findings.iter() {
                        <li>
                            <button type="button" class="link-button"
                                onclick={{ let onpath = props.onpath.clone(); let pick = (view.record, f.path.clone()); Callback::from(move |_: MouseEvent| onpath.emit(pick.clone())) }}>
                                <span class={classes!("badge", severity_class(f.severity))}>{ f.severity.as_str() }</span>
                                { " " }<code>{ f.code.as_str() }</code>{ " " }{ sentence(&f.message) }
                            </button>
                            if let Some(hint) = &f.hint { <span class="muted">{ " " }{ sentence(hint) }</span> }
                        </li>
                    }
                </ul>
            }
            { json }
            if view.json.is_some() && view.status != RecordStatus::DroppedByUser {
                <FixForm view={view.clone()} path={props.path.clone()} />
            }
            if view.status != RecordStatus::DroppedByUser {
                <button type="button" class="button button-danger" onclick={drop}
                    disabled={studio.state.is_changing()} data-testid="drop-record">
                    { "Drop this record" }
                </button>
            } else {
                <p class="muted">{ "Undo brings it back." }</p>
            }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct FixFormProps {
    view: Rc<RecordView>,
    path: String,
}

/// Edits one string field of the record (the highlighted one to start with).
#[component]
fn FixForm(props: &FixFormProps) -> Html {
    let studio = use_studio();
    let view = &props.view;
    // The field to fix: the finding's own when it is a string (or missing), else the first.
    let initial = || {
        if view.fields.iter().any(|f| f.pointer == props.path) || !props.path.is_empty() {
            props.path.clone()
        } else {
            view.fields
                .first()
                .map(|f| f.pointer.clone())
                .unwrap_or_default()
        }
    };
    let pointer = use_state(initial);
    let value_of = |p: &str| {
        view.fields
            .iter()
            .find(|f| f.pointer == p)
            .map(|f| f.value.clone())
            .unwrap_or_default()
    };
    let text = use_state(|| value_of(&pointer));
    {
        // A new record or finding: start from its field.
        let pointer = pointer.clone();
        let text = text.clone();
        let fields = view.fields.clone();
        let path = props.path.clone();
        use_effect_with((view.record, view.generation, path), move |(_, _, path)| {
            let p = if path.is_empty() {
                fields
                    .first()
                    .map(|f| f.pointer.clone())
                    .unwrap_or_default()
            } else {
                path.clone()
            };
            text.set(
                fields
                    .iter()
                    .find(|f| f.pointer == p)
                    .map(|f| f.value.clone())
                    .unwrap_or_default(),
            );
            pointer.set(p);
        });
    }
    let on_field = {
        let pointer = pointer.clone();
        let text = text.clone();
        let fields = view.fields.clone();
        Callback::from(move |e: Event| {
            let p = event_value(&e);
            text.set(
                fields
                    .iter()
                    .find(|f| f.pointer == p)
                    .map(|f| f.value.clone())
                    .unwrap_or_default(),
            );
            pointer.set(p);
        })
    };
    let on_text = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(area) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
            {
                text.set(area.value());
            }
        })
    };
    let is_field = view.fields.iter().any(|f| f.pointer == *pointer);
    let onsubmit = {
        let studio = studio.clone();
        let pointer = pointer.clone();
        let text = text.clone();
        let record = view.record;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if pointer.is_empty() {
                return;
            }
            studio.send(Request::Apply(Op::Edit {
                record,
                pointer: (*pointer).clone(),
                value: (*text).clone(),
            }));
        })
    };
    html! {
        <form class="fix-form" {onsubmit} aria-labelledby="fix-title">
            <h3 id="fix-title">{ "Fix in place" }</h3>
            <div class="field">
                <label for="fix-field">{ "Field" }</label>
                <select id="fix-field" onchange={on_field}>
                    if !is_field && !pointer.is_empty() {
                        <option value={(*pointer).clone()} selected=true>{ format!("{} (add it)", *pointer) }</option>
                    }
                    for f in view.fields.iter() {
                        <option value={f.pointer.clone()} selected={f.pointer == *pointer}>{ &f.pointer }</option>
                    }
                </select>
            </div>
            <div class="field">
                <label for="fix-text">{ "Text" }</label>
                <textarea id="fix-text" rows="4" value={(*text).clone()} oninput={on_text} data-testid="fix-text" />
            </div>
            <button type="submit" class="button button-primary" disabled={studio.state.is_changing() || studio.running(Job::Record)}>
                { "Save the fix" }
            </button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_covers_the_rows_in_view_and_some_around() {
        assert_eq!(window(0.0, 1000), (0, 53));
        let (start, end) = window(ROW_HEIGHT * 500.0, 1000);
        assert_eq!(start, 460);
        assert!(end > 500 + 12 && end <= 1000);
        assert_eq!(window(0.0, 5), (0, 5));
        assert_eq!(window(0.0, 0), (0, 0));
        // A position left from a longer list shows the rows there are.
        assert_eq!(window(ROW_HEIGHT * 10_000.0, 5), (0, 5));
        assert_eq!(window(ROW_HEIGHT * 10_000.0, 100), (48, 100));
    }

    #[test]
    fn the_box_fits_short_lists() {
        assert_eq!(box_height(None), VIEW_HEIGHT);
        assert_eq!(box_height(Some(0)), 3.0 * ROW_HEIGHT);
        assert_eq!(box_height(Some(5)), 5.0 * ROW_HEIGHT);
        assert_eq!(box_height(Some(500)), VIEW_HEIGHT);
    }

    #[test]
    fn the_last_row_can_be_scrolled_to() {
        let total = 500;
        let bottom = scroll_height(total) - VIEW_HEIGHT;
        let (start, end) = window(bottom, total);
        assert_eq!(end, total);
        assert!(start < total - 12);
        let last = row_top(total - 1, bottom, total);
        assert_eq!(last, (total - 1) as f64 * ROW_HEIGHT);
        assert!(last >= bottom && last + ROW_HEIGHT <= bottom + VIEW_HEIGHT);
    }

    #[test]
    fn very_long_lists_scroll_proportionally_within_the_height_browsers_allow() {
        let total = 2_000_000;
        assert_eq!(scroll_height(total), MAX_SCROLL_HEIGHT);
        // The top shows the first rows, one for one.
        assert_eq!(window(0.0, total), (0, 53));
        assert_eq!(row_top(0, 0.0, total), 0.0);
        // The bottom shows the last rows, at the bottom of the content.
        let bottom = MAX_SCROLL_HEIGHT - VIEW_HEIGHT;
        let (start, end) = window(bottom, total);
        assert_eq!(end, total);
        assert!(start < total - 12);
        let last = row_top(total - 1, bottom, total);
        assert!(
            (last - (MAX_SCROLL_HEIGHT - ROW_HEIGHT)).abs() < 1e-6,
            "{last}"
        );
        // In between, the rows in view are drawn in view, one row height apart.
        let middle = bottom / 2.0;
        let (start, end) = window(middle, total);
        assert!(start > 900_000 && end < 1_100_000, "{start}..{end}");
        let first = (rows_top(middle, total) / ROW_HEIGHT) as usize;
        let y = row_top(first, middle, total);
        assert!(y <= middle && middle < y + ROW_HEIGHT, "{y} vs {middle}");
        assert!((row_top(first + 1, middle, total) - y - ROW_HEIGHT).abs() < 1e-6);
    }
}
