//! The JSON Patch of a mutation: the difference between the typed Pod as
//! received and the Pod the policy intends, both serialized by k8s-openapi.
//!
//! Diffing typed serializations means fields k8s-openapi does not model
//! appear on neither side, so the patch never touches them: applied to the
//! exact JSON the API server sent, it changes only what the policy changed.
//! Only the parts a mutation may change are serialized and compared
//! (serializing whole Pods twice was a third of the mutating webhook's CPU).

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::policy::pod::mutate::PodChanges;
use serde::Serialize;

/// The RFC 6902 operations turning `before` into `after` (empty when equal).
pub fn diff<T: Serialize>(before: &T, after: &T) -> Patch {
    let before = serde_json::to_value(before).expect("k8s-openapi objects always serialize");
    let after = serde_json::to_value(after).expect("k8s-openapi objects always serialize");
    json_patch::diff(&before, &after)
}

/// The patch of a mutation: for each changed field, `add` operations for
/// what the mutation appended (it only appends), with a full diff of that
/// field as the fallback. Nothing else of the Pod is serialized.
pub fn pod_patch(before: &Pod, changes: &PodChanges) -> Patch {
    let mut ops = Vec::new();
    let spec = before.spec.as_ref();
    if let Some(new) = &changes.annotations {
        if before.metadata == ObjectMeta::default() {
            // the typed Pod cannot tell `metadata: {}` from no metadata at
            // all: add the whole member, which is right for both
            ops.push(add(PointerBuf::from_tokens(["metadata"]), &serde_json::json!({"annotations": new})));
        } else {
            map_diff(&mut ops, &["metadata", "annotations"], before.metadata.annotations.as_ref(), new);
        }
    }
    if let Some(new) = &changes.image_pull_secrets {
        list_diff(&mut ops, &["spec", "imagePullSecrets"], spec.and_then(|s| s.image_pull_secrets.as_ref()), new);
    }
    if let Some(new) = &changes.volumes {
        list_diff(&mut ops, &["spec", "volumes"], spec.and_then(|s| s.volumes.as_ref()), new);
    }
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init_containers = spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default();
    for (list, changed, current) in [
        ("containers", &changes.container_mounts, containers),
        ("initContainers", &changes.init_container_mounts, init_containers),
    ] {
        for (i, new) in changed {
            let index = i.to_string();
            list_diff(&mut ops, &["spec", list, &index, "volumeMounts"], current[*i].volume_mounts.as_ref(), new);
        }
    }
    Patch(ops)
}

fn add(path: PointerBuf, value: &impl Serialize) -> PatchOperation {
    let value = serde_json::to_value(value).expect("k8s-openapi objects always serialize");
    PatchOperation::Add(json_patch::AddOperation { path, value })
}

/// A list the mutation extended: one `add` per appended element.
fn list_diff<T: Serialize + PartialEq>(
    ops: &mut Vec<PatchOperation>,
    path: &[&str],
    before: Option<&Vec<T>>,
    after: &Vec<T>,
) {
    match before {
        None => ops.push(add(PointerBuf::from_tokens(path.iter().copied()), after)),
        Some(before) if after.len() >= before.len() && after[..before.len()] == before[..] => {
            for (i, element) in after.iter().enumerate().skip(before.len()) {
                let index = i.to_string();
                ops.push(add(PointerBuf::from_tokens(path.iter().copied().chain([index.as_str()])), element));
            }
        }
        Some(before) => sub_diff(ops, path, Some(before), after),
    }
}

/// A map the mutation added entries to: one `add` per new or changed key.
fn map_diff(
    ops: &mut Vec<PatchOperation>,
    path: &[&str],
    before: Option<&BTreeMap<String, String>>,
    after: &BTreeMap<String, String>,
) {
    match before {
        None => ops.push(add(PointerBuf::from_tokens(path.iter().copied()), after)),
        Some(before) if before.keys().all(|k| after.contains_key(k)) => {
            for (key, value) in after.iter().filter(|(k, v)| before.get(*k) != Some(*v)) {
                // `add` replaces an existing member (RFC 6902 §4.1)
                ops.push(add(PointerBuf::from_tokens(path.iter().copied().chain([key.as_str()])), value));
            }
        }
        Some(before) => sub_diff(ops, path, Some(before), after),
    }
}

