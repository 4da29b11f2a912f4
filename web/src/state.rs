//! The studio's state and the actions that change it: a pure reducer, no browser APIs.
//!
//! The dataset lives in the studio worker; the state holds what the page shows of it: the
//! session's [`Summary`], the last view of each page, the requests still running (with their
//! progress), and what went wrong. The app shell sends requests and dispatches what comes back
//! as [`Action`]s; keeping the reducer pure lets it be tested natively.

use std::rc::Rc;

use yew::Reducible;

use crate::protocol::{
    CleanPreview, DedupView, ExportFile, FailureReason, FindingsPage, Progress, RecordView,
    Request, Response, StatsView, Summary, TemplateView,
};

/// Everything the studio knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub worker: WorkerHealth,
    /// The open session; kept when a later file fails to load.
    pub session: Option<Rc<Summary>>,
    /// Whether the saved session is still being looked for (at start-up).
    pub restoring: bool,
    /// The last file the user asked to open.
    pub open: OpenState,
    /// Requests without a final answer yet, oldest first.
    pub pending: Vec<Pending>,
    pub findings: Option<Rc<FindingsPage>>,
    pub record: Option<Rc<RecordView>>,
    pub clean: Option<Rc<CleanPreview>>,
    pub dedup: Option<Rc<DedupView>>,
    pub template: Option<Rc<TemplateView>>,
    pub stats: Option<Rc<StatsView>>,
    pub export: Option<Rc<Exported>>,
    /// The last request that failed.
    pub error: Option<JobError>,
}

/// Whether the worker can take requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WorkerHealth {
    #[default]
    Running,
    /// It stopped (a bug, or its module did not load); the message says why.
    Crashed(String),
}

/// Where opening a file stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum OpenState {
    #[default]
    Idle,
    /// Being read and loaded by the worker.
    Reading {
        id: u64,
        name: String,
        /// Size in bytes, when known before reading.
        size: Option<u64>,
    },
    /// The file did not load; the session (if any) is unchanged.
    Failed(LoadFailure),
}

/// A file that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFailure {
    pub name: String,
    pub reason: FailureReason,
}

/// The kinds of request, for progress and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Open,
    Restore,
    Apply,
    Tokenizer,
    Undo,
    Close,
    Findings,
    Record,
    Clean,
    Dedup,
    Template,
    Stats,
    Export,
}

impl Job {
    /// The job a request starts.
    pub fn of(request: &Request) -> Job {
        match request {
            Request::Open { .. } => Job::Open,
            Request::Restore => Job::Restore,
            Request::Apply(_) => Job::Apply,
            Request::SetTokenizer { .. } => Job::Tokenizer,
            Request::Undo => Job::Undo,
            Request::Close => Job::Close,
            Request::Findings(_) => Job::Findings,
            Request::Record { .. } => Job::Record,
            Request::CleanPreview { .. } => Job::Clean,
            Request::DedupPreview { .. } => Job::Dedup,
            Request::Template { .. } => Job::Template,
            Request::Stats { .. } => Job::Stats,
            Request::Export(_) => Job::Export,
        }
    }

    /// The job the worker's `Failed { what }` names (for failures without a request id).
    pub fn named(what: &str) -> Job {
        match what {
            "open" => Job::Open,
            "restore" => Job::Restore,
            "tokenizer" => Job::Tokenizer,
            "undo" => Job::Undo,
            "findings" => Job::Findings,
            "record" => Job::Record,
            "clean" => Job::Clean,
            "dedup" => Job::Dedup,
            "template" => Job::Template,
            "stats" => Job::Stats,
            "export" => Job::Export,
            _ => Job::Apply,
        }
    }

    /// What the job is doing, for the busy indicator.
    pub fn label(self) -> &'static str {
        match self {
            Job::Open => "Loading the file",
            Job::Restore => "Restoring your last session",
            Job::Apply => "Applying the change",
            Job::Tokenizer => "Loading the tokenizer",
            Job::Undo => "Undoing",
            Job::Close => "Closing",
            Job::Findings => "Listing findings",
            Job::Record => "Reading the record",
            Job::Clean => "Previewing the cleaning",
            Job::Dedup => "Finding duplicates",
            Job::Template => "Rendering with the template",
            Job::Stats => "Computing statistics",
            Job::Export => "Preparing the download",
        }
    }

    /// Whether the job changes the session (the page waits for it before the next change).
    pub fn changes_session(self) -> bool {
        matches!(
            self,
            Job::Open | Job::Restore | Job::Apply | Job::Tokenizer | Job::Undo | Job::Close
        )
    }
}

/// A request waiting for its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: u64,
    pub job: Job,
    pub progress: Option<Progress>,
}

/// A request that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub job: Job,
    pub message: String,
}

