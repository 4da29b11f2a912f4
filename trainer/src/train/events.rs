//! What a training run reports, one JSON object per line of `events.jsonl`: the CLI's progress
//! display and the studio's charts read the same events.
//!
//! Every event has an `event` field naming its kind. Metric names are TRL's (`rewards/chosen`,
//! `logps/rejected`, `kl`, `mean_token_accuracy`, ...); evaluation metrics carry an `eval_`
//! prefix (`eval_loss`, `eval_perplexity`, `eval_rewards/accuracies`), as the Hugging Face Trainer
//! writes them.
//!
//! ```json
//! {"event":"step","step":3,"epoch":0.75,"loss":2.31,"lr":0.0002,"grad_norm":1.7,"tokens_per_s":5120.4,"tokens":512,"elapsed_s":0.4,"mean_token_accuracy":0.41}
//! {"event":"eval","step":4,"epoch":1.0,"eval_loss":2.2,"eval_perplexity":9.03,"eval_mean_token_accuracy":0.43}
//! ```

use serde::{Deserialize, Serialize};

use crate::objective::Metrics;

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run begins (or resumes).
    Start(StartEvent),
    /// An optimiser step was taken.
    Step(StepEvent),
    /// The model was evaluated on the eval set.
    Eval(EvalEvent),
    /// A checkpoint was written.
    Checkpoint(CheckpointEvent),
    /// The run ended.
    Summary(SummaryEvent),
}

impl Event {
    /// The optimiser step the event belongs to.
    pub fn step(&self) -> usize {
        match self {
            Event::Start(e) => e.step,
            Event::Step(e) => e.step,
            Event::Eval(e) => e.step,
            Event::Checkpoint(e) => e.step,
            Event::Summary(e) => e.steps,
        }
    }
}

/// The run's shape, reported once when it starts or resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartEvent {
    /// Steps already done (0, or the checkpoint's step on resume).
    pub step: usize,
    /// Optimiser steps the run will take in all.
    pub total_steps: usize,
    /// The training method (`sft`, `dpo`, ...).
    pub method: String,
    /// Training examples (records that have trained tokens).
    pub train_examples: usize,
    /// Evaluation examples.
    pub eval_examples: usize,
    /// Micro-batches in one pass over the training examples.
    pub batches_per_epoch: usize,
    /// Values the optimiser updates.
    pub trainable_params: usize,
    /// Steps of learning-rate warm-up.
    pub warmup_steps: usize,
}

/// One optimiser step. `loss` is the mean loss of the step's micro-batches, computed before the
/// step's update (what the Hugging Face Trainer logs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// Optimiser steps done, this one included (1 for the first).
    pub step: usize,
    /// Passes over the training data so far, fractional.
    pub epoch: f64,
    /// The step's loss (mean over its micro-batches).
    pub loss: f64,
    /// The learning rate the step was taken with.
    pub lr: f64,
    /// Global L2 norm of the gradients, before clipping.
    pub grad_norm: f64,
    /// Real (non-padding) input tokens of the step per second of its wall time.
    pub tokens_per_s: f64,
    /// Real input tokens of the step.
    pub tokens: usize,
    /// Seconds since the run (or the resumed part of it) started.
    pub elapsed_s: f64,
    /// The objective's metrics (TRL names), averaged over the micro-batches.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// An evaluation: every metric name starts with `eval_`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalEvent {
    /// Optimiser steps done when it ran.
    pub step: usize,
    /// Passes over the training data so far.
    pub epoch: f64,
    /// `eval_loss` and the objective's metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// A checkpoint was saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointEvent {
    /// The step it holds.
    pub step: usize,
    /// Where it was written (relative to the run directory when written there).
    pub path: String,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryEvent {
    /// Optimiser steps done.
    pub steps: usize,
    /// Passes over the training data.
    pub epoch: f64,
    /// Mean of the step losses of the run (the Hugging Face Trainer's `train_loss`); on a
    /// resumed run, of the steps taken since the resume.
    pub train_loss: f64,
    /// The last step's loss.
    pub final_loss: f64,
    /// Wall time of the run (or of its resumed part), seconds.
    pub runtime_s: f64,
    /// Real input tokens per second over the run.
    pub tokens_per_s: f64,
    /// The last evaluation's metrics, if there was an eval set.
    #[serde(flatten)]
    pub eval: Metrics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_events_flatten_metrics_and_read_back() {
        let mut metrics = Metrics::new();
        metrics.insert("rewards/accuracies", 0.75);
        metrics.insert("kl", 0.0);
        let event = Event::Step(StepEvent {
            step: 3,
            epoch: 0.5,
            loss: 0.69,
            lr: 1e-4,
            grad_norm: 1.5,
            tokens_per_s: 100.0,
            tokens: 40,
            elapsed_s: 0.4,
            metrics,
        });
        let json = serde_json::to_string(&event).unwrap();
        assert!(
            json.starts_with(r#"{"event":"step","step":3,"epoch":0.5,"loss":0.69"#),
            "{json}"
        );
        assert!(
            json.contains(r#""rewards/accuracies":0.75,"kl":0.0"#),
            "{json}"
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.step(), 3);
    }

    #[test]
    fn eval_and_summary_events_read_back() {
        let mut metrics = Metrics::new();
        metrics.insert("eval_loss", 1.25);
        metrics.insert("eval_perplexity", 1.25f64.exp());
        let events = [
            Event::Eval(EvalEvent {
                step: 4,
                epoch: 1.0,
                metrics: metrics.clone(),
            }),
            Event::Summary(SummaryEvent {
                steps: 4,
                epoch: 1.0,
                train_loss: 2.0,
                final_loss: 1.5,
                runtime_s: 3.0,
                tokens_per_s: 10.0,
                eval: metrics,
            }),
        ];
        for event in events {
            let json = serde_json::to_string(&event).unwrap();
            assert!(json.contains(r#""eval_loss":1.25"#), "{json}");
            assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        }
    }
}
