//! Pod labels from the Kubernetes API, for `kubernetes` sources (what
//! Promtail's `kubernetes_sd_configs` + `__meta_kubernetes_pod_label_*` and
//! Fluentd's `kubernetes_metadata` filter give):
//!
//! ```yaml
//! - type: kubernetes
//!   api:
//!     pod_labels: [app, job-type, model_name]   # copied as app, job_type, model_name
//! ```
//!
//! The agent lists the pods of its node (`GET /api/v1/pods?fieldSelector=
//! spec.nodeName=$NODE_NAME`, with the pod's service account token and CA
//! by default) at start, every `refresh` (30s), and when a log file belongs
//! to a pod it does not know yet (at most every 5 s). The chosen pod labels
//! are added to the streams of that pod's files, with names made valid
//! label names (`job-type` becomes `job_type`, `app.kubernetes.io/name`
//! becomes `app_kubernetes_io_name`). The service account needs `get` and
//! `list` on pods (examples/kubernetes/strata-agent-daemonset.yaml).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// The API server (default: `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`).
    #[serde(default)]
    pub url: Option<String>,
    /// Bearer token file (default: the pod's service account token).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// CA of the API server (default: the service account's `ca.crt`).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The node whose pods are listed (default: `$NODE_NAME`; empty: all pods).
    #[serde(default)]
    pub node_name: Option<String>,
    /// Pod labels to copy onto the pod's streams.
    #[serde(default)]
    pub pod_labels: Vec<String>,
    /// How often the pod list is refreshed (default 30s).
    #[serde(default)]
    pub refresh: Option<String>,
}

/// A label name made valid: characters other than letters, digits and `_`
/// become `_`, and a leading digit gets a `_` before it.
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// (namespace, pod name) -> the chosen labels.
type PodLabels = HashMap<(String, String), Vec<(String, String)>>;

/// The pods of a node and their chosen labels, refreshed from the API.
pub struct PodDirectory {
    url: String,
    token_file: Option<PathBuf>,
    node_name: String,
    wanted: Vec<String>,
    refresh: Duration,
    client: reqwest::blocking::Client,
    pods: RwLock<PodLabels>,
    /// When the list was last fetched, how many times, and whether a fetch
    /// is wanted now (an unknown pod).
    refreshes: std::sync::Mutex<Refreshes>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct Refreshes {
    fetched: Option<Instant>,
    count: u64,
    wanted: bool,
}

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    items: Vec<Pod>,
}

#[derive(Deserialize)]
struct Pod {
    metadata: PodMetadata,
}

#[derive(Deserialize)]
struct PodMetadata {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: HashMap<String, String>,
}