/// A file handed out for download.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub file: ExportFile,
    /// The object URL of its bytes (for "download again").
    pub url: Option<String>,
}

/// What can happen to the state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A request went to the worker. For an open, `name` and `size` describe the file.
    Sent {
        id: u64,
        job: Job,
        file: Option<(String, Option<u64>)>,
    },
    /// The worker answered request `id` (an export's download URL already made).
    Received {
        id: u64,
        response: Response,
        url: Option<String>,
    },
    /// A file could not even be handed to the worker (a fetch failed).
    OpenFailed { name: String, reason: FailureReason },
    /// The worker stopped.
    Died(String),
    /// A new worker was started; the session is being restored.
    Restarted,
    /// The user dismissed the error message.
    DismissError,
}

impl State {
    /// Whether a file is being opened.
    pub fn is_opening(&self) -> bool {
        matches!(self.open, OpenState::Reading { .. })
    }

    /// Whether a change to the session is running (changes wait for each other).
    pub fn is_changing(&self) -> bool {
        self.pending.iter().any(|p| p.job.changes_session())
    }

    /// Whether a request of `job` is running.
    pub fn is_running(&self, job: Job) -> bool {
        self.pending.iter().any(|p| p.job == job)
    }

    /// The oldest running job, with its progress, for the busy indicator.
    pub fn busy(&self) -> Option<&Pending> {
        self.pending.first()
    }

