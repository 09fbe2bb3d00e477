//! Delivery of Event intents. With a live cluster they go to the API server
//! through kube's `Recorder`, off the request path: a bounded queue (full
//! means dropped, never waiting), a dedup window per (owner, reason, note),
//! and a token-bucket rate limit, so a crash-looping ReplicaSet cannot flood
//! the API. Without a cluster they are printed or logged instead.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tokio::sync::mpsc;

use crate::admission::EventIntent;
use crate::metrics::Metrics;

/// Where Event intents go.
#[derive(Clone, Debug)]
pub enum EventSink {
    /// Nowhere (`--events off`).
    Discard,
    /// Printed on stderr (`secretgate review`).
    Print,
    /// Logged (a server on a static snapshot has no API to send them to).
    Log,
    /// Sent to the API server.
    Live(Arc<EventPublisher>),
}

impl EventSink {
    /// Hand intents over without waiting.
    pub fn emit(&self, intents: Vec<EventIntent>) {
        match self {
            EventSink::Discard => {}
            EventSink::Print => {
                for intent in intents {
                    eprintln!("secretgate review: event (not sent): {}", describe(&intent));
                }
            }
            EventSink::Log => {
                for intent in intents {
                    tracing::info!(event = %describe(&intent), "Event not sent: no cluster to send it to");
                }
            }
            EventSink::Live(publisher) => publisher.enqueue(intents),
        }
    }
}

/// `Warning <reason> on <Kind> <ns>/<name>: <note>`.
pub fn describe(intent: &EventIntent) -> String {
    let r = &intent.regarding;
    format!(
        "Warning {} on {} {}/{}: {}",
        intent.reason,
        r.kind.as_deref().unwrap_or_default(),
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default(),
        intent.note
    )
}

/// Limits of the publisher.
#[derive(Clone, Copy, Debug)]
pub struct EventLimits {
    /// The same Event (owner, reason, note) is sent at most once per window.
    pub dedup_window: Duration,
    /// Sustained Events per second; bursts of twice that pass.
    pub per_second: u32,
    /// Time for one API call.
    pub timeout: Duration,
}

/// Queue depth: beyond it intents are dropped (and counted).
const QUEUE: usize = 1024;

/// Sends Events to the API server from a background task.
#[derive(Debug)]
pub struct EventPublisher {
    queue: mpsc::Sender<EventIntent>,
    metrics: Metrics,
}

impl EventPublisher {
    /// Start the background task.
    pub fn start(client: kube::Client, instance: String, limits: EventLimits, metrics: Metrics) -> Arc<EventPublisher> {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let reporter = Reporter { controller: "secretgate".into(), instance: Some(instance) };
        let recorder = Recorder::new(client, reporter);
        tokio::spawn(run(receiver, recorder, limits, metrics.clone()));
        Arc::new(EventPublisher { queue, metrics })
    }

    fn enqueue(&self, intents: Vec<EventIntent>) {
        for intent in intents {
            if self.queue.try_send(intent).is_err() {
                self.metrics.record_event("dropped");
            }
        }
    }
}

async fn run(mut receiver: mpsc::Receiver<EventIntent>, recorder: Recorder, limits: EventLimits, metrics: Metrics) {
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let burst = f64::from(limits.per_second.max(1) * 2);
    let mut tokens = burst;
    let mut refilled = Instant::now();
    while let Some(intent) = receiver.recv().await {
        let now = Instant::now();
        if sent_at.len() > 10_000 {
            sent_at.retain(|_, at| now.duration_since(*at) < limits.dedup_window);
        }
        let key = {
            let mut hasher = DefaultHasher::new();
            (&intent.regarding.uid, intent.reason, &intent.note).hash(&mut hasher);
            hasher.finish()
        };
        if sent_at.get(&key).is_some_and(|at| now.duration_since(*at) < limits.dedup_window) {
            metrics.record_event("deduplicated");
            continue;
        }
        tokens = (tokens + now.duration_since(refilled).as_secs_f64() * f64::from(limits.per_second)).min(burst);
        refilled = now;
        if tokens < 1.0 {
            metrics.record_event("rate_limited");
            continue;
        }
        tokens -= 1.0;
        sent_at.insert(key, now);
        let event = Event {
            type_: EventType::Warning,
            reason: intent.reason.to_string(),
            note: Some(intent.note.clone()),
            action: "AdmitPod".into(),
            secondary: None,
        };
        match tokio::time::timeout(limits.timeout, recorder.publish(&event, &intent.regarding)).await {
            Ok(Ok(())) => metrics.record_event("sent"),
            Ok(Err(error)) => {
                metrics.record_event("failed");
                tracing::warn!(%error, reason = intent.reason, "Could not record an Event");
            }
            Err(_) => {
                metrics.record_event("failed");
                tracing::warn!(timeout = ?limits.timeout, reason = intent.reason, "Recording an Event timed out");
            }
        }
    }
}
