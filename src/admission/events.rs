//! Event intents: for a Pod created by a controller, each warned or audited
//! violation of the Pod rules, to be recorded on the owner so that
//! `kubectl describe` on the ReplicaSet or Job shows it. Pure data; delivery
//! is `crate::cluster::events`.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};

use crate::policy::{Decision, RuleId};

/// The longest Event note the API accepts is 1 kB.
const MAX_NOTE: usize = 1024;

/// One Event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct EventIntent {
    /// The object the Event is about (the Pod's controller).
    pub regarding: ObjectReference,
    /// `PascalCase` reason, one per rule.
    pub reason: &'static str,
    /// The warning text, as the user would have seen it.
    pub note: String,
}

/// The Event reason of a Pod rule: `InvalidEnvironmentVariableNames` is the
/// kubelet's own reason for the same finding (before Kubernetes 1.30).
pub fn reason(rule: RuleId) -> Option<&'static str> {
    match rule {
        RuleId::PodSecretExists => Some("SecretNotFound"),
        RuleId::PodSecretKeys => Some("SecretKeyNotFound"),
        RuleId::PodMountableSecrets => Some("SecretNotMountable"),
        RuleId::PodEnvfromNames => Some("InvalidEnvironmentVariableNames"),
        _ => None,
    }
}

/// The Events for a Pod's decision: none on dry runs, none without a
/// controlling owner.
pub fn intents(pod: &Pod, namespace: &str, decision: &Decision, dry_run: bool) -> Vec<EventIntent> {
    if dry_run || decision.reported.is_empty() {
        return Vec::new();
    }
    let Some(owner) = pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true)) else {
        return Vec::new();
    };
    let regarding = ObjectReference {
        api_version: Some(owner.api_version.clone()),
        kind: Some(owner.kind.clone()),
        name: Some(owner.name.clone()),
        namespace: Some(namespace.to_string()),
        uid: Some(owner.uid.clone()),
        ..Default::default()
    };
    decision
        .reported
        .iter()
        .filter_map(|(rule, text)| {
            let mut note: String = text.chars().filter(|c| !c.is_control()).collect();
            if note.len() > MAX_NOTE {
                let mut end = MAX_NOTE - 3;
                while !note.is_char_boundary(end) {
                    end -= 1;
                }
                note.truncate(end);
                note.push_str("...");
            }
            Some(EventIntent { regarding: regarding.clone(), reason: reason(*rule)?, note })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned_pod(controller: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"generateName": "web-", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4", "uid": "u-1", "controller": controller}]}}))
        .unwrap()
    }

    fn decision() -> Decision {
        Decision {
            reported: vec![
                (RuleId::PodEnvfromNames, "[pod-envfrom-names] spec.containers[0].envFrom[0]: Keys [1x]".into()),
                (RuleId::SecretHygiene, "not a Pod rule".into()),
            ],
            ..Decision::default()
        }
    }

    #[test]
    fn controller_owned_pods_get_events_on_their_owner() {
        let events = intents(&owned_pod(true), "team-a", &decision(), false);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "InvalidEnvironmentVariableNames");
        assert_eq!(events[0].regarding.kind.as_deref(), Some("ReplicaSet"));
        assert_eq!(events[0].regarding.namespace.as_deref(), Some("team-a"));
        assert!(events[0].note.starts_with("[pod-envfrom-names]"));
    }

    #[test]
    fn no_events_on_dry_runs_or_without_a_controller() {
        assert!(intents(&owned_pod(true), "ns", &decision(), true).is_empty());
        assert!(intents(&owned_pod(false), "ns", &decision(), false).is_empty());
        assert!(intents(&Pod::default(), "ns", &decision(), false).is_empty());
    }

    #[test]
    fn notes_fit_the_events_api() {
        let long = Decision { reported: vec![(RuleId::PodSecretExists, "x".repeat(5000))], ..Decision::default() };
        assert!(intents(&owned_pod(true), "ns", &long, false)[0].note.len() <= MAX_NOTE);
    }
}
