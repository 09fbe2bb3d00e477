//! The I/O of [`super`]: reads and writes the CA Secret, keeps the serving
//! certificate renewed, and registers the webhook configurations once the
//! server is ready. Every replica runs it; writes carry the resourceVersion
//! they read, so concurrent replicas settle on one CA and one registration.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, ObjectMeta, PostParams};
use serde_json::Value;
use tokio::sync::watch;

use super::authority::{self, Inputs, Leaf, Lifetimes, State, Step};

/// An annotation on the CA Secret that starts a graceful rotation (removed once done).
pub const ROTATE_ANNOTATION: &str = "secretgate.io/rotate-ca";
use super::webhooks::{self, Configuration, Kind};
use crate::app::now_unix as now;
use crate::cluster::View;
use crate::metrics::Metrics;
use crate::server::tls::{self, TlsReloader};

/// The field manager of every write.
const MANAGER: &str = "secretgate";
/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the controller looks after, as plain data.
#[derive(Clone, Debug)]
pub struct RegistrationConfig {
    /// The release namespace: where the CA Secret and the spec ConfigMap live,
    /// and whose deletion withdraws the webhooks.
    pub namespace: String,
    /// The CA Secret of a managed CA (`--tls-ca-secret`).
    pub ca_secret: Option<String>,
    /// DNS names and IP addresses of the serving certificate (`--tls-hosts`).
    pub hosts: Vec<String>,
    /// CA, leaf and overlap lifetimes.
    pub lifetimes: Lifetimes,
    /// The ConfigMap holding the webhook spec (`--webhook-configmap`).
    pub webhook_configmap: Option<String>,
    /// A PEM CA bundle file for the caBundle, without a managed CA (`--webhook-ca-file`).
    pub ca_file: Option<PathBuf>,
    /// How often everything is checked.
    pub resync: Duration,
}

/// The running controller (owned by its task).
pub struct Controller {
    client: Client,
    config: RegistrationConfig,
    metrics: Metrics,
    ca: State,
    leaf: Option<Leaf>,
    /// Registered at least once by this process: readiness no longer gates.
    registered_once: bool,
    /// The namespace is being deleted: the webhooks were withdrawn for good.
    withdrawn: bool,
    errors: HashMap<&'static str, String>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").field("config", &self.config).field("leaf", &self.leaf).finish()
    }
}

/// A failed API call: its HTTP status, if it got one, and one line (never a
/// body that could hold Secret data).
#[derive(Debug)]
struct Failure {
    code: Option<u16>,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

async fn timed<T>(call: impl Future<Output = Result<T, kube::Error>>) -> Result<T, Failure> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(kube::Error::Api(status))) => Err(Failure {
            code: Some(status.code),
            message: format!("{} ({}): {}", status.reason, status.code, status.message),
        }),
        Ok(Err(other)) => Err(Failure { code: None, message: other.to_string() }),
        Err(_) => Err(Failure {
            code: None,
            message: format!("no answer from the API server within {}s", CALL_TIMEOUT.as_secs()),
        }),
    }
}

fn resource(kind: Kind) -> ApiResource {
    ApiResource {
        group: "admissionregistration.k8s.io".into(),
        version: "v1".into(),
        api_version: "admissionregistration.k8s.io/v1".into(),
        kind: kind.as_str().into(),
        plural: kind.plural().into(),
    }
}

impl Controller {
    /// Read (or create) the CA and issue the first serving certificate, so
    /// that the server can bind. Without a managed CA there is nothing to do.
    pub async fn bootstrap(
        client: Client,
        config: RegistrationConfig,
        metrics: Metrics,
    ) -> Result<(Controller, Option<Leaf>), String> {
        let mut controller = Controller {
            client,
            config,
            metrics,
            ca: State::default(),
            leaf: None,
            registered_once: false,
            withdrawn: false,
            errors: HashMap::new(),
        };
        if controller.config.ca_secret.is_some() {
            controller.rotate(false).await?;
            controller.renew_leaf()?;
        }
        let leaf = controller.leaf.clone();
        Ok((controller, leaf))
    }