    /// The error of the last failed request of `job`, if that is the last error.
    pub fn error_of(&self, job: Job) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|e| e.job == job)
            .map(|e| e.message.as_str())
    }

    /// The current generation of the session (0 without one).
    pub fn generation(&self) -> u64 {
        self.session.as_ref().map_or(0, |s| s.generation)
    }

    fn finish(&mut self, id: u64) -> Option<Job> {
        let at = self.pending.iter().position(|p| p.id == id)?;
        Some(self.pending.remove(at).job)
    }

    /// The state after `action`.
    pub fn reduce_action(mut self, action: Action) -> State {
        match action {
            Action::Sent { id, job, file } => {
                if let Some((name, size)) = file {
                    self.open = OpenState::Reading { id, name, size };
                }
                if job == Job::Restore {
                    self.restoring = true;
                }
                self.pending.push(Pending {
                    id,
                    job,
                    progress: None,
                });
            }
            Action::Received { id, response, url } => self.receive(id, response, url),
            Action::OpenFailed { name, reason } => {
                self.open = OpenState::Failed(LoadFailure { name, reason });
            }
            Action::Died(message) => {
                self.worker = WorkerHealth::Crashed(message.clone());
                self.pending.clear();
                self.restoring = false;
                if let OpenState::Reading { name, .. } = &self.open {
                    let reason = FailureReason::Read(message);
                    self.open = OpenState::Failed(LoadFailure {
                        name: name.clone(),
                        reason,
                    });
                }
            }
            Action::Restarted => {
                self.worker = WorkerHealth::Running;
                self.error = None;
            }
            Action::DismissError => {
                self.error = None;
                if matches!(self.open, OpenState::Failed(_)) {
                    self.open = OpenState::Idle;
                }
            }
        }
        self
    }

    fn receive(&mut self, id: u64, response: Response, url: Option<String>) {
        if let Response::Progress(progress) = response {
            if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
                p.progress = Some(progress);
            }
            return;
        }
        let job = self.finish(id);
        let opening = matches!(self.open, OpenState::Reading { id: open_id, .. } if open_id == id);
        match response {
            Response::Progress(_) => {}
            Response::Session(summary) => {
                if opening {
                    self.open = OpenState::Idle;
                    // A new file: views of the old one mean nothing now.
                    self.clear_views();
                }
                self.session = Some(Rc::new(*summary));
                self.restoring = false;
                if job.is_some_and(Job::changes_session) {
                    self.error = None;
                }
            }
            Response::NoSession => {
                self.restoring = false;
                if job == Some(Job::Close) {
                    self.session = None;
                    self.clear_views();
                }
            }
            Response::OpenFailed { name, reason } => {
                self.open = OpenState::Failed(LoadFailure { name, reason });
            }
            Response::Findings(page) => self.findings = Some(Rc::new(page)),
            Response::Record(view) => self.record = Some(Rc::from(view)),
            Response::CleanPreview(view) => self.clean = Some(Rc::from(view)),
            Response::Dedup(view) => self.dedup = Some(Rc::from(view)),
            Response::Template(view) => self.template = Some(Rc::from(view)),
            Response::Stats(view) => self.stats = Some(Rc::from(view)),
            Response::Export(file) => self.export = Some(Rc::new(Exported { file, url })),
            Response::Failed { what, message } => {
                let job = job.unwrap_or_else(|| Job::named(&what));
                self.error = Some(JobError { job, message });
            }
            Response::Fatal { message } => self.worker = WorkerHealth::Crashed(message),
        }
    }

    fn clear_views(&mut self) {
        self.findings = None;
        self.record = None;
        self.clean = None;
        self.dedup = None;
        self.template = None;
        self.stats = None;
        self.export = None;
    }
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let next = (*self).clone().reduce_action(action);
        // The same Rc tells Yew nothing changed, so nothing re-renders.
        if next == *self { self } else { Rc::new(next) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::InspectError;
    use crate::studio::Engine;

    fn summary() -> Summary {
        let record = r#"{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}"#;
        Engine::new()
            .open(
                "a.jsonl",
                format!("{record}\n").into_bytes(),
                ajuste_shared::LoadOptions::default(),
                &mut |_, _, _| {},
            )
            .expect("loads")
    }

    fn run(actions: impl IntoIterator<Item = Action>) -> State {
        actions
            .into_iter()
            .fold(State::default(), |s, a| s.reduce_action(a))
    }

    fn open(id: u64, name: &str) -> Action {
        Action::Sent {
            id,
            job: Job::Open,
            file: Some((name.into(), Some(10))),
        }
    }

    fn received(id: u64, response: Response) -> Action {
        Action::Received {
            id,
            response,
            url: None,
        }
    }

    #[test]
    fn an_opened_file_becomes_the_session() {
        let s = run([open(1, "a.jsonl")]);
        assert!(s.is_opening() && s.is_changing());
        let s = s.reduce_action(received(1, Response::Session(Box::new(summary()))));
        assert!(!s.is_opening() && s.pending.is_empty());
        assert_eq!(s.session.as_ref().unwrap().file.name, "a.jsonl");
    }

    #[test]
    fn a_file_that_fails_keeps_the_session_there_was() {
        let s = run([
            open(1, "a.jsonl"),
            received(1, Response::Session(Box::new(summary()))),
            open(2, "empty.jsonl"),
            received(
                2,
                Response::OpenFailed {
                    name: "empty.jsonl".into(),
                    reason: InspectError::Empty.into(),
                },
            ),
        ]);
        assert_eq!(s.session.as_ref().unwrap().file.name, "a.jsonl");
        match &s.open {
            OpenState::Failed(f) => assert_eq!(f.name, "empty.jsonl"),
            other => panic!("expected a failure, got {other:?}"),
        }
        let s = s.reduce_action(Action::DismissError);
        assert_eq!(s.open, OpenState::Idle);
    }

    #[test]
    fn progress_updates_the_pending_request_only() {
        let s = run([
            open(1, "a.jsonl"),
            received(
                1,
                Response::Progress(Progress {
                    task: "Reading the file".into(),
                    done: 5,
                    total: 10,
                }),
            ),
            received(
                9,
                Response::Progress(Progress {
                    task: "stale".into(),
                    done: 1,
                    total: 1,
                }),
            ),
        ]);
        let busy = s.busy().unwrap();
        assert_eq!(busy.progress.as_ref().unwrap().done, 5);
        assert_eq!(s.pending.len(), 1);
    }

    #[test]
    fn a_failed_request_is_attributed_to_its_job() {
        let s = run([
            Action::Sent {
                id: 4,
                job: Job::Apply,
                file: None,
            },
            received(
                4,
                Response::Failed {
                    what: "apply".into(),
                    message: "no".into(),
                },
            ),
        ]);
        assert_eq!(s.error_of(Job::Apply), Some("no"));
        assert_eq!(s.error_of(Job::Export), None);
        assert!(s.pending.is_empty());
    }

    #[test]
    fn a_dead_worker_fails_the_open_in_progress_and_keeps_the_session() {
        let s = run([
            open(1, "a.jsonl"),
            received(1, Response::Session(Box::new(summary()))),
            open(2, "big.jsonl"),
            Action::Died("the studio worker stopped: unreachable".into()),
        ]);
        assert!(matches!(s.worker, WorkerHealth::Crashed(_)));
        assert!(s.pending.is_empty());
        assert!(s.session.is_some());
        assert!(matches!(&s.open, OpenState::Failed(f) if f.name == "big.jsonl"));
        let s = s.reduce_action(Action::Restarted);
        assert_eq!(s.worker, WorkerHealth::Running);
    }

    #[test]
    fn closing_forgets_the_session_and_its_views() {
        let s = run([
            open(1, "a.jsonl"),
            received(1, Response::Session(Box::new(summary()))),
            Action::Sent {
                id: 2,
                job: Job::Close,
                file: None,
            },
            received(2, Response::NoSession),
        ]);
        assert!(s.session.is_none() && s.findings.is_none());
    }

    #[test]
    fn unchanged_state_keeps_the_same_rc() {
        let idle = Rc::new(State::default());
        let after = idle.clone().reduce(Action::DismissError);
        assert!(Rc::ptr_eq(&idle, &after));
    }
}
