//! An in-process mock of the Kubernetes API for Secrets and
//! ServiceAccounts: list (optionally held back, or failing), watch (a
//! stream the test feeds), and GET. It records every request with whether
//! it asked for metadata only.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

/// One request the mock saw.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET /api/v1/...` with the query.
    pub line: String,
    /// Whether it asked for `PartialObjectMetadata`.
    pub metadata_only: bool,
}

#[derive(Default)]
struct Objects {
    secrets: BTreeMap<(String, String), Value>,
    service_accounts: BTreeMap<(String, String), Value>,
    /// Namespaces, under the namespace `""`.
    namespaces: BTreeMap<(String, String), Value>,
}

/// How the mock's Events API behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventsApi {
    /// Records and answers 201.
    Working,
    /// Answers 500.
    Failing,
    /// Records the request, then answers only once [`MockApi::unblock_events`] is called.
    Blocked,
}

struct Inner {
    events_api: Mutex<EventsApi>,
    recorded_events: Mutex<Vec<Value>>,
    unblock: watch::Receiver<bool>,
    objects: Mutex<Objects>,
    events: broadcast::Sender<(&'static str, Value)>,
    seen: Mutex<Vec<Seen>>,
    release_lists: watch::Receiver<bool>,
    failing_lists: AtomicUsize,
    resource_version: AtomicU64,
}

/// A running mock API server.
#[derive(Clone)]
pub struct MockApi {
    /// Its address.
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    release: Arc<watch::Sender<bool>>,
    unblock: Arc<watch::Sender<bool>>,
}

impl MockApi {
    /// Start it. With `hold_lists`, list requests wait for [`MockApi::release_lists`].
    pub async fn start(hold_lists: bool, failing_lists: usize) -> MockApi {
        let (release, release_lists) = watch::channel(!hold_lists);
        let (unblock, unblock_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            events_api: Mutex::new(EventsApi::Working),
            recorded_events: Mutex::new(Vec::new()),
            unblock: unblock_rx,
            objects: Mutex::new(Objects::default()),
            events: broadcast::channel(64).0,
            seen: Mutex::new(Vec::new()),
            release_lists,
            failing_lists: AtomicUsize::new(failing_lists),
            resource_version: AtomicU64::new(100),
        });
        let app = Router::new()
            .route("/api/v1/secrets", get(list_or_watch_secrets))
            .route("/api/v1/serviceaccounts", get(list_or_watch_service_accounts))
            .route("/api/v1/namespaces", get(list_or_watch_namespaces))
            .route("/api/v1/namespaces/{ns}/secrets/{name}", get(get_secret))
            .route("/api/v1/namespaces/{ns}/serviceaccounts/{name}", get(get_service_account))
            .route("/apis/events.k8s.io/v1/namespaces/{ns}/events", axum::routing::post(create_event))
            .route("/apis/events.k8s.io/v1/namespaces/{ns}/events/{name}", axum::routing::patch(patch_event))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MockApi { addr, inner, release: Arc::new(release), unblock: Arc::new(unblock) }
    }

    /// A kube client for it.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        kube::Client::try_from(config).unwrap()
    }

    /// Let held list requests answer.
    pub fn release_lists(&self) {
        let _ = self.release.send(true);
    }

    /// Put a Secret in the store (seen by lists and GETs, not by watches).
    pub fn put_secret(&self, secret: Value) {
        let key = key_of(&secret);
        self.inner.objects.lock().unwrap().secrets.insert(key, secret);
    }

    /// Put a ServiceAccount in the store.
    pub fn put_service_account(&self, sa: Value) {
        let key = key_of(&sa);
        self.inner.objects.lock().unwrap().service_accounts.insert(key, sa);
    }

    /// Put a Namespace in the store (seen by lists, not by watches).
    pub fn put_namespace(&self, namespace: Value) {
        let name = namespace["metadata"]["name"].as_str().unwrap().to_string();
        self.inner.objects.lock().unwrap().namespaces.insert((String::new(), name), namespace);
    }

    /// Send a watch event for a Namespace (and keep the store in step).
    pub fn watch_namespace(&self, kind: &str, namespace: Value) {
        self.put_namespace(namespace.clone());
        let rv = self.inner.resource_version.fetch_add(1, Ordering::SeqCst).to_string();
        let mut object = namespace;
        object["metadata"]["resourceVersion"] = rv.into();
        let _ = self.inner.events.send(("namespaces", json!({"type": kind, "object": object})));
    }

    /// Remove a Secret from the store.
    pub fn remove_secret(&self, namespace: &str, name: &str) {
        self.inner.objects.lock().unwrap().secrets.remove(&(namespace.to_string(), name.to_string()));
    }

    /// Send a watch event (`ADDED`, `MODIFIED`, `DELETED`) for a Secret.
    pub fn watch_secret(&self, kind: &str, secret: Value) {
        let rv = self.inner.resource_version.fetch_add(1, Ordering::SeqCst).to_string();
        let mut object = secret;
        object["metadata"]["resourceVersion"] = rv.into();
        let _ = self.inner.events.send(("secrets", json!({"type": kind, "object": object})));
    }

    /// Set how the Events API behaves.
    pub fn set_events_api(&self, mode: EventsApi) {
        *self.inner.events_api.lock().unwrap() = mode;
    }

    /// Let blocked Event requests answer.
    pub fn unblock_events(&self) {
        let _ = self.unblock.send(true);
    }

    /// Every Event POSTed or PATCHed so far (bodies, with `"_verb"` added).
    pub fn events(&self) -> Vec<Value> {
        self.inner.recorded_events.lock().unwrap().clone()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.seen.lock().unwrap().clone()
    }
}

