//! The trainer's events as the page receives them, and as `events.jsonl` holds them.

use std::collections::BTreeMap;

use ajuste_shared::train_protocol::{RunEvent, StepPoint, finite};
use ajuste_trainer::objective::Metrics;
use ajuste_trainer::train::events::Event;

/// The line `ajuste train` writes to `events.jsonl` for `event`.
pub fn jsonl_line(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

/// `event` for the page; `None` for the ones it does not show (start, checkpoints).
pub fn run_event(event: &Event) -> Option<RunEvent> {
    match event {
        Event::Step(s) => Some(RunEvent::Step(StepPoint {
            step: s.step,
            loss: finite(s.loss),
            lr: finite(s.lr),
            grad_norm: finite(s.grad_norm),
            tokens_per_s: finite(s.tokens_per_s),
            seconds: (s.tokens_per_s > 0.0).then(|| s.tokens as f64 / s.tokens_per_s),
            metrics: metrics(&s.metrics),
        })),
        Event::Eval(e) => Some(RunEvent::Eval {
            step: e.step,
            metrics: metrics(&e.metrics),
        }),
        Event::Summary(s) => Some(RunEvent::Summary {
            steps: s.steps,
            train_loss: finite(s.train_loss),
            final_loss: finite(s.final_loss),
            runtime_s: finite(s.runtime_s),
            tokens_per_s: finite(s.tokens_per_s),
        }),
        Event::Start(_) | Event::Checkpoint(_) => None,
    }
}

fn metrics(m: &Metrics) -> BTreeMap<String, Option<f64>> {
    m.iter().map(|(k, v)| (k.to_owned(), finite(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ajuste_trainer::train::events::StepEvent;

    #[test]
    fn steps_keep_their_metrics_and_lose_non_finite_values() {
        let mut m = Metrics::new();
        m.insert("rewards/accuracies", 0.5);
        m.insert("kl", f64::NAN);
        let e = Event::Step(StepEvent {
            step: 2,
            epoch: 0.5,
            loss: 0.7,
            lr: 1e-3,
            grad_norm: f64::INFINITY,
            tokens_per_s: 200.0,
            tokens: 100,
            elapsed_s: 1.0,
            metrics: m,
        });
        let Some(RunEvent::Step(p)) = run_event(&e) else {
            panic!("a step")
        };
        assert_eq!(p.step, 2);
        assert_eq!(p.grad_norm, None);
        assert_eq!(p.seconds, Some(0.5));
        assert_eq!(p.metrics["rewards/accuracies"], Some(0.5));
        assert_eq!(p.metrics["kl"], None);
        assert!(jsonl_line(&e).starts_with(r#"{"event":"step","step":2,"#));
    }
}
