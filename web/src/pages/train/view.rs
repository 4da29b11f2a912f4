//! What the Train page shows of the training worker: a pure reducer over its responses, so it
//! can be tested natively. The page's [`super::store`] owns one and re-renders on every change.

use std::collections::BTreeMap;

use ajuste_shared::train_protocol::{
    AdapterFile, ChatReply, ChatSide, ModelCheck, Probe, RunEvent, RunStart, StepPoint,
    TrainResponse,
};

/// An evaluation's metrics by name (`eval_loss`, ...); `None` where not a finite number.
pub type EvalMetrics = BTreeMap<String, Option<f64>>;

/// Where the worker stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum WorkerState {
    /// Its module is loading (the first time the Train page opens).
    #[default]
    Loading,
    Ready,
    /// It stopped (a bug, or its module did not load); the message says why.
    Died(String),
}

/// Where the run stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    /// No run yet.
    #[default]
    Idle,
    /// The bundle is being made and the model loaded.
    Preparing,
    Running,
    /// Pause was asked for; the step under way ends first.
    Pausing,
    Paused,
    /// Stop was asked for; the step under way ends first, then the final evaluation.
    Stopping,
    /// All steps done, or stopped (`true`).
    Finished {
        stopped: bool,
    },
    /// Setting up or a step failed (the message is in [`TrainView::error`]).
    Failed,
}

impl Phase {
    /// Whether a run is alive (its loop may still take steps).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Phase::Preparing | Phase::Running | Phase::Pausing | Phase::Paused | Phase::Stopping
        )
    }

    /// Whether the run has a model to chat with and an adapter to download.
    pub fn has_model(self) -> bool {
        matches!(
            self,
            Phase::Running
                | Phase::Pausing
                | Phase::Paused
                | Phase::Stopping
                | Phase::Finished { .. }
        )
    }
}

/// The chat box: one reply per side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatState {
    pub busy: bool,
    pub base: Option<ChatReply>,
    pub adapter: Option<ChatReply>,
    pub error: Option<String>,
}

/// The adapter, ready to download: the worker's description and the object URLs of its files.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterDownload {
    pub file: AdapterFile,
    pub zip_url: String,
    pub weights_url: String,
    pub config_url: String,
    pub events_url: String,
}

/// Everything the Train page knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainView {
    pub worker: WorkerState,
    pub probe: Option<Probe>,
    /// The last model check asked for, and its answer.
    pub check_id: u64,
    pub check: Option<Result<ModelCheck, String>>,
    pub phase: Phase,
    /// What the worker is doing now.
    pub status: Option<String>,
    pub run: Option<RunStart>,
    pub steps: Vec<StepPoint>,
    /// Evaluations: step and metrics.
    pub evals: Vec<(usize, EvalMetrics)>,
    /// The run's end: train loss, final loss, runtime, tokens/s.
    pub summary: Option<RunEvent>,
    pub chat: ChatState,
    pub adapter_busy: bool,
    pub adapter: Option<AdapterDownload>,
    /// The last failure: what (`probe`, `model`, `start`, `run`, `chat`, `adapter`) and why.
    pub error: Option<(String, String)>,
    /// When training began and ended (the page's clock, milliseconds).
    pub started_ms: Option<f64>,
    pub ended_ms: Option<f64>,
}

