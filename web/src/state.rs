//! The studio's state and the actions that change it: a pure reducer, no browser APIs.
//!
//! Every page reads this state from context (see [`crate::app`]); browser work (reading files,
//! fetching the sample, talking to the worker) happens in the app shell, which reports back
//! by dispatching [`Action`]s. Keeping the reducer pure lets it be tested natively.

use std::rc::Rc;

use yew::Reducible;

use ajuste_shared::Finding;

use crate::analysis::{Analysis, AnalysisError};
use crate::inspect::InspectError;

/// Everything the studio knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    /// The file being loaded, loaded, or that failed to load.
    pub load: LoadState,
}

/// Where loading a dataset stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum LoadState {
    /// Nothing loaded yet.
    #[default]
    Idle,
    /// A file is being read and inspected.
    Reading {
        /// Identifies this load; results carrying another ticket are stale and ignored.
        ticket: u64,
        name: String,
        /// Size in bytes, when known before reading (a picked file; not a fetched sample).
        size: Option<u64>,
    },
    /// A file was read and inspected.
    Ready(LoadedFile),
    /// The last file could not be loaded.
    Failed(LoadFailure),
}

/// A dataset file that has been read and loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedFile {
    /// The file name as the user picked it (or the sample's name).
    pub name: String,
    /// Size, line counts, format, record and finding counts.
    pub analysis: Analysis,
}

/// A file that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFailure {
    pub name: String,
    pub reason: FailureReason,
}

/// Why a load failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FailureReason {
    /// The bytes are not a dataset (empty, binary, not UTF-8, ...).
    #[error("{0}")]
    Inspect(#[from] InspectError),
    /// The loader refused the whole file (unknown format, no records, ...).
    #[error("{}", .0.message)]
    Load(Finding),
    /// The browser could not read the file or fetch the sample.
    #[error("The file could not be read: {0}")]
    Read(String),
}

/// What can happen to the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Starts loading a file, replacing whatever was loaded.
    Begin {
        ticket: u64,
        name: String,
        size: Option<u64>,
    },
    /// A load finished: its summary, or why it failed. Ignored unless `ticket` is the
    /// load in progress, so a slow old load cannot overwrite a newer one.
    Finished {
        ticket: u64,
        outcome: Result<Analysis, FailureReason>,
    },
    /// Forgets the loaded file.
    Clear,
}

impl State {
    /// The loaded dataset, if any.
    pub fn dataset(&self) -> Option<&LoadedFile> {
        match &self.load {
            LoadState::Ready(file) => Some(file),
            _ => None,
        }
    }

    /// Whether a load is in progress.
    pub fn is_loading(&self) -> bool {
        matches!(self.load, LoadState::Reading { .. })
    }

    /// The state after `action`, or `None` when the action changes nothing.
    pub fn apply(&self, action: Action) -> Option<State> {
        let load = match action {
            Action::Begin { ticket, name, size } => LoadState::Reading { ticket, name, size },
            Action::Finished { ticket, outcome } => {
                let LoadState::Reading {
                    ticket: current,
                    name,
                    ..
                } = &self.load
                else {
                    return None;
                };
                if *current != ticket {
                    return None;
                }
                let name = name.clone();
                match outcome {
                    Ok(analysis) => LoadState::Ready(LoadedFile { name, analysis }),
                    Err(reason) => LoadState::Failed(LoadFailure { name, reason }),
                }
            }
            Action::Clear if self.load == LoadState::Idle => return None,
            Action::Clear => LoadState::Idle,
        };
        Some(State { load })
    }
}

impl From<AnalysisError> for FailureReason {
    fn from(e: AnalysisError) -> Self {
        match e {
            AnalysisError::Inspect(e) => FailureReason::Inspect(e),
            AnalysisError::Load(finding) => FailureReason::Load(finding),
        }
    }
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // Returning the same Rc tells Yew nothing changed, so nothing re-renders.
        match self.apply(action) {
            Some(next) => Rc::new(next),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real analysis of a small file with `lines` ShareGPT records.
    fn summary(lines: u64) -> Analysis {
        let record = r#"{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}"#;
        let text = format!("{record}\n").repeat(usize::try_from(lines).expect("small"));
        crate::analysis::analyse("a.jsonl", text.as_bytes()).expect("loads")
    }

    fn begin(ticket: u64, name: &str) -> Action {
        Action::Begin {
            ticket,
            name: name.into(),
            size: None,
        }
    }

    fn run(actions: impl IntoIterator<Item = Action>) -> Rc<State> {
        actions
            .into_iter()
            .fold(Rc::new(State::default()), |s, a| s.reduce(a))
    }

    #[test]
    fn a_finished_load_becomes_the_dataset() {
        let s = run([
            begin(1, "a.jsonl"),
            Action::Finished {
                ticket: 1,
                outcome: Ok(summary(3)),
            },
        ]);
        let file = s.dataset().expect("loaded");
        assert_eq!(file.name, "a.jsonl");
        assert_eq!(file.analysis.summary.lines, 3);
        assert_eq!(file.analysis.load.records, 3);
        assert!(!s.is_loading());
    }

    #[test]
    fn a_stale_result_is_ignored() {
        let s = run([
            begin(1, "old.jsonl"),
            begin(2, "new.jsonl"),
            Action::Finished {
                ticket: 1,
                outcome: Ok(summary(99)),
            },
        ]);
        assert!(s.is_loading());
        assert_eq!(s.dataset(), None);
    }

    #[test]
    fn a_failure_keeps_the_file_name_and_reason() {
        let s = run([
            begin(7, "empty.jsonl"),
            Action::Finished {
                ticket: 7,
                outcome: Err(InspectError::Empty.into()),
            },
        ]);
        match &s.load {
            LoadState::Failed(f) => {
                assert_eq!(f.name, "empty.jsonl");
                assert_eq!(f.reason, FailureReason::Inspect(InspectError::Empty));
                assert!(f.reason.to_string().contains("empty"));
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn unchanged_state_keeps_the_same_rc() {
        let idle = Rc::new(State::default());
        let after = idle.clone().reduce(Action::Clear);
        assert!(Rc::ptr_eq(&idle, &after));
        let finished_without_begin = idle.clone().reduce(Action::Finished {
            ticket: 1,
            outcome: Ok(summary(1)),
        });
        assert!(Rc::ptr_eq(&idle, &finished_without_begin));
    }

    #[test]
    fn clear_forgets_the_dataset() {
        let s = run([
            begin(1, "a.jsonl"),
            Action::Finished {
                ticket: 1,
                outcome: Ok(summary(3)),
            },
            Action::Clear,
        ]);
        assert_eq!(s.load, LoadState::Idle);
    }
}
