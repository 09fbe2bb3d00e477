//! `configmap-credentials` on a 1 MiB ConfigMap: with no credential (every
//! value scanned to the end) and with one at the very end; the detector alone
//! per MiB, and the whole review (decode, validate, encode).
//! `cargo bench --bench configmap_review`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secretgate::admission::{Admission, Webhook};
use secretgate::policy::Inventory;
use serde_json::json;

fn review(data: &serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "b3d1c0de-0000-4000-8000-000000000002",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "namespace": "team-a", "operation": "CREATE",
            "userInfo": {"username": "bench"},
            "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team-a"},
                       "data": data},
            "dryRun": false
        }
    }))
    .unwrap()
}

/// 1 MiB of configuration text: properties, URLs without passwords, JSON,
/// the words a real ConfigMap holds (prefix-like fragments included).
fn settings_text(bytes: usize) -> String {
    let lines = [
        "server.port=8080\n",
        "spring.datasource.url=jdbc:postgresql://db.team-a.svc:5432/app\n",
        "feature.flags={\"newCheckout\": true, \"region\": \"ASIA-PACIFIC\"}\n",
        "log.pattern=%d{ISO8601} [%thread] %-5level %logger{36} - %msg%n\n",
        "upstream=https://api.example.test/v2/items?page=1&size=50\n",
        "# keyJsonFile and ghp are not tokens; eyJ alone is no JWT\n",
    ];
    let mut text = String::with_capacity(bytes + 128);
    while text.len() < bytes {
        for line in lines {
            text.push_str(line);
        }
    }
    text.truncate(bytes);
    text
}

fn bench(c: &mut Criterion) {
    let mib = 1024 * 1024;
    let clean_text = settings_text(mib);
    let mut leaky_text = settings_text(mib - 64);
    leaky_text.push_str(&format!("\naws.key={}{}\n", "AKIA", "Q7RZ2M4XK6WB3N5T"));
    let as_data = |text: &str| {
        // four keys of 256 KiB, as a real ConfigMap splits its files
        let quarter = text.len() / 4;
        let mut data = serde_json::Map::new();
        for (i, key) in ["a.properties", "b.properties", "c.properties", "d.properties"].iter().enumerate() {
            let end = if i == 3 { text.len() } else { (i + 1) * quarter };
            data.insert(key.to_string(), text[i * quarter..end].into());
        }
        data
    };
    let clean = review(&as_data(&clean_text));
    let leaky = review(&as_data(&leaky_text));
    let admission = Admission::default();
    let view = Inventory::default();

    let mut group = c.benchmark_group("configmap_review");
    group.throughput(Throughput::Bytes(mib as u64));
    group.bench_function("1MiB/scan/clean", |b| {
        b.iter(|| secretgate::policy::credentials::scan(black_box(clean_text.as_bytes())))
    });
    group.bench_function("1MiB/scan/credential_at_end", |b| {
        b.iter(|| {
            let found = secretgate::policy::credentials::scan(black_box(leaky_text.as_bytes()));
            assert_eq!(found.len(), 1);
            found
        })
    });
    for (name, body) in [("clean", &clean), ("credential_at_end", &leaky)] {
        group.bench_function(format!("1MiB/decode_validate_encode/{name}"), |b| {
            b.iter(|| {
                let answer = admission.review(Webhook::Validate, black_box(body), &view, 1_800_000_000).unwrap();
                secretgate::admission::encode(&answer.response)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