impl TrainView {
    /// Applies the worker's answer to request `id`, at `now_ms`.
    pub fn apply(&mut self, id: u64, response: TrainResponse, now_ms: f64) {
        self.worker = WorkerState::Ready;
        match response {
            TrainResponse::Probed(p) => self.probe = Some(p),
            TrainResponse::Checked(c) => {
                if id == self.check_id {
                    self.check = Some(Ok(c));
                }
            }
            TrainResponse::Status(s) => self.status = Some(s),
            TrainResponse::Started(start) => {
                self.run = Some(*start);
                self.steps.clear();
                self.evals.clear();
                self.summary = None;
                self.adapter = None;
                self.chat = ChatState::default();
                self.started_ms = Some(now_ms);
                self.ended_ms = None;
                if self.phase == Phase::Preparing {
                    self.phase = Phase::Running;
                }
            }
            TrainResponse::Event(e) => match e {
                RunEvent::Step(p) => self.steps.push(p),
                RunEvent::Eval { step, metrics } => self.evals.push((step, metrics)),
                summary @ RunEvent::Summary { .. } => self.summary = Some(summary),
            },
            TrainResponse::Paused { .. } => {
                if self.phase != Phase::Stopping {
                    self.phase = Phase::Paused;
                }
                self.status = Some("Paused".into());
            }
            TrainResponse::Resumed { .. } => {
                if self.phase == Phase::Paused || self.phase == Phase::Pausing {
                    self.phase = Phase::Running;
                }
                self.status = Some("Training".into());
            }
            TrainResponse::Finished { stopped, .. } => {
                self.phase = Phase::Finished { stopped };
                self.ended_ms = Some(now_ms);
                self.status = None;
            }
            TrainResponse::Chat(reply) => {
                let finished_adapter = reply.side == ChatSide::Adapter && reply.done.is_some();
                match reply.side {
                    ChatSide::Base => self.chat.base = Some(reply),
                    ChatSide::Adapter => self.chat.adapter = Some(reply),
                }
                if finished_adapter {
                    self.chat.busy = false;
                }
            }
            TrainResponse::Adapter(_) => {
                // The store turns the bytes into URLs and calls `adapter_ready`.
            }
            TrainResponse::Failed { what, message } => {
                match what.as_str() {
                    "model" if id == self.check_id => {
                        self.check = Some(Err(message.clone()));
                    }
                    "chat" => {
                        self.chat.busy = false;
                        self.chat.error = Some(message.clone());
                    }
                    "adapter" => self.adapter_busy = false,
                    "start" | "run" => {
                        self.phase = Phase::Failed;
                        self.status = None;
                        self.ended_ms = Some(now_ms);
                    }
                    _ => {}
                }
                // Model checks and chats show their failures where they happened.
                if what != "chat" && what != "model" {
                    self.error = Some((what, message));
                }
            }
        }
    }

    /// The adapter's files are ready to download.
    pub fn adapter_ready(&mut self, download: AdapterDownload) {
        self.adapter_busy = false;
        self.adapter = Some(download);
    }

    /// A run is being asked for: clears the last one's results.
    pub fn preparing(&mut self) {
        self.phase = Phase::Preparing;
        self.status = Some("Preparing the bundle".into());
        self.error = None;
        self.run = None;
        self.steps.clear();
        self.evals.clear();
        self.summary = None;
        self.adapter = None;
        self.chat = ChatState::default();
    }

    /// The first and the last evaluation (before and after training), when there are two.
    pub fn eval_before_after(&self) -> Option<(&EvalMetrics, Option<&EvalMetrics>)> {
        let (first_step, first) = self.evals.first()?;
        let last = self
            .evals
            .last()
            .filter(|(step, _)| *step != *first_step)
            .map(|(_, m)| m);
        Some((first, last))
    }

    /// Steps per second of the run so far (from the steps' own times, so pauses do not count).
    pub fn steps_per_s(&self) -> Option<f64> {
        let seconds: f64 = self.steps.iter().filter_map(|s| s.seconds).sum();
        (seconds > 0.0).then(|| self.steps.len() as f64 / seconds)
    }

    /// The series of a step value over the run: `(step, value)`.
    pub fn series(&self, value: impl Fn(&StepPoint) -> Option<f64>) -> Vec<(f64, f64)> {
        self.steps
            .iter()
            .filter_map(|s| value(s).map(|v| (s.step as f64, v)))
            .collect()
    }

