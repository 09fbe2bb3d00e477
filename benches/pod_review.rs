//! Validate a realistic Pod (10 containers, 30 Secret references) against a
//! cluster view holding 10k Secrets. `cargo bench --bench pod_review`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use secretgate::admission::{Admission, Webhook};
use secretgate::policy::{
    Context, Inventory, PodScope, RuleId, SecretSummary, ServiceAccountSummary, Settings, validate_pod,
};
use serde_json::json;

fn inventory() -> Inventory {
    let inventory = Inventory::default();
    for ns in 0..100 {
        for s in 0..100 {
            let summary = SecretSummary::with_keys("Opaque", &["username", "password", "host", "port", "GOOD"]);
            inventory.secrets.insert(&format!("ns-{ns}"), &format!("secret-{s}"), summary);
        }
        inventory.service_accounts.insert(&format!("ns-{ns}"), "default", ServiceAccountSummary::default());
    }
    inventory
}

fn pod() -> serde_json::Value {
    let containers: Vec<_> = (0..10)
        .map(|c| {
            json!({
                "name": format!("c{c}"), "image": format!("registry.example.test/app-{c}:1.0"),
                "env": [
                    {"name": "USER", "valueFrom": {"secretKeyRef": {"name": format!("secret-{}", c * 3), "key": "username"}}},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": format!("secret-{}", c * 3 + 1), "key": "password"}}},
                    {"name": "PLAIN", "value": "x"}
                ],
                "envFrom": [{"secretRef": {"name": format!("secret-{}", c * 3 + 2)}}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}
            })
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "web-", "namespace": "ns-42", "labels": {"app": "web"}},
           "spec": {"serviceAccountName": "default", "containers": containers}})
}

fn bench(c: &mut Criterion) {
    let inventory = inventory();
    let settings = Settings::default();
    let object = pod();
    let typed: Pod = serde_json::from_value(object.clone()).unwrap();
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                    "resource": {"group": "", "version": "v1", "resource": "pods"}, "namespace": "ns-42",
                    "operation": "CREATE", "userInfo": {"username": "bench"}, "object": object, "dryRun": false}
    }))
    .unwrap();
    let ctx = Context { settings: &settings, view: &inventory, now_unix: 0 };
    let report = validate_pod(&typed, "ns-42", PodScope::Create, &ctx);
    // valid; its env references are audited (pod-secret-env, the default): one annotation
    let violations: Vec<_> = report.findings.iter().filter(|f| f.rule != RuleId::PodSecretEnv).collect();
    assert!(violations.is_empty(), "the benchmark Pod is valid: {violations:?}");

    let mut group = c.benchmark_group("pod_review");
    group.bench_function("validate_pod (policy only)", |b| {
        b.iter(|| validate_pod(black_box(&typed), "ns-42", PodScope::Create, &ctx))
    });
    let admission = Admission::default();
    group.bench_function("decode_validate_encode", |b| {
        b.iter(|| {
            let answer = admission.review(Webhook::Validate, black_box(&body), &inventory, 0).unwrap();
            secretgate::admission::encode(&answer.response)
        })
    });
    // the same with pod-secret-env off: what the audited env references cost
    let quiet = settings.clone().with_action(RuleId::PodSecretEnv, secretgate::policy::Action::Off);
    let quiet_ctx = Context { settings: &quiet, view: &inventory, now_unix: 0 };
    group.bench_function("validate_pod (policy only, pod-secret-env off)", |b| {
        b.iter(|| validate_pod(black_box(&typed), "ns-42", PodScope::Create, &quiet_ctx))
    });
    let quiet_admission = Admission::with_settings(quiet.clone());
    group.bench_function("decode_validate_encode (pod-secret-env off)", |b| {
        b.iter(|| {
            let answer = quiet_admission.review(Webhook::Validate, black_box(&body), &inventory, 0).unwrap();
            secretgate::admission::encode(&answer.response)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
