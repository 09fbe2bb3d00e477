//! Decode and validate a Secret review: a small one and a 1 MiB one.
//! `cargo bench --bench secret_review`

use std::hint::black_box;

use base64::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secretgate::admission::{Admission, Webhook};
use secretgate::policy::Inventory;
use serde_json::json;

fn review(data: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "b3d1c0de-0000-4000-8000-000000000001",
            "kind": {"group": "", "version": "v1", "kind": "Secret"},
            "resource": {"group": "", "version": "v1", "resource": "secrets"},
            "namespace": "team-a", "operation": "CREATE",
            "userInfo": {"username": "bench"},
            "object": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "team-a"},
                       "type": "Opaque", "data": data},
            "dryRun": false
        }
    }))
    .unwrap()
}

#[derive(serde::Deserialize)]
struct UidOnly {
    request: UidRequest,
}

#[derive(serde::Deserialize)]
struct UidRequest {
    uid: String,
}

fn bench(c: &mut Criterion) {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let small = review(json!({"username": b64(b"admin"), "password": b64(b"correct horse battery staple")}));
    // 1 MiB of pseudo-random bytes in 4 keys, like a certificate bundle or a blob
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let blob: Vec<u8> = (0..1_048_576)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let large = review(json!({
        "a": b64(&blob[..262_144]), "b": b64(&blob[262_144..524_288]),
        "c": b64(&blob[524_288..786_432]), "d": b64(&blob[786_432..]),
    }));
    let admission = Admission::default();
    let view = Inventory::default();

    let mut group = c.benchmark_group("secret_review");
    for (name, body) in [("small", &small), ("1MiB", &large)] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{name}/decode_only"), |b| {
            b.iter(|| secretgate::admission::decode(black_box(body)).unwrap())
        });
        group.bench_function(format!("{name}/decode_validate_encode"), |b| {
            b.iter(|| {
                let answer = admission.review(Webhook::Validate, black_box(body), &view, 1_800_000_000).unwrap();
                secretgate::admission::encode(&answer.response)
            })
        });
    }
    // what bench/run.sh's null webhooks do with the same body: the floor reads
    // only request.uid, the typed null decodes into kube's types
    group.bench_function("1MiB/floor_uid_only", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice::<UidOnly>(black_box(&large)).unwrap().request.uid.into();
            v
        })
    });
    group.bench_function("1MiB/typed_null", |b| {
        b.iter(|| {
            let review: kube::core::admission::AdmissionReview<kube::core::DynamicObject> =
                serde_json::from_slice(black_box(&large)).unwrap();
            let request: kube::core::admission::AdmissionRequest<kube::core::DynamicObject> =
                review.try_into().unwrap();
            serde_json::to_vec(&kube::core::admission::AdmissionResponse::from(&request).into_review()).unwrap()
        })
    });
    group.bench_function("1MiB/duplicates_check", |b| {
        b.iter(|| secretgate::admission::duplicates::check(black_box(&large)).unwrap())
    });
    let text = b64(&blob);
    group.bench_function("1MiB/is_base64", |b| b.iter(|| secretgate::policy::secret::is_base64(black_box(&text))));
    group.bench_function("1MiB/base64_decode", |b| {
        b.iter(|| base64::engine::general_purpose::STANDARD.decode(black_box(&text)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