    /// The names of the objective's metrics the run logs (`rewards/accuracies`, ...), in order.
    pub fn metric_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for s in &self.steps {
            for k in s.metrics.keys() {
                if !names.contains(k) {
                    names.push(k.clone());
                }
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ajuste_shared::config::{AdapterKind, Method, TrainConfig};
    use ajuste_shared::train_protocol::Backend;

    fn step(n: usize, loss: f64) -> TrainResponse {
        TrainResponse::Event(RunEvent::Step(StepPoint {
            step: n,
            loss: Some(loss),
            lr: Some(1e-3),
            grad_norm: Some(1.0),
            tokens_per_s: Some(100.0),
            seconds: Some(0.5),
            metrics: BTreeMap::from([("mean_token_accuracy".to_owned(), Some(0.2))]),
        }))
    }

    fn started() -> TrainResponse {
        TrainResponse::Started(Box::new(RunStart {
            backend: Backend::Cpu,
            model: "micro".into(),
            method: Method::Sft,
            adapter: AdapterKind::Lora,
            total_steps: 3,
            train_examples: 10,
            eval_examples: 2,
            trainable_params: 100,
            warnings: vec![],
            config: TrainConfig::for_method(Method::Sft),
            setup_s: 0.1,
        }))
    }

    #[test]
    fn a_run_goes_from_preparing_to_finished() {
        let mut v = TrainView::default();
        v.preparing();
        assert_eq!(v.phase, Phase::Preparing);
        v.apply(1, started(), 10.0);
        assert_eq!(v.phase, Phase::Running);
        v.apply(1, step(1, 2.0), 11.0);
        v.apply(1, step(2, 1.5), 12.0);
        v.apply(
            1,
            TrainResponse::Event(RunEvent::Eval {
                step: 0,
                metrics: BTreeMap::from([("eval_loss".to_owned(), Some(2.1))]),
            }),
            12.0,
        );
        v.phase = Phase::Pausing;
        v.apply(1, TrainResponse::Paused { step: 2 }, 13.0);
        assert_eq!(v.phase, Phase::Paused);
        v.apply(1, TrainResponse::Resumed { step: 2 }, 14.0);
        assert_eq!(v.phase, Phase::Running);
        v.apply(
            1,
            TrainResponse::Event(RunEvent::Eval {
                step: 3,
                metrics: BTreeMap::from([("eval_loss".to_owned(), Some(1.4))]),
            }),
            15.0,
        );
        v.apply(
            1,
            TrainResponse::Finished {
                step: 3,
                stopped: false,
            },
            16.0,
        );
        assert_eq!(v.phase, Phase::Finished { stopped: false });
        assert_eq!(v.series(|s| s.loss), [(1.0, 2.0), (2.0, 1.5)]);
        assert_eq!(v.steps_per_s(), Some(2.0));
        let (before, after) = v.eval_before_after().unwrap();
        assert_eq!(before["eval_loss"], Some(2.1));
        assert_eq!(after.unwrap()["eval_loss"], Some(1.4));
        assert_eq!(v.metric_names(), ["mean_token_accuracy"]);
    }

    #[test]
    fn failures_land_where_they_belong() {
        let mut v = TrainView {
            check_id: 2,
            ..TrainView::default()
        };
        let failed = |what: &str| TrainResponse::Failed {
            what: what.into(),
            message: "no".into(),
        };
        // A stale check's failure is ignored; the current one's is shown.
        v.apply(1, failed("model"), 0.0);
        assert_eq!(v.check, None);
        v.apply(2, failed("model"), 0.0);
        assert_eq!(v.check, Some(Err("no".into())));
        v.chat.busy = true;
        v.apply(3, failed("chat"), 0.0);
        assert!(!v.chat.busy && v.chat.error.is_some());
        v.preparing();
        v.apply(4, failed("start"), 0.0);
        assert_eq!(v.phase, Phase::Failed);
        assert_eq!(v.error.as_ref().map(|e| e.0.as_str()), Some("start"));
    }
}
