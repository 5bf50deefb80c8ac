//! A [`RunStore`] that times its commits and counts its failures, around any other.

use super::Metrics;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Instant;
use weir_engine::approval::Answer;
use weir_engine::{RunStore, StepAt, StoreError};

/// `inner`, with `weir_store_commit_seconds` and `weir_store_errors_total` recorded in `metrics`.
#[derive(Debug)]
pub struct TimedStore {
    pub inner: Arc<dyn RunStore>,
    pub metrics: Arc<Metrics>,
}

impl TimedStore {
    fn counted<T>(&self, op: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if result.is_err() {
            self.metrics.store_failed(op);
        }
        result
    }
}

impl RunStore for TimedStore {
    fn commit<'a>(&'a self, events: &'a [weir_engine::Event]) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let started = Instant::now();
            let result = self.inner.commit(events).await;
            self.metrics.store_committed(started.elapsed());
            self.counted("commit", result)
        })
    }

    fn answer<'a>(&'a self, run_id: &'a str, at: &'a StepAt) -> BoxFuture<'a, Result<Answer, StoreError>> {
        Box::pin(async move { self.counted("answer", self.inner.answer(run_id, at).await) })
    }

    fn answered<'a>(
        &'a self,
        run_id: &'a str,
        at: &'a StepAt,
    ) -> BoxFuture<'a, Result<Option<Answer>, StoreError>> {
        Box::pin(async move { self.counted("answered", self.inner.answered(run_id, at).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails every commit.
    #[derive(Debug)]
    struct Broken;

    impl RunStore for Broken {
        fn commit<'a>(&'a self, _: &'a [weir_engine::Event]) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async { Err(StoreError::new("disk full")) })
        }
    }

    #[tokio::test]
    async fn failed_commits_are_timed_and_counted_and_still_fail() {
        let metrics = Arc::new(Metrics::new());
        let store = TimedStore { inner: Arc::new(Broken), metrics: metrics.clone() };
        assert_eq!(store.commit(&[]).await, Err(StoreError::new("disk full")));
        let text = metrics.render();
        assert!(text.contains("weir_store_errors_total{op=\"commit\"} 1"), "{text}");
        assert!(text.contains("weir_store_commit_seconds_count 1"), "{text}");
    }
}
