//! Where a run becomes durable: the engine hands the events of each scheduler turn to a
//! [`RunStore`] and awaits it before it starts a step that depends on what they record. The
//! engine knows no SQL; `weir-store` implements the trait.
//!
//! The event stream is the checkpoint. What a resumed run needs is in it: `RunStarted` pins the
//! pipeline version (digest), input and seed, and each step's terminal event holds its result.
//! Events wait in the run tree's journal until the next commit, so the steps that finish in
//! one turn of the scheduler (a fan-out of `pass` steps, the items of a `foreach`) are committed
//! together, in one transaction.

use crate::event::Event;
use futures_util::future::BoxFuture;

/// Makes a run's events durable.
pub trait RunStore: Send + Sync + std::fmt::Debug {
    /// Stores `events` (in `seq` order, of one run tree) all or none, in one transaction. The
    /// engine awaits it before any step that needs what they record starts, and before the run
    /// returns.
    fn commit<'a>(&'a self, events: &'a [Event]) -> BoxFuture<'a, Result<(), StoreError>>;
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
