//! The open connections of one listener, capped: at the cap, a new
//! connection takes the place of the one idle longest (closed at once), so a
//! flood of idle connections can neither exhaust file descriptors nor keep
//! the API server out. When every connection is busy, the new one is refused.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::activity::Activity;

/// The connections of one listener.
#[derive(Debug)]
pub struct Registry {
    conns: Mutex<HashMap<u64, Arc<Activity>>>,
    next: AtomicU64,
    max: usize,
}

/// A registered connection; leaves the registry when dropped.
#[derive(Debug)]
pub struct Registered {
    registry: Arc<Registry>,
    id: u64,
    /// Its activity.
    pub activity: Arc<Activity>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// What admitting a connection did.
#[derive(Debug)]
pub enum Admitted {
    /// Room was free.
    Room(Registered),
    /// The idlest connection was closed to make room.
    Evicted(Registered),
    /// Every connection is busy: refuse this one.
    Full,
}

impl Registry {
    /// A registry of at most `max` connections.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Registry { conns: Mutex::new(HashMap::new()), next: AtomicU64::new(0), max: max.max(1) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Register a new connection, evicting the idlest one at the cap.
    pub fn admit(self: &Arc<Self>) -> Admitted {
        let mut conns = self.lock();
        let mut evicted = false;
        if conns.len() >= self.max {
            let victim =
                conns.iter().filter(|(_, a)| a.is_idle()).min_by_key(|(_, a)| a.last_used()).map(|(id, _)| *id);
            let Some(victim) = victim else { return Admitted::Full };
            if let Some(activity) = conns.remove(&victim) {
                // a stored permit: the victim sees it even if not waiting yet
                activity.evict.notify_one();
            }
            evicted = true;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Activity::new();
        conns.insert(id, activity.clone());
        let registered = Registered { registry: self.clone(), id, activity };
        if evicted { Admitted::Evicted(registered) } else { Admitted::Room(registered) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(admitted: Admitted) -> Registered {
        match admitted {
            Admitted::Room(r) | Admitted::Evicted(r) => r,
            Admitted::Full => panic!("refused"),
        }
    }

    #[tokio::test]
    async fn at_the_cap_the_idlest_connection_makes_room_and_busy_ones_never_do() {
        let registry = Registry::new(2);
        let first = registered(registry.admit());
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = registered(registry.admit());
        let busy = second.activity.start();
        // the idle one (first) is evicted; the busy one stays
        let third = registry.admit();
        assert!(matches!(third, Admitted::Evicted(_)));
        tokio::time::timeout(std::time::Duration::from_secs(1), first.activity.evict.notified()).await.unwrap();
        assert_eq!(registry.len(), 2);
        let third = registered(third);
        let _also_busy = third.activity.start();
        assert!(matches!(registry.admit(), Admitted::Full), "every connection busy: refused");
        drop(busy);
        drop(first);
        assert!(matches!(registry.admit(), Admitted::Evicted(_)), "the second is idle again");
    }
}
