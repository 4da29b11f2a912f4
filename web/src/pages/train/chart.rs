//! A line chart of values over training steps (SVG, no library): loss, learning rate, gradient
//! norm, tokens per second, the preference metrics.

use yew::prelude::*;

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// One line: its name (for the legend) and its points `(step, value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: AttrValue,
    pub points: Vec<(f64, f64)>,
}

/// Props of [`LineChart`].
#[derive(Properties, PartialEq)]
pub struct LineChartProps {
    pub title: AttrValue,
    pub series: Vec<Series>,
    pub testid: AttrValue,
}

/// The range a chart shows for `values`: their min and max, widened when they are equal.
pub fn value_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return None;
    }
    if hi - lo < 1e-12 {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return Some((lo - pad, hi + pad));
    }
    Some((lo, hi))
}

/// A value as an axis label: 3 significant digits, exponent form when tiny or huge.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// SVG path of `points` scaled into the plot area.
pub fn path(points: &[(f64, f64)], x: (f64, f64), y: (f64, f64)) -> String {
    let sx = |v: f64| LEFT + (v - x.0) / (x.1 - x.0).max(1e-12) * (WIDTH - LEFT - RIGHT);
    let sy =
        |v: f64| HEIGHT - BOTTOM - (v - y.0) / (y.1 - y.0).max(1e-12) * (HEIGHT - TOP - BOTTOM);
    points
        .iter()
        .filter(|(_, v)| v.is_finite())
        .enumerate()
        .map(|(i, (a, b))| {
            format!(
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                sx(*a),
                sy(*b)
            )
        })
        .collect()
}

/// A line chart; the last value of each series is written under it (and tests read it there).
#[component]
pub fn LineChart(props: &LineChartProps) -> Html {
    let id = props.testid.to_string();
    let all = || props.series.iter().flat_map(|s| s.points.iter());
    let points = all().count();
    let y = value_range(all().map(|p| p.1));
    let x = value_range(all().map(|p| p.0)).map(|(lo, hi)| {
        if points == 1 {
            (lo, lo + 1.0)
        } else {
            (lo, hi)
        }
    });
    let last = |s: &Series| s.points.last().map(|p| p.1);
    let description = props
        .series
        .iter()
        .map(|s| match last(s) {
            Some(v) => format!("{}: {} points, last {}", s.name, s.points.len(), tick(v)),
            None => format!("{}: no points yet", s.name),
        })
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        <figure class="chart line-chart" data-testid={props.testid.clone()} data-points={points.to_string()}>
            <svg viewBox={format!("0 0 {WIDTH} {HEIGHT}")} role="img"
                aria-labelledby={format!("{id}-title {id}-desc")}>
                <title id={format!("{id}-title")}>{ &props.title }</title>
                <desc id={format!("{id}-desc")}>{ &description }</desc>
                <line class="axis" x1={LEFT.to_string()} y1={(HEIGHT - BOTTOM).to_string()}
                    x2={(WIDTH - RIGHT).to_string()} y2={(HEIGHT - BOTTOM).to_string()} />
                <line class="axis" x1={LEFT.to_string()} y1={TOP.to_string()}
                    x2={LEFT.to_string()} y2={(HEIGHT - BOTTOM).to_string()} />
                if let (Some(x), Some(y)) = (x, y) {
                    <text class="tick" x={(LEFT - 4.0).to_string()} y={(TOP + 8.0).to_string()} text-anchor="end">{ tick(y.1) }</text>
                    <text class="tick" x={(LEFT - 4.0).to_string()} y={(HEIGHT - BOTTOM).to_string()} text-anchor="end">{ tick(y.0) }</text>
                    <text class="tick" x={LEFT.to_string()} y={(HEIGHT - 6.0).to_string()} text-anchor="start">{ format!("step {}", x.0) }</text>
                    <text class="tick" x={(WIDTH - RIGHT).to_string()} y={(HEIGHT - 6.0).to_string()} text-anchor="end">{ format!("{}", x.1) }</text>
                    for (i, s) in props.series.iter().enumerate() {
                        <path class={format!("line line-{i}")} d={path(&s.points, x, y)} />
                    }
                }
            </svg>
            <figcaption>
                <span class="chart-title">{ &props.title }</span>
                for (i, s) in props.series.iter().enumerate() {
                    <span class={format!("legend legend-{i}")} data-testid={format!("{id}-last-{i}")}>
                        { if props.series.len() > 1 { format!("{} ", s.name) } else { String::new() } }
                        { last(s).map(tick).unwrap_or_else(|| "–".into()) }
                    </span>
                }
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_widen_when_flat() {
        assert_eq!(value_range([1.0, 3.0].into_iter()), Some((1.0, 3.0)));
        assert_eq!(value_range([2.0].into_iter()), Some((1.8, 2.2)));
        assert_eq!(value_range([f64::NAN].into_iter()), None);
    }

    #[test]
    fn paths_span_the_plot() {
        let d = path(&[(1.0, 0.0), (2.0, 1.0)], (1.0, 2.0), (0.0, 1.0));
        assert_eq!(
            d,
            format!(
                "M{LEFT:.1},{:.1} L{:.1},{TOP:.1}",
                HEIGHT - BOTTOM,
                WIDTH - RIGHT
            )
        );
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.0002), "2.0e-4");
        assert_eq!(tick(2.345), "2.35");
        assert_eq!(tick(0.5), "0.500");
        assert_eq!(tick(5120.4), "5120");
    }
}
