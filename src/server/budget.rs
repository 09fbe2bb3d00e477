//! The memory budget of the webhook: bytes of request bodies and answers
//! held at once. A request takes its share before its body is read and holds
//! it until its answer is sent, so a burst of large reviews waits instead of
//! growing the process past its memory limit.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The shared budget.
#[derive(Clone, Debug)]
pub struct Budget {
    semaphore: Arc<Semaphore>,
    total: u32,
}

/// A share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Share(OwnedSemaphorePermit);

impl Share {
    /// Its size in bytes.
    pub fn bytes(&self) -> u64 {
        self.0.num_permits() as u64
    }

    /// Keep `bytes` of it (at most its size) and give the rest back.
    pub fn shrink_to(mut self, bytes: u64) -> Option<Share> {
        let keep = usize::try_from(bytes).unwrap_or(usize::MAX);
        if keep == 0 {
            return None;
        }
        Some(match self.0.split(keep) {
            Some(kept) => Share(kept), // the rest goes back as `self` drops
            None => self,
        })
    }
}

impl Budget {
    /// A budget of `bytes` (at most 4 GiB).
    pub fn new(bytes: u64) -> Self {
        let total = u32::try_from(bytes).unwrap_or(u32::MAX);
        Budget { semaphore: Arc::new(Semaphore::new(total as usize)), total }
    }

    /// Take `bytes` of the budget (all of it for a larger request), waiting
    /// up to `wait` for it to be free. `None` when it stayed used.
    pub async fn take(&self, bytes: u64, wait: Duration) -> Option<Share> {
        let want = u32::try_from(bytes).unwrap_or(u32::MAX).clamp(1, self.total);
        let acquire = self.semaphore.clone().acquire_many_owned(want);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Some(Share(permit)),
            _ => None,
        }
    }

    /// The whole budget, in bytes.
    pub fn total(&self) -> u64 {
        u64::from(self.total)
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_budget_makes_requests_wait_and_a_huge_one_takes_all() {
        let budget = Budget::new(100);
        let a = budget.take(60, Duration::from_millis(10)).await.unwrap();
        assert!(budget.take(60, Duration::from_millis(20)).await.is_none(), "waits, then gives up");
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.take(60, Duration::from_secs(5)).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a);
        assert!(waiting.await.unwrap(), "served once the first gave its share back");
        let all = budget.take(1_000_000, Duration::from_millis(10)).await.unwrap();
        assert_eq!(budget.available(), 0);
        drop(all);
        assert_eq!(budget.available(), 100);
        let share = budget.take(80, Duration::from_millis(10)).await.unwrap();
        let kept = share.shrink_to(30).unwrap();
        assert_eq!((kept.bytes(), budget.available()), (30, 70));
    }
}
