//! Learning-rate schedules: transformers' `get_constant_schedule_with_warmup`,
//! `get_linear_schedule_with_warmup` and `get_cosine_schedule_with_warmup`, formula for formula.
//!
//! A schedule maps the number of optimiser steps already taken (0 for the first step) to a factor
//! of the peak learning rate. transformers' `LambdaLR` calls its lambda with the same argument:
//! the first update uses `lambda(0)`, so with warm-up it is taken at a learning rate of 0, exactly
//! as in a Hugging Face run. Warm-up lasts `ceil(warmup_ratio * total_steps)` steps
//! (`TrainingArguments.get_warmup_steps`).
//!
//! The one difference is what gets logged: the Trainer logs the rate *after* its scheduler has
//! stepped (the next step's), ajuste logs the rate each step was taken with.

use ajuste_shared::config::Schedule;

/// A warm-up followed by a constant, linear or cosine decay over a known number of steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// The peak learning rate.
    pub peak: f64,
    /// The shape after warm-up.
    pub kind: Schedule,
    /// Steps of linear warm-up from 0.
    pub warmup_steps: usize,
    /// All optimiser steps of the run.
    pub total_steps: usize,
}

impl LrSchedule {
    /// The schedule of a run of `total_steps` with `ceil(warmup_ratio * total_steps)` warm-up
    /// steps, as transformers derives them.
    pub fn new(peak: f64, kind: Schedule, warmup_ratio: f64, total_steps: usize) -> Self {
        LrSchedule {
            peak,
            kind,
            warmup_steps: warmup_steps(warmup_ratio, total_steps),
            total_steps,
        }
    }

    /// The factor of the peak rate after `step` optimiser steps (the `lr_lambda` of transformers).
    pub fn factor(&self, step: usize) -> f64 {
        let (step, warmup, total) = (
            step as f64,
            self.warmup_steps as f64,
            self.total_steps as f64,
        );
        if step < warmup {
            return step / warmup.max(1.0);
        }
        match self.kind {
            Schedule::Constant => 1.0,
            Schedule::Linear => ((total - step) / (total - warmup).max(1.0)).max(0.0),
            Schedule::Cosine => {
                // num_cycles = 0.5: half a cosine from 1 down to 0 over the decay.
                let progress = (step - warmup) / (total - warmup).max(1.0);
                (0.5 * (1.0 + (std::f64::consts::PI * 0.5 * 2.0 * progress).cos())).max(0.0)
            }
        }
    }

    /// The learning rate the step after `step` steps is taken with.
    pub fn lr(&self, step: usize) -> f64 {
        self.peak * self.factor(step)
    }
}

/// `ceil(warmup_ratio * total_steps)`, transformers' `get_warmup_steps`.
pub fn warmup_steps(warmup_ratio: f64, total_steps: usize) -> usize {
    (warmup_ratio * total_steps as f64).ceil().max(0.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rounds_up() {
        assert_eq!(warmup_steps(0.03, 100), 3);
        assert_eq!(warmup_steps(0.03, 10), 1);
        assert_eq!(warmup_steps(0.0, 10), 0);
        assert_eq!(warmup_steps(0.1, 25), 3);
    }

    #[test]
    fn warmup_starts_at_zero_and_reaches_the_peak() {
        let s = LrSchedule::new(1e-3, Schedule::Cosine, 0.2, 10);
        assert_eq!(s.warmup_steps, 2);
        assert_eq!(s.lr(0), 0.0);
        assert_eq!(s.lr(1), 0.5e-3);
        assert_eq!(s.lr(2), 1e-3);
    }

    #[test]
    fn decays_end_at_zero_and_constant_stays() {
        for kind in [Schedule::Linear, Schedule::Cosine] {
            let s = LrSchedule::new(1.0, kind, 0.0, 8);
            assert_eq!(s.factor(0), 1.0);
            assert!(s.factor(8).abs() < 1e-12, "{kind:?}");
            assert!(s.factor(4) > 0.0 && s.factor(4) < 1.0);
        }
        let c = LrSchedule::new(2.0, Schedule::Constant, 0.5, 4);
        assert_eq!((c.lr(1), c.lr(2), c.lr(3)), (1.0, 2.0, 2.0));
    }

    /// transformers' schedulers, as tests/golden/train.py records them.
    #[test]
    fn every_step_matches_transformers() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/golden/train/schedules.json"
        );
        let cases: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        for case in cases.as_array().unwrap() {
            let kind = match case["kind"].as_str().unwrap() {
                "constant" => Schedule::Constant,
                "linear" => Schedule::Linear,
                _ => Schedule::Cosine,
            };
            let total = case["total_steps"].as_u64().unwrap() as usize;
            let s = LrSchedule::new(
                case["peak"].as_f64().unwrap(),
                kind,
                case["warmup_ratio"].as_f64().unwrap(),
                total,
            );
            assert_eq!(
                s.warmup_steps as u64,
                case["warmup_steps"].as_u64().unwrap()
            );
            for (step, want) in case["lrs"].as_array().unwrap().iter().enumerate() {
                let want = want.as_f64().unwrap();
                assert!(
                    (s.lr(step) - want).abs() <= 1e-15,
                    "{kind:?} {total} step {step}: {} vs {want}",
                    s.lr(step)
                );
            }
        }
    }
}
