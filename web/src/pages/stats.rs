//! The Statistics page: the prepared data (after cleaning and dedup) as charts: characters and
//! tokens per record against the maximum length, turns per record, roles, languages, and the
//! balance of labels or topics.

use std::rc::Rc;

use yew::prelude::*;

use crate::app::Route;
use crate::components::chart::{BarChart, HistogramChart};
use crate::components::page_header::PageHeader;
use crate::components::pending_step::NeedsDataset;
use crate::context::use_studio;
use crate::format;
use crate::pages::event_value;
use crate::protocol::{Request, StatsView, Summary};

/// Bars of a bar chart at most; the rest are summed into "other".
const MAX_BARS: usize = 12;

/// `items` sorted by count (highest first), the tail beyond `MAX_BARS - 1` summed as "other".
pub fn top_items(items: impl IntoIterator<Item = (String, usize)>) -> Vec<(String, usize)> {
    let mut items: Vec<(String, usize)> = items.into_iter().collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if items.len() > MAX_BARS {
        let other: usize = items[MAX_BARS - 1..].iter().map(|(_, c)| c).sum();
        items.truncate(MAX_BARS - 1);
        items.push(("other".to_owned(), other));
    }
    items
}

/// The page at [`Route::Stats`].
#[component]
pub fn StatsPage() -> Html {
    let studio = use_studio();
    let body = match studio.state.session.clone() {
        Some(summary) => html! { <Stats {summary} /> },
        None => html! { <NeedsDataset route={Route::Stats} /> },
    };
    html! {
        <>
            <PageHeader route={Route::Stats} />
            { body }
        </>
    }
}

#[derive(Properties, PartialEq)]
struct StatsProps {
    summary: Rc<Summary>,
}

#[component]
fn Stats(props: &StatsProps) -> Html {
    let studio = use_studio();
    let s = &props.summary;
    let max_length = use_state(|| s.max_length);
    {
        let studio = studio.clone();
        use_effect_with((*max_length, s.generation), move |(max_length, _)| {
            studio.send(Request::Stats {
                max_length: *max_length,
            });
        });
    }
    let on_max = {
        let max_length = max_length.clone();
        Callback::from(move |e: Event| {
            if let Ok(n) = event_value(&e).parse::<usize>()
                && n > 0
            {
                max_length.set(n);
            }
        })
    };
    let view = studio
        .state
        .stats
        .clone()
        .filter(|v| v.generation == s.generation && v.max_length == *max_length);
    html! {
        <div class="stats">
            <div class="field field-inline">
                <label for="max-length">{ "Maximum length (tokens)" }</label>
                <input id="max-length" type="number" min="1" value={max_length.to_string()} onchange={on_max} />
                <span class="muted">{ format!(" the training config's is {}", format::count(s.max_length as u64)) }</span>
            </div>
            if let Some(v) = view {
                <Charts view={v} />
            } else {
                <p class="muted">{ "Computing…" }</p>
            }
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct ChartsProps {
    view: Rc<StatsView>,
}

#[component]
fn Charts(props: &ChartsProps) -> Html {
    let v = &props.view;
    let st = &v.stats;
    let marker = Some((
        v.max_length,
        AttrValue::from(format!("max length {}", v.max_length)),
    ));
    let roles = top_items(st.roles.iter().map(|(r, c)| (r.to_string(), *c)));
    let languages = top_items(st.languages.iter().map(|(l, c)| (l.clone(), *c)));
    let balance = top_items(st.balance.iter().map(|(k, c)| (k.clone(), *c)));
    html! {
        <>
            <p class="lede" data-testid="stats-summary">
                { format!("{} prepared; {} turns on average (from {} to {}).",
                    format::plural(st.records as u64, "record", "records"),
                    format!("{:.1}", st.turns.mean), st.turns.min, st.turns.max) }
                if let Some(over) = st.over_max_length {
                    <strong data-testid="over-max">{ format!(" {} longer than {} tokens.", format::plural(over as u64, "record is", "records are"), format::count(v.max_length as u64)) }</strong>
                }
                <span class="muted">{ format!(" ({:.0} ms)", v.ms) }</span>
            </p>
            <div class="charts">
                if let Some(tokens) = &st.tokens {
                    <HistogramChart title="Tokens per record" histogram={tokens.clone()} unit="tokens" marker={marker.clone()} testid="chart-tokens" />
                } else {
                    <p class="note" data-testid="no-tokens">{ "Load a tokenizer.json on the Template page to see tokens per record against the maximum length." }</p>
                }
                <HistogramChart title="Characters per record" histogram={st.chars.clone()} unit="characters" testid="chart-chars" />
                <HistogramChart title="Turns per record" histogram={v.turns.clone()} unit="turns" testid="chart-turns" />
                <BarChart title="Turns by role" items={roles} testid="chart-roles" />
                <BarChart title="Records by language" items={languages} testid="chart-languages" />
                if !balance.is_empty() {
                    <BarChart title="Balance (label or topic)" items={balance} testid="chart-balance" />
                }
            </div>
        </>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_sorted_and_the_tail_is_summed() {
        let items = (0..20).map(|i| (format!("l{i:02}"), i));
        let top = top_items(items);
        assert_eq!(top.len(), MAX_BARS);
        assert_eq!(top[0], ("l19".to_owned(), 19));
        assert_eq!(top.last().unwrap().0, "other");
        assert_eq!(
            top.iter().map(|(_, c)| c).sum::<usize>(),
            (0..20).sum::<usize>()
        );
        assert_eq!(top_items([("a".to_owned(), 1)]), [("a".to_owned(), 1)]);
    }
}
