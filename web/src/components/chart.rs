//! Charts drawn as inline SVG: a histogram (with an optional marker line, e.g. the maximum
//! length) and a horizontal bar chart. Each is an `img` with a title and a one-sentence
//! description for screen readers; the numbers are also in each bar's tooltip.

use ajuste_shared::stats::Histogram;
use yew::prelude::*;

use crate::format;

/// Size of the drawing (scaled to the page width by CSS).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

/// Props of [`HistogramChart`].
#[derive(Properties, PartialEq)]
pub struct HistogramProps {
    pub title: AttrValue,
    pub histogram: Histogram,
    /// What the values count ("characters", "tokens", "turns").
    pub unit: AttrValue,
    /// A value to mark with a vertical line and its label (e.g. the maximum length).
    #[prop_or_default]
    pub marker: Option<(usize, AttrValue)>,
    pub testid: AttrValue,
}

/// A bar of a chart, in drawing coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The bars of a histogram's `counts` in the plot area, tallest reaching the top.
pub fn histogram_bars(counts: &[usize]) -> Vec<Bar> {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let w = plot_w / counts.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let h = plot_h * c as f64 / max;
            Bar {
                x: LEFT + i as f64 * w + 1.0,
                y: TOP + plot_h - h,
                width: (w - 2.0).max(1.0),
                height: h,
            }
        })
        .collect()
}

/// Where `value` falls on the x axis of a histogram with `edges` (clamped to the plot).
pub fn x_of(edges: &[usize], value: usize) -> f64 {
    let (lo, hi) = match (edges.first(), edges.last()) {
        (Some(&lo), Some(&hi)) if hi > lo => (lo as f64, hi as f64),
        _ => return LEFT,
    };
    let t = ((value as f64 - lo) / (hi - lo)).clamp(0.0, 1.0);
    LEFT + t * (WIDTH - LEFT - RIGHT)
}

/// A histogram of record sizes.
#[component]
pub fn HistogramChart(props: &HistogramProps) -> Html {
    let h = &props.histogram;
    let bars = histogram_bars(&h.counts);
    let id = format!("chart-{}", props.testid);
    let s = &h.summary;
    let description = format!(
        "{} records; {} from {} to {}, median {}, 90th percentile {}.",
        format::count(s.count as u64),
        props.unit,
        format::count(s.min as u64),
        format::count(s.max as u64),
        format::count(s.p50 as u64),
        format::count(s.p90 as u64)
    );
    let max_count = h.counts.iter().copied().max().unwrap_or(0);
    // About six labels along the x axis.
    let step = h.edges.len().div_ceil(6).max(1);
    let base = HEIGHT - BOTTOM;
    html! {
        <figure class="chart chart-histogram" data-testid={props.testid.clone()}>
            <svg viewBox={format!("0 0 {WIDTH} {HEIGHT}")} role="img"
                aria-labelledby={format!("{id}-title {id}-desc")}>
                <title id={format!("{id}-title")}>{ &props.title }</title>
                <desc id={format!("{id}-desc")}>{ &description }</desc>
                <line class="axis" x1={LEFT.to_string()} y1={base.to_string()}
                    x2={(WIDTH - RIGHT).to_string()} y2={base.to_string()} />
                <text class="tick" x={(LEFT - 6.0).to_string()} y={(TOP + 8.0).to_string()} text-anchor="end">
                    { format::count(max_count as u64) }
                </text>
                <text class="tick" x={(LEFT - 6.0).to_string()} y={base.to_string()} text-anchor="end">{ "0" }</text>
                for (i, bar) in bars.iter().enumerate() {
                    <rect class="bar" x={bar.x.to_string()} y={bar.y.to_string()}
                        width={bar.width.to_string()} height={bar.height.to_string()}>
                        <title>{ format!("{} to {} {}: {} records",
                            format::count(h.edges[i] as u64),
                            format::count(h.edges.get(i + 1).copied().unwrap_or(h.edges[i]) as u64),
                            props.unit,
                            format::count(h.counts[i] as u64)) }</title>
                    </rect>
                }
                for (i, edge) in h.edges.iter().enumerate().filter(|(i, _)| i % step == 0) {
                    <text class="tick" x={x_of(&h.edges, *edge).to_string()} y={(base + 14.0).to_string()}
                        text-anchor={if i == 0 { "start" } else { "middle" }}>
                        { format::count(*edge as u64) }
                    </text>
                }
                <text class="axis-label" x={(WIDTH - RIGHT).to_string()} y={(HEIGHT - 4.0).to_string()} text-anchor="end">
                    { &props.unit }
                </text>
                if let Some((value, label)) = &props.marker {
                    <line class="marker" x1={x_of(&h.edges, *value).to_string()} y1={TOP.to_string()}
                        x2={x_of(&h.edges, *value).to_string()} y2={base.to_string()} />
                    <text class="marker-label" x={(x_of(&h.edges, *value) - 4.0).to_string()}
                        y={(TOP + 10.0).to_string()} text-anchor="end">
                        { label }
                    </text>
                }
            </svg>
            <figcaption>{ &props.title }{ ": " }{ description }</figcaption>
        </figure>
    }
}