impl PodDirectory {
    pub fn new(config: &ApiConfig) -> anyhow::Result<Arc<PodDirectory>> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let url = match config.url.as_deref().filter(|url| !url.is_empty()) {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => match (
                env("KUBERNETES_SERVICE_HOST"),
                env("KUBERNETES_SERVICE_PORT"),
            ) {
                (Some(host), Some(port)) => format!("https://{host}:{port}"),
                _ => anyhow::bail!(
                    "api.url: not given, and KUBERNETES_SERVICE_HOST/PORT are not set (not in a pod?)"
                ),
            },
        };
        let ca_file = config.ca_file.clone().or_else(|| {
            let default = PathBuf::from(SERVICE_ACCOUNT).join("ca.crt");
            default.exists().then_some(default)
        });
        let token_file = config.token_file.clone().or_else(|| {
            let default = PathBuf::from(SERVICE_ACCOUNT).join("token");
            default.exists().then_some(default)
        });
        let refresh = match &config.refresh {
            None => Duration::from_secs(30),
            Some(text) => crate::stages::parse_duration(text)
                .map_err(|err| anyhow::anyhow!("api.refresh: {err}"))?,
        };
        if config.pod_labels.is_empty() {
            anyhow::bail!("api.pod_labels: name the pod labels to copy (app, job_type...)");
        }
        let tls = crate::output::TlsConfig {
            ca_file,
            ..Default::default()
        };
        let client = crate::output::http_client(&url, Some("10s"), Some(&tls))
            .map_err(|err| anyhow::anyhow!("api.{err}"))?;
        Ok(Arc::new(PodDirectory {
            url,
            token_file,
            node_name: config
                .node_name
                .clone()
                .or_else(|| env("NODE_NAME"))
                .unwrap_or_default(),
            wanted: config.pod_labels.clone(),
            refresh,
            client,
            pods: RwLock::new(HashMap::new()),
            refreshes: std::sync::Mutex::new(Refreshes::default()),
            changed: std::sync::Condvar::new(),
        }))
    }

    /// Fetches the list once, then keeps it fresh from a thread (which ends
    /// when the directory is dropped), so the shipping loop never waits on
    /// the API for more than a second.
    pub fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        self.fetch();
        let directory = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("agent-kubernetes".into())
            .spawn(move || {
                loop {
                    let Some(this) = directory.upgrade() else {
                        return;
                    };
                    {
                        let refreshes = this.refreshes.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = this.changed.wait_timeout_while(
                            refreshes,
                            Duration::from_secs(1),
                            |r| {
                                !r.wanted && r.fetched.is_some_and(|at| at.elapsed() < this.refresh)
                            },
                        );
                    }
                    let due = {
                        let r = this.refreshes.lock().unwrap_or_else(|e| e.into_inner());
                        r.wanted || r.fetched.is_none_or(|at| at.elapsed() >= this.refresh)
                    };
                    if due {
                        this.fetch();
                    }
                }
            })?;
        Ok(())
    }

    /// Lists the pods again; errors are logged and the old list kept.
    pub fn fetch(&self) {
        let done = || {
            let mut r = self.refreshes.lock().unwrap_or_else(|e| e.into_inner());
            r.fetched = Some(Instant::now());
            r.count += 1;
            r.wanted = false;
            self.changed.notify_all();
        };
        let mut request = self.client.get(format!("{}/api/v1/pods", self.url));
        if !self.node_name.is_empty() {
            request =
                request.query(&[("fieldSelector", format!("spec.nodeName={}", self.node_name))]);
        }
        if let Some(path) = &self.token_file {
            match std::fs::read_to_string(path) {
                // Tokens are rotated: read each time.
                Ok(token) => request = request.bearer_auth(token.trim()),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "cannot read the Kubernetes token")
                }
            }
        }
        let list: PodList = match request
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json())
        {
            Ok(list) => list,
            Err(err) => {
                tracing::warn!(url = %self.url, error = %err, "cannot list pods from the Kubernetes API");
                done();
                return;
            }
        };
        let mut pods = PodLabels::new();
        for pod in list.items {
            let labels = self
                .wanted
                .iter()
                .filter_map(|name| {
                    let value = pod.metadata.labels.get(name)?;
                    (!value.is_empty()).then(|| (sanitize(name), value.clone()))
                })
                .collect();
            pods.insert((pod.metadata.namespace, pod.metadata.name), labels);
        }
        *self.pods.write().unwrap_or_else(|e| e.into_inner()) = pods;
        done();
    }

    /// The chosen labels of a pod. For a pod the list does not have (new
    /// since the last fetch), asks the thread to fetch again (at most every
    /// 5 s) and waits up to a second for it.
    pub fn labels(&self, namespace: &str, pod: &str) -> Vec<(String, String)> {
        let key = (namespace.to_string(), pod.to_string());
        let cached = || {
            self.pods
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned()
        };
        if let Some(labels) = cached() {
            return labels;
        }
        let mut refreshes = self.refreshes.lock().unwrap_or_else(|e| e.into_inner());
        if refreshes
            .fetched
            .is_some_and(|at| at.elapsed() < Duration::from_secs(5))
        {
            return Vec::new();
        }
        let count = refreshes.count;
        refreshes.wanted = true;
        self.changed.notify_all();
        let _ = self
            .changed
            .wait_timeout_while(refreshes, Duration::from_secs(1), |r| r.count == count);
        cached().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitized() {
        assert_eq!(sanitize("job-type"), "job_type");
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("9lives"), "_9lives");
    }
}
