//! Where a run becomes durable: the engine hands the events of each scheduler turn to a
//! [`RunStore`] and awaits it before it starts a step that depends on what they record. The
//! engine knows no SQL; `weir-store` implements the trait.
//!
//! The event stream is the checkpoint. What a resumed run needs is in it: `RunStarted` pins the
//! pipeline version (digest), input and seed, and each step's terminal event holds its result.
//! Events wait in the run tree's journal until the next commit, so the steps that finish in
//! one turn of the scheduler (a fan-out of `pass` steps, the items of a `foreach`) are committed
//! together, in one transaction.

use crate::approval::Answer;
use crate::event::{Event, StepAt};
use futures_util::future::BoxFuture;

/// Makes a run's events durable.
pub trait RunStore: Send + Sync + std::fmt::Debug {
    /// Stores `events` (in `seq` order, of one run tree) all or none, in one transaction. The
    /// engine awaits it before any step that needs what they record starts, and before the run
    /// returns.
    fn commit<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Waits for the answer to the approval that step `at` of run `run_id` asked (its
    /// `ApprovalRequested` is committed), from whichever process gives it, and settles it by its
    /// `on_timeout` once its timeout has passed. A store that keeps no approvals says so.
    fn answer<'a>(&'a self, run_id: &'a str, at: &'a StepAt) -> BoxFuture<'a, Result<Answer, StoreError>> {
        let _ = (run_id, at);
        Box::pin(async { Err(StoreError::new("this store keeps no approvals")) })
    }

    /// The answer the approval of step `at` of run `run_id` has already, if it has one: a
    /// resumed run's step asks again only when it has none.
    fn answered<'a>(
        &'a self,
        run_id: &'a str,
        at: &'a StepAt,
    ) -> BoxFuture<'a, Result<Option<Answer>, StoreError>> {
        let _ = (run_id, at);
        Box::pin(async { Ok(None) })
    }
}

/// A commit that failed: the run stops (its steps are cancelled) and reports this.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub message: String,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into() }
    }
}