    /// Run until `shutdown`: renew, rotate and register every resync (and
    /// when the serving certificate is due).
    pub fn spawn(
        mut self,
        tls: Option<Arc<TlsReloader>>,
        view: View,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.tick(tls.as_deref(), &view).await;
                let wake = self.next_wake();
                tokio::select! {
                    _ = tokio::time::sleep(wake) => {}
                    _ = shutdown.changed() => break,
                }
            }
            self.on_shutdown().await;
        })
    }

    fn next_wake(&self) -> Duration {
        let leaf = self.leaf.as_ref().map(|l| Duration::from_secs((l.renew_at - now()).max(1) as u64));
        leaf.map_or(self.config.resync, |l| l.min(self.config.resync))
    }

    fn fail(&mut self, step: &'static str, message: String) {
        self.metrics.record_lifecycle_error(step);
        if self.errors.get(step) != Some(&message) {
            tracing::error!(step, error = %message, "Lifecycle step failed; retrying every resync");
            self.errors.insert(step, message);
        } else {
            tracing::debug!(step, error = %message, "Lifecycle step failed again");
        }
    }

    fn recovered(&mut self, step: &'static str) {
        if self.errors.remove(step).is_some() {
            tracing::info!(step, "Lifecycle step works again");
        }
    }

    async fn tick(&mut self, tls: Option<&TlsReloader>, view: &View) {
        let spec = match self.read_spec().await {
            Ok(spec) => spec,
            Err(error) => {
                self.fail("register", error);
                None
            }
        };
        let mut lives = Vec::new();
        let mut complete = spec.is_some();
        if let Some(spec) = &spec {
            for configuration in spec {
                match self.get_configuration(configuration).await {
                    Ok(live) => lives.push((configuration.clone(), live)),
                    Err(error) => {
                        // the certificates are renewed all the same: no cliff for a missing object
                        complete = false;
                        self.fail("register", error);
                        break;
                    }
                }
            }
        }
        if self.config.ca_secret.is_some() {
            // a configuration without webhooks has nothing to trust
            let successor_trusted = match &self.ca.next {
                Some((next, _)) => {
                    complete
                        && !lives.is_empty()
                        && lives.iter().all(|(c, l)| c.webhooks.is_empty() || webhooks::trusts(l, &next.cert))
                }
                None => false,
            };
            match self.rotate(successor_trusted).await {
                Ok(()) => self.recovered("ca"),
                Err(error) => self.fail("ca", error),
            }
            match self.renew_leaf() {
                Ok(true) => {
                    let leaf = self.leaf.as_ref().expect("just issued");
                    if let Some(tls) = tls
                        && !tls.install(leaf.cert.as_bytes(), leaf.key.as_bytes())
                    {
                        self.fail("leaf", "the new serving certificate was refused (see the error above)".into());
                    }
                }
                Ok(false) => self.recovered("leaf"),
                Err(error) => self.fail("leaf", error),
            }
        }
        if complete && !self.withdrawn {
            self.register(&lives, view).await;
        }
    }

    /// The webhook spec from the ConfigMap, if registration is on.
    async fn read_spec(&self) -> Result<Option<Vec<Configuration>>, String> {
        let Some(name) = &self.config.webhook_configmap else { return Ok(None) };
        let ns = &self.config.namespace;
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let configmap =
            timed(api.get_opt(name)).await.map_err(|e| format!("reading ConfigMap {ns}/{name}: {e}"))?.ok_or_else(
                || format!("ConfigMap {ns}/{name} (--webhook-configmap) does not exist: the chart renders it"),
            )?;
        let text = configmap
            .data
            .as_ref()
            .and_then(|d| d.get(webhooks::SPEC_KEY))
            .ok_or_else(|| format!("ConfigMap {ns}/{name} has no key {}", webhooks::SPEC_KEY))?;
        webhooks::parse_spec(text).map(Some).map_err(|e| format!("ConfigMap {ns}/{name}: {e}"))
    }

    async fn get_configuration(&self, configuration: &Configuration) -> Result<Value, String> {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource(configuration.kind));
        let kind = configuration.kind.as_str();
        let name = &configuration.name;
        let live =
            timed(api.get_opt(name)).await.map_err(|e| format!("reading {kind} {name}: {e}"))?.ok_or_else(|| {
                format!("{kind} {name} does not exist: the chart renders it empty (helm upgrade restores it)")
            })?;
        serde_json::to_value(live).map_err(|e| e.to_string())
    }

    /// Read the CA Secret, take the next step, write it back when it changed.
    async fn rotate(&mut self, successor_trusted: bool) -> Result<(), String> {
        let Some(name) = self.config.ca_secret.clone() else { return Ok(()) };
        let ns = self.config.namespace.clone();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &ns);
        let existing = timed(api.get_opt(&name)).await.map_err(|e| format!("reading Secret {ns}/{name}: {e}"))?;
        let data: BTreeMap<String, Vec<u8>> = existing
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .map(|d| d.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
            .unwrap_or_default();
        let current = State::from_data(&data);
        let asked = existing
            .as_ref()
            .is_some_and(|s| s.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(ROTATE_ANNOTATION)));
        let inputs = Inputs { successor_trusted, rotate_now: asked };
        let (next, step) =
            authority::plan(&current, now(), self.config.lifetimes, inputs, &name).map_err(|e| e.to_string())?;
        if step == Step::Keep && !asked {
            self.ca = current;
            return Ok(());
        }
        let data = next.to_data().into_iter().map(|(k, v)| (k, ByteString(v))).collect();
        let post = PostParams { field_manager: Some(MANAGER.into()), ..PostParams::default() };
        let written = match existing {
            Some(mut secret) => {
                secret.data = Some(data);
                secret.string_data = None;
                if let Some(annotations) = secret.metadata.annotations.as_mut() {
                    annotations.remove(ROTATE_ANNOTATION);
                }
                timed(api.replace(&name, &post, &secret)).await
            }
            None => {
                let secret = Secret {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(ns.clone()),
                        ..ObjectMeta::default()
                    },
                    type_: Some("Opaque".into()),
                    data: Some(data),
                    ..Secret::default()
                };
                timed(api.create(&post, &secret)).await
            }
        };
        match written {
            Ok(_) => {
                let until = next.signer.as_ref().map_or(0, |s| s.not_after);
                tracing::info!(secret = %format!("{ns}/{name}"), step = step.as_str(), signer_not_after = until, trusted = next.bundle.len(), "Managed CA updated");
                self.ca = next;
                Ok(())
            }
            // another replica wrote first: take its state on the next read
            Err(error) if error.code == Some(409) => {
                tracing::debug!(%error, "CA Secret changed under us; reading it again next resync");
                self.ca = current;
                Ok(())
            }
            Err(error) => {
                self.ca = current;
                Err(format!("writing Secret {ns}/{name}: {error}"))
            }
        }
    }

    /// Issue a serving certificate when there is none, it is due, or the
    /// signer changed. Returns whether a new one was issued.
    fn renew_leaf(&mut self) -> Result<bool, String> {
        let Some(signer) = self.ca.signer.clone() else {
            return Err("the managed CA has no signer yet".into());
        };
        let now = now();
        let due = match &self.leaf {
            None => true,
            Some(leaf) => leaf.signer != signer.cert || now >= leaf.renew_at,
        };
        if !due {
            return Ok(false);
        }
        let leaf = authority::issue_leaf(&signer, &self.config.hosts, now, self.config.lifetimes.leaf)
            .map_err(|e| e.to_string())?;
        tracing::info!(
            not_after = leaf.not_after,
            renew_at = leaf.renew_at,
            "Serving certificate issued by the managed CA"
        );
        self.leaf = Some(leaf);
        Ok(true)
    }

    /// The caBundle to register: the managed CA's bundle, or the file's.
    fn ca_bundle(&mut self) -> Option<String> {
        if self.config.ca_secret.is_some() {
            return Some(self.ca.bundle_pem()).filter(|b| !b.is_empty());
        }
        let path = self.config.ca_file.clone()?;
        // the same bounded, non-blocking read as the certificate files
        match tls::read("--webhook-ca-file", &path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Some(pem),
            Ok(_) => {
                self.fail("register", format!("--webhook-ca-file {}: holds no PEM certificate", path.display()));
                None
            }
            Err(error) => {
                self.fail("register", error.to_string());
                None
            }
        }
    }

    async fn register(&mut self, lives: &[(Configuration, Value)], view: &View) {
        if lives.is_empty() {
            return;
        }
        if !self.registered_once {
            // never enforce before this server can answer
            if !view.is_ready() {
                return;
            }
            let configurations: Vec<Configuration> = lives.iter().map(|(c, _)| c.clone()).collect();
            if !self.endpoints_ready(&configurations).await {
                return;
            }
        }
        let owner = match self.namespace().await {
            Ok(Some(ns)) if ns.metadata.deletion_timestamp.is_some() => {
                tracing::warn!(namespace = %self.config.namespace, "The release namespace is being deleted: withdrawing the webhooks");
                self.withdraw(lives).await;
                return;
            }
            Ok(Some(ns)) => ns.metadata.uid.map(|uid| webhooks::namespace_owner(&self.config.namespace, &uid)),
            Ok(None) => None,
            Err(error) => {
                self.fail("namespace", error);
                None
            }
        };
        let bundle = self.ca_bundle();
        if bundle.is_none() && self.config.ca_secret.is_none() && self.config.ca_file.is_some() {
            return;
        }
        let mut all = true;
        for (configuration, live) in lives {
            let want = webhooks::desired(configuration, bundle.as_deref());
            let Some(object) = webhooks::reconcile(live, &want, owner.as_ref()) else { continue };
            match self.put(configuration, object).await {
                Ok(()) => {
                    tracing::info!(kind = configuration.kind.as_str(), name = %configuration.name, webhooks = want.len(), "Webhook configuration registered")
                }
                Err(error) => {
                    all = false;
                    self.fail("register", error);
                }
            }
        }
        if all {
            self.recovered("register");
            self.registered_once = true;
        }
        self.metrics.set_registered(all);
    }

    async fn put(&self, configuration: &Configuration, object: Value) -> Result<(), String> {
        let kind = configuration.kind.as_str();
        let name = &configuration.name;
        let object: DynamicObject = serde_json::from_value(object).map_err(|e| format!("{kind} {name}: {e}"))?;
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource(configuration.kind));
        let post = PostParams { field_manager: Some(MANAGER.into()), ..PostParams::default() };
        timed(api.replace(name, &post, &object)).await.map(|_| ()).map_err(|e| format!("writing {kind} {name}: {e}"))
    }

    async fn namespace(&self) -> Result<Option<Namespace>, String> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = &self.config.namespace;
        timed(api.get_opt(ns)).await.map_err(|e| format!("reading Namespace {ns}: {e}"))
    }

    /// Whether every Service the webhooks call has a ready endpoint.
    async fn endpoints_ready(&mut self, configurations: &[Configuration]) -> bool {
        for (ns, name) in webhooks::services(configurations) {
            let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &ns);
            let params = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
            match timed(api.list(&params)).await {
                Ok(list) => {
                    let ready = list
                        .items
                        .iter()
                        .flat_map(|s| &s.endpoints)
                        .any(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true));
                    if !ready {
                        tracing::info!(service = %format!("{ns}/{name}"), "Waiting for a ready endpoint before registering the webhooks");
                        return false;
                    }
                }
                Err(error) => {
                    self.fail("register", format!("listing the EndpointSlices of Service {ns}/{name}: {error}"));
                    return false;
                }
            }
        }
        true
    }

    /// Empty every webhook configuration: nothing is enforced any more.
    async fn withdraw(&mut self, lives: &[(Configuration, Value)]) {
        for (configuration, live) in lives {
            let Some(object) = webhooks::reconcile(live, &[], None) else { continue };
            if let Err(error) = self.put(configuration, object).await {
                self.fail("register", error);
            }
        }
        self.withdrawn = true;
        self.metrics.set_registered(false);
    }

    /// At SIGTERM: when the namespace is going away, withdraw first.
    async fn on_shutdown(&mut self) {
        if self.withdrawn || self.config.webhook_configmap.is_none() {
            return;
        }
        let terminating = matches!(self.namespace().await, Ok(Some(ns)) if ns.metadata.deletion_timestamp.is_some());
        if !terminating {
            return;
        }
        let Ok(Some(spec)) = self.read_spec().await else { return };
        let mut lives = Vec::new();
        for configuration in spec {
            if let Ok(live) = self.get_configuration(&configuration).await {
                lives.push((configuration, live));
            }
        }
        tracing::warn!(namespace = %self.config.namespace, "Shutting down in a namespace being deleted: withdrawing the webhooks");
        self.withdraw(&lives).await;
    }
}