fn json_body(status: StatusCode, value: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::to_vec(&value).unwrap()).into_response()
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn key_of(object: &Value) -> (String, String) {
    let meta = &object["metadata"];
    (meta["namespace"].as_str().unwrap_or("default").to_string(), meta["name"].as_str().unwrap().to_string())
}

fn wants_metadata(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=PartialObjectMetadata"))
}

/// What a metadata-only client receives for an object.
fn as_metadata(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": object["metadata"]})
}

fn record(inner: &Inner, line: String, headers: &HeaderMap) -> bool {
    let metadata_only = wants_metadata(headers);
    inner.seen.lock().unwrap().push(Seen { line, metadata_only });
    metadata_only
}

async fn list_or_watch(
    inner: Arc<Inner>,
    resource: &'static str,
    query: HashMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let mut line = format!("GET /api/v1/{resource}");
    let mut q: Vec<_> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    q.sort();
    line.push('?');
    line.push_str(&q.join("&"));
    let metadata = record(&inner, line, &headers);
    let (kind, item_kind) = match resource {
        "secrets" => ("Secret", "SecretList"),
        "namespaces" => ("Namespace", "NamespaceList"),
        _ => ("ServiceAccount", "ServiceAccountList"),
    };
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        let receiver = inner.events.subscribe();
        let stream = futures::stream::unfold(receiver, move |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok((r, mut event)) if r == resource => {
                        if metadata {
                            event["object"] = as_metadata(&event["object"]);
                        }
                        let mut line = serde_json::to_vec(&event).unwrap();
                        line.push(b'\n');
                        return Some((Ok::<_, std::io::Error>(line), receiver));
                    }
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        });
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream))
            .into_response();
    }
    let mut release = inner.release_lists.clone();
    let _ = release.wait_for(|released| *released).await;
    if inner.failing_lists.load(Ordering::SeqCst) > 0 {
        inner.failing_lists.fetch_sub(1, Ordering::SeqCst);
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "etcd is having a bad day", "reason": "InternalError", "code": 500});
        return json_body(StatusCode::INTERNAL_SERVER_ERROR, status);
    }
    let objects = inner.objects.lock().unwrap();
    let store = match resource {
        "secrets" => &objects.secrets,
        "namespaces" => &objects.namespaces,
        _ => &objects.service_accounts,
    };
    let items: Vec<Value> = store
        .values()
        .map(|o| {
            let mut o = o.clone();
            o["apiVersion"] = "v1".into();
            o["kind"] = kind.into();
            if metadata { as_metadata(&o) } else { o }
        })
        .collect();
    let rv = inner.resource_version.load(Ordering::SeqCst).to_string();
    let list_kind = if metadata { "PartialObjectMetadataList" } else { item_kind };
    let api_version = if metadata { "meta.k8s.io/v1" } else { "v1" };
    json_body(
        StatusCode::OK,
        json!({"apiVersion": api_version, "kind": list_kind, "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

async fn list_or_watch_secrets(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap) -> Response {
    list_or_watch(inner, "secrets", query(&uri), headers).await
}

async fn list_or_watch_namespaces(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap) -> Response {
    list_or_watch(inner, "namespaces", query(&uri), headers).await
}

async fn list_or_watch_service_accounts(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap) -> Response {
    list_or_watch(inner, "serviceaccounts", query(&uri), headers).await
}

fn get_one(inner: &Inner, resource: &'static str, ns: String, name: String, headers: &HeaderMap) -> Response {
    let metadata = record(inner, format!("GET /api/v1/namespaces/{ns}/{resource}/{name}"), headers);
    let objects = inner.objects.lock().unwrap();
    let store = match resource {
        "secrets" => &objects.secrets,
        "namespaces" => &objects.namespaces,
        _ => &objects.service_accounts,
    };
    match store.get(&(ns, name.clone())) {
        Some(object) => {
            let mut object = object.clone();
            object["apiVersion"] = "v1".into();
            object["kind"] = if resource == "secrets" { "Secret" } else { "ServiceAccount" }.into();
            json_body(StatusCode::OK, if metadata { as_metadata(&object) } else { object })
        }
        None => {
            let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                "message": format!("{resource} \"{name}\" not found"), "details": {"name": name, "kind": resource}});
            json_body(StatusCode::NOT_FOUND, status)
        }
    }
}

async fn get_secret(
    State(inner): State<Arc<Inner>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    get_one(&inner, "secrets", ns, name, &headers)
}

async fn get_service_account(
    State(inner): State<Arc<Inner>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    get_one(&inner, "serviceaccounts", ns, name, &headers)
}

async fn record_event(inner: Arc<Inner>, verb: &str, body: axum::body::Bytes) -> Response {
    let mut event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    event["_verb"] = verb.into();
    inner.recorded_events.lock().unwrap().push(event.clone());
    let mode = *inner.events_api.lock().unwrap();
    match mode {
        EventsApi::Failing => json_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "message": "events are down", "reason": "InternalError", "code": 500}),
        ),
        EventsApi::Blocked => {
            let mut unblock = inner.unblock.clone();
            let _ = unblock.wait_for(|u| *u).await;
            json_body(StatusCode::CREATED, event)
        }
        EventsApi::Working => json_body(StatusCode::CREATED, event),
    }
}

async fn create_event(State(inner): State<Arc<Inner>>, body: axum::body::Bytes) -> Response {
    record_event(inner, "POST", body).await
}

async fn patch_event(State(inner): State<Arc<Inner>>, body: axum::body::Bytes) -> Response {
    record_event(inner, "PATCH", body).await
}
