//! Inputs that carry Secret values into every rule and failure path, with
//! the values each carries: shared by the CLI and server redaction tests.

use serde_json::json;

/// A value nobody would write by accident.
pub fn value(n: usize) -> String {
    format!("s3cr3t-redaction-{n}-xyzzy")
}

pub fn manifest(type_: &str, data: serde_json::Value) -> String {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak-check", "namespace": "team-a"}, "type": type_, "data": data})
        .to_string()
}

pub fn string_data_manifest(type_: &str, data: serde_json::Value) -> String {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak-check"}, "type": type_, "stringData": data})
        .to_string()
}

/// (description, stdin, extra args, the secret values it carries)
pub fn corpus() -> Vec<(&'static str, String, Vec<String>, Vec<String>)> {
    let v: Vec<String> = (0..25).map(value).collect();
    // credentials where they do not belong: named by kind, never shown
    let key_id_tail = "Q7RZ2M4XK6WB3N5T";
    let key_id = format!("{}{key_id_tail}", "AKIA");
    let mut cases = vec![
        (
            "echo newline",
            manifest("kubernetes.io/basic-auth", json!({"password": super::b64(format!("{}\n", v[1]).as_bytes())})),
            vec![],
            vec![v[1].clone()],
        ),
        (
            "bad keys",
            manifest("Opaque", json!({"a*b": super::b64(v[2].as_bytes()), "..x": super::b64(v[3].as_bytes())})),
            vec![],
            vec![v[2].clone(), v[3].clone()],
        ),
        (
            "dockerconfig syntax",
            manifest(
                "kubernetes.io/dockerconfigjson",
                json!({".dockerconfigjson": super::b64(format!("{{\"auths\": {}", v[4]).as_bytes())}),
            ),
            vec![],
            vec![v[4].clone()],
        ),
        (
            "dockerconfig array",
            manifest(
                "kubernetes.io/dockerconfigjson",
                json!({".dockerconfigjson": super::b64(format!("[\"{}\"]", v[5]).as_bytes())}),
            ),
            vec![],
            vec![v[5].clone()],
        ),
        (
            "dockerconfig string",
            manifest("kubernetes.io/dockercfg", json!({".dockercfg": super::b64(format!("\"{}\"", v[6]).as_bytes())})),
            vec![],
            vec![v[6].clone()],
        ),
        (
            "tls garbage",
            manifest(
                "kubernetes.io/tls",
                json!({"tls.crt": super::b64(v[7].as_bytes()), "tls.key": super::b64(v[8].as_bytes())}),
            ),
            vec![],
            vec![v[7].clone(), v[8].clone()],
        ),
        (
            "too large",
            manifest("Opaque", json!({"big": super::b64(v[9].repeat(60_000).as_bytes())})),
            vec![],
            vec![v[9].clone()],
        ),
        (
            "string data",
            string_data_manifest("kubernetes.io/ssh-auth", json!({"bad key": v[10], "ssh-privatekey": ""})),
            vec![],
            vec![v[10].clone()],
        ),
        ("not base64", manifest("Opaque", json!({"k": format!("{}!!", v[11])})), vec![], vec![v[11].clone()]),
        (
            "data as a list",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": [v[12]]}).to_string(),
            vec![],
            vec![v[12].clone()],
        ),
        (
            "number value",
            format!(
                r#"{{"apiVersion":"v1","kind":"Secret","metadata":{{"name":"x"}},"data":{{"k":{}}}}}"#,
                987654321012345u64
            ),
            vec![],
            vec!["987654321012345".to_string()],
        ),
        (
            "yaml syntax",
            format!("apiVersion: v1\nkind: Secret\nstringData:\n  password: {}\n  x: [unclosed\n", v[13]),
            vec![],
            vec![v[13].clone()],
        ),
        (
            "yaml indent",
            format!("apiVersion: v1\nkind: Secret\nstringData:\n  password: {}\n bad: indent\n", v[14]),
            vec![],
            vec![v[14].clone()],
        ),
        (
            // what every client-side `kubectl apply` leaves on a Secret
            "last-applied annotation",
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "applied", "namespace": "team-a", "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": json!({
                        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "applied", "namespace": "team-a"},
                        "data": {"a*b": super::b64(v[17].as_bytes())}, "stringData": {"token": v[18]}}).to_string(),
                    "team.example/copy": v[19]}},
                "data": {"a*b": super::b64(v[17].as_bytes())}})
            .to_string(),
            vec![],
            vec![v[17].clone(), v[18].clone(), v[19].clone()],
        ),
    ];
    cases.push((
        "configmap credentials",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "leak-check", "namespace": "team-a"},
            "data": {"app.properties": format!("db.url=postgres://app:{}@db:5432/app\naws.key={key_id}\n", v[20])},
            "binaryData": {"key.pem": super::b64(format!("-----BEGIN RSA {} KEY-----\n{}\n", "PRIVATE", v[21]).as_bytes())}})
        .to_string(),
        vec![],
        vec![v[20].clone(), v[21].clone(), key_id.clone(), key_id_tail.to_string()],
    ));
    cases.push((
        "pod env literal credential",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "leak-check", "namespace": "team-a"},
            "spec": {"containers": [{"name": "c", "image": "i", "env": [
                {"name": "DB_URL", "value": format!("mysql://root:{}@db/app", v[22])},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}]}})
        .to_string(),
        vec![],
        vec![v[22].clone()],
    ));
    cases.push((
        "legacy token secret",
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": "leak-check", "namespace": "team-a",
                "annotations": {"kubernetes.io/service-account.name": "default"}},
            "data": {"token": super::b64(v[23].as_bytes())}})
        .to_string(),
        vec![],
        vec![v[23].clone()],
    ));
    // an UPDATE of an immutable Secret, both values secret
    // inside target/ (cargo's per-project scratch directory), not the system /tmp
    let dir =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("secretgate-redaction-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("old.json");
    let mut old_secret: serde_json::Value =
        serde_json::from_str(&manifest("Opaque", json!({"k": super::b64(v[15].as_bytes())}))).unwrap();
    old_secret["immutable"] = true.into();
    std::fs::write(&old, old_secret.to_string()).unwrap();
    let mut new_secret: serde_json::Value =
        serde_json::from_str(&manifest("kubernetes.io/tls", json!({"k": super::b64(v[16].as_bytes())}))).unwrap();
    new_secret["immutable"] = false.into();
    cases.push((
        "immutable update",
        new_secret.to_string(),
        vec!["--old".into(), old.to_str().unwrap().into()],
        vec![v[15].clone(), v[16].clone()],
    ));
    cases
}