/// Props of [`BarChart`].
#[derive(Properties, PartialEq)]
pub struct BarChartProps {
    pub title: AttrValue,
    /// Label and count of each bar, in the order to draw them.
    pub items: Vec<(String, usize)>,
    pub testid: AttrValue,
}

/// Row height of a bar chart.
const ROW: f64 = 22.0;
const LABEL_W: f64 = 150.0;
/// Room right of the longest bar for its value ("123,456 (100%)").
const VALUE_W: f64 = 110.0;
/// Characters of a bar's label shown (the whole label is in the bar's tooltip).
const LABEL_CHARS: usize = 22;

/// `label` cut to [`LABEL_CHARS`] characters, with an ellipsis when it was longer.
pub fn short_label(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_owned()
    } else {
        let mut out: String = label.chars().take(LABEL_CHARS - 1).collect();
        out.push('…');
        out
    }
}

/// A horizontal bar chart (roles, languages, topics).
#[component]
pub fn BarChart(props: &BarChartProps) -> Html {
    let id = format!("chart-{}", props.testid);
    let max = props
        .items
        .iter()
        .map(|(_, c)| *c)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let total: usize = props.items.iter().map(|(_, c)| c).sum();
    let height = ROW * props.items.len().max(1) as f64 + 8.0;
    let plot_w = WIDTH - LABEL_W - VALUE_W;
    let description = props
        .items
        .iter()
        .map(|(label, c)| format!("{label} {}", format::count(*c as u64)))
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        <figure class="chart chart-bars" data-testid={props.testid.clone()}>
            <svg viewBox={format!("0 0 {WIDTH} {height}")} role="img"
                aria-labelledby={format!("{id}-title {id}-desc")}>
                <title id={format!("{id}-title")}>{ &props.title }</title>
                <desc id={format!("{id}-desc")}>{ &description }</desc>
                for (i, (label, count)) in props.items.iter().enumerate() {
                    <text class="bar-label" x={(LABEL_W - 8.0).to_string()}
                        y={(4.0 + i as f64 * ROW + 15.0).to_string()} text-anchor="end">{ short_label(label) }</text>
                    <rect class="bar" x={LABEL_W.to_string()} y={(4.0 + i as f64 * ROW + 3.0).to_string()}
                        width={(plot_w * *count as f64 / max).max(1.0).to_string()} height={(ROW - 6.0).to_string()}>
                        <title>{ format!("{label}: {}", format::count(*count as u64)) }</title>
                    </rect>
                    <text class="bar-value" x={(LABEL_W + plot_w * *count as f64 / max + 6.0).to_string()}
                        y={(4.0 + i as f64 * ROW + 15.0).to_string()}>
                        { format!("{} ({:.0}%)", format::count(*count as u64), 100.0 * *count as f64 / total.max(1) as f64) }
                    </text>
                }
            </svg>
            <figcaption>{ &props.title }{ ": " }{ description }</figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tallest_bar_fills_the_plot_and_bars_do_not_overlap() {
        let bars = histogram_bars(&[2, 4, 0, 1]);
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert_eq!(bars[1].height, plot_h);
        assert_eq!(bars[1].y, TOP);
        assert_eq!(bars[0].height, plot_h / 2.0);
        assert_eq!(bars[2].height, 0.0);
        for pair in bars.windows(2) {
            assert!(pair[0].x + pair[0].width < pair[1].x);
        }
        assert!(histogram_bars(&[]).is_empty());
    }

    #[test]
    fn markers_are_placed_on_the_axis_and_clamped() {
        let edges = [0, 100, 200, 300, 400];
        assert_eq!(x_of(&edges, 0), LEFT);
        assert_eq!(x_of(&edges, 400), WIDTH - RIGHT);
        assert_eq!(x_of(&edges, 10_000), WIDTH - RIGHT);
        let mid = x_of(&edges, 200);
        assert!((mid - (LEFT + (WIDTH - LEFT - RIGHT) / 2.0)).abs() < 1e-9);
        assert_eq!(x_of(&[], 5), LEFT);
    }

    #[test]
    fn long_bar_labels_are_cut() {
        assert_eq!(short_label("user"), "user");
        let long = "a topic with a name far too long for the chart";
        let cut = short_label(long);
        assert_eq!(cut.chars().count(), LABEL_CHARS);
        assert!(cut.ends_with('…') && long.starts_with(cut.trim_end_matches('…')));
    }
}