/// Append the operations turning `before` (absent: `None`) into `after` at `path`.
fn sub_diff<T: Serialize + PartialEq>(ops: &mut Vec<PatchOperation>, path: &[&str], before: Option<&T>, after: &T) {
    if before == Some(after) {
        return;
    }
    let prefix = PointerBuf::from_tokens(path.iter().copied());
    let after = serde_json::to_value(after).expect("k8s-openapi objects always serialize");
    let Some(before) = before else {
        // absent before: add the whole value
        ops.push(PatchOperation::Add(json_patch::AddOperation { path: prefix, value: after }));
        return;
    };
    let before = serde_json::to_value(before).expect("k8s-openapi objects always serialize");
    for mut op in json_patch::diff(&before, &after).0 {
        let path = match &mut op {
            PatchOperation::Add(o) => &mut o.path,
            PatchOperation::Remove(o) => &mut o.path,
            PatchOperation::Replace(o) => &mut o.path,
            PatchOperation::Move(o) => &mut o.path,
            PatchOperation::Copy(o) => &mut o.path,
            PatchOperation::Test(o) => &mut o.path,
        };
        *path = prefix.concat(path);
        ops.push(op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn annotation_keys_with_slashes_are_escaped() {
        let before = json!({"metadata": {"annotations": {"a": "1"}}});
        let after = json!({"metadata": {"annotations": {"a": "1", "secretgate.io/injected-secrets": "db"}}});
        let patch = serde_json::to_value(diff(&before, &after)).unwrap();
        assert_eq!(
            patch,
            json!([{"op": "add", "path": "/metadata/annotations/secretgate.io~1injected-secrets", "value": "db"}])
        );
    }

    #[test]
    fn equal_objects_give_an_empty_patch() {
        assert!(diff(&json!({"a": [1, 2]}), &json!({"a": [1, 2]})).0.is_empty());
    }

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn lists_that_are_not_extended_fall_back_to_a_diff() {
        let mut ops = Vec::new();
        list_diff(&mut ops, &["spec", "volumes"], Some(&vec![1, 2, 3]), &vec![1, 9, 3, 4]);
        let mut doc = json!({"spec": {"volumes": [1, 2, 3]}});
        json_patch::patch(&mut doc, &ops).unwrap();
        assert_eq!(doc, json!({"spec": {"volumes": [1, 9, 3, 4]}}));
        let mut ops = Vec::new();
        let before: BTreeMap<String, String> = [("a".into(), "1".into()), ("gone".into(), "x".into())].into();
        map_diff(&mut ops, &["m"], Some(&before), &[("a".into(), "2".into())].into());
        let mut doc = json!({"m": {"a": "1", "gone": "x"}});
        json_patch::patch(&mut doc, &ops).unwrap();
        assert_eq!(doc, json!({"m": {"a": "2"}}));
    }

    #[test]
    fn pod_patches_touch_only_the_changed_fields_and_apply() {
        let before = pod(json!({"metadata": {"name": "p", "annotations": {"a": "1"}},
            "spec": {"containers": [{"name": "c", "volumeMounts": [{"name": "x", "mountPath": "/x"}]}, {"name": "d"}],
                     "initContainers": [{"name": "i"}], "imagePullSecrets": [{"name": "mine"}]}}));
        let mount =
            |path: &str| serde_json::from_value(json!({"name": "v", "mountPath": path, "readOnly": true})).unwrap();
        let changes = PodChanges {
            annotations: Some(
                [("a".into(), "1".into()), ("secretgate.io/injected-secrets".into(), "db".into())].into(),
            ),
            image_pull_secrets: Some(serde_json::from_value(json!([{"name": "mine"}, {"name": "regcred"}])).unwrap()),
            volumes: Some(serde_json::from_value(json!([{"name": "v", "secret": {"secretName": "db"}}])).unwrap()),
            container_mounts: [
                (0, vec![serde_json::from_value(json!({"name": "x", "mountPath": "/x"})).unwrap(), mount("/v")]),
                (1, vec![mount("/v")]),
            ]
            .into(),
            init_container_mounts: [(0, vec![mount("/v")])].into(),
        };
        let patch = pod_patch(&before, &changes);
        let mut doc = serde_json::to_value(&before).unwrap();
        json_patch::patch(&mut doc, &patch.0).unwrap();
        assert_eq!(doc, serde_json::to_value(changes.apply(&before)).unwrap());
        let sorted = |p: &Patch| {
            let mut ops: Vec<String> = p.0.iter().map(|op| serde_json::to_string(op).unwrap()).collect();
            ops.sort();
            ops
        };
        assert_eq!(sorted(&patch), sorted(&diff(&before, &changes.apply(&before))), "the full diff's operations");
        let paths: Vec<String> = patch.0.iter().map(|op| op.path().to_string()).collect();
        assert!(paths.contains(&"/metadata/annotations/secretgate.io~1injected-secrets".to_string()), "{paths:?}");
        assert!(pod_patch(&before, &PodChanges::default()).0.is_empty());
    }

    #[test]
    fn annotations_on_a_pod_without_metadata_add_the_member() {
        let changes = PodChanges {
            annotations: Some([("secretgate.io/injected-secrets".into(), "db".into())].into()),
            ..PodChanges::default()
        };
        let patch = pod_patch(&pod(json!({"spec": {"containers": []}})), &changes);
        for mut doc in [json!({"spec": {"containers": []}}), json!({"metadata": {}, "spec": {"containers": []}})] {
            json_patch::patch(&mut doc, &patch.0).unwrap();
            assert_eq!(doc["metadata"], json!({"annotations": {"secretgate.io/injected-secrets": "db"}}));
        }
    }
}
