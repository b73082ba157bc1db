//! etcd + kube-apiserver on free loopback ports, with static-token admin access.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};

use crate::process::{Watched, run};
use crate::{Error, Result, bin_dir, free_port, workspace_root};

const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A running control plane. No controller-manager runs: nothing is garbage-collected and no
/// default ServiceAccount appears, so tests must not rely on either.
pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    processes: Mutex<Vec<Watched>>,
}

static SHARED: OnceLock<std::result::Result<ControlPlane, String>> = OnceLock::new();

impl ControlPlane {
    /// The control plane of this test binary, with the Javari CRDs installed; started on
    /// first use. Panics (failing the test) with instructions when it cannot start.
    pub fn shared() -> &'static ControlPlane {
        let started = SHARED.get_or_init(|| {
            // Started on a runtime of its own: the callers' runtimes come and go per test.
            std::thread::spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async {
                    let cp = ControlPlane::start().await?;
                    install_crds(&cp.client().await?).await?;
                    Ok::<_, Error>(cp)
                })
                .map_err(|e| e.to_string())
            })
            .join()
            .unwrap_or_else(|_| Err("control plane start-up panicked".to_owned()))
        });
        match started {
            Ok(cp) => cp,
            Err(message) => panic!("test control plane unavailable: {message}"),
        }
    }

    /// Starts a fresh etcd and kube-apiserver without any CRDs.
    pub async fn start() -> Result<ControlPlane> {
        let bins = bin_dir();
        let dir =
            std::env::temp_dir().join(format!("javari-cp-{}-{}", std::process::id(), short_id()));
        mkdir(&dir.join("certs"))?;

        let etcd_client = free_port()?;
        let etcd_peer = free_port()?;
        let etcd_args: Vec<String> = [
            "--name=default".to_owned(),
            format!("--data-dir={}", dir.join("etcd").display()),
            format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
            format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
            format!("--initial-cluster=default=http://127.0.0.1:{etcd_peer}"),
            "--unsafe-no-fsync=true".to_owned(),
            "--log-level=warn".to_owned(),
        ]
        .into();
        let etcd = Watched::spawn(&bins.join("etcd"), &etcd_args, &dir.join("etcd.log"), None)?;

        let sa_key = dir.join("sa.key");
        let sa_pub = dir.join("sa.pub");
        run(Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(&sa_key))?;
        run(Command::new("openssl")
            .args(["ec", "-pubout", "-in"])
            .arg(&sa_key)
            .arg("-out")
            .arg(&sa_pub))?;
        let token = format!("{}{}", short_id(), short_id());
        let tokens = dir.join("tokens.csv");
        write(
            &tokens,
            &format!("{token},javari-admin,javari-admin,\"system:masters\"\n"),
        )?;

        let port = free_port()?;
        let server = format!("https://127.0.0.1:{port}");
        let api_args: Vec<String> = vec![
            format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", dir.join("certs").display()),
            format!("--token-auth-file={}", tokens.display()),
            "--authorization-mode=RBAC".to_owned(),
            "--disable-admission-plugins=ServiceAccount".to_owned(),
            "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
            format!("--service-account-key-file={}", sa_pub.display()),
            format!("--service-account-signing-key-file={}", sa_key.display()),
            "--allow-privileged=true".to_owned(),
            "--enable-priority-and-fairness=false".to_owned(),
        ];
        // The apiserver's watchdog removes the whole directory once both are gone.
        let apiserver = Watched::spawn(
            &bins.join("kube-apiserver"),
            &api_args,
            &dir.join("kube-apiserver.log"),
            Some(&dir),
        )?;

        let cp = ControlPlane {
            kubeconfig: dir.join("kubeconfig"),
            dir,
            server,
            processes: Mutex::new(vec![etcd, apiserver]),
        };
        let ca = cp.wait_for_serving_ca().await?;
        write(&cp.kubeconfig, &kubeconfig_yaml(&cp.server, &ca, &token))?;
        cp.wait_ready().await?;
        Ok(cp)
    }

    /// kube-apiserver writes its self-signed serving certificate and the CA that signed it
    /// into `--cert-dir` before it listens; clients then verify TLS against that CA.
    async fn wait_for_serving_ca(&self) -> Result<PathBuf> {
        let started = Instant::now();
        let bundle = self.dir.join("certs/apiserver.crt");
        let ca = self.dir.join("certs/ca.crt");
        loop {
            let pem = std::fs::read_to_string(&bundle).unwrap_or_default();
            let end = "-----END CERTIFICATE-----";
            let blocks: Vec<&str> = pem
                .split_inclusive(end)
                .filter(|b| b.contains(end))
                .collect();
            if let [_, ca_block] = blocks[..] {
                write(&ca, &format!("{}\n", ca_block.trim()))?;
                return Ok(ca);
            }
            if let Some(log) = self.failure_log(started) {
                return Err(Error::NotReady {
                    what: "kube-apiserver serving certificate",
                    seconds: READY_TIMEOUT.as_secs(),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_ready(&self) -> Result<()> {
        let started = Instant::now();
        let client = self.client().await?;
        loop {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| Error::Command {
                    command: "GET /readyz".into(),
                    output: e.to_string(),
                })?;
            if let Ok(body) = client.request_text(request).await
                && body.trim() == "ok"
            {
                return Ok(());
            }
            if let Some(log) = self.failure_log(started) {
                return Err(Error::NotReady {
                    what: "kube-apiserver",
                    seconds: READY_TIMEOUT.as_secs(),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The servers' last log lines when one has died or start-up took too long.
    fn failure_log(&self, started: Instant) -> Option<String> {
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        let dead = processes.iter_mut().any(|p| !p.is_running());
        (dead || started.elapsed() > READY_TIMEOUT).then(|| {
            processes
                .iter()
                .map(|p| p.log_tail(25))
                .collect::<Vec<_>>()
                .join("\n---\n")
        })
    }

    /// A new client for the calling test's runtime (clients must not cross runtimes).
    pub async fn client(&self) -> Result<Client> {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)?;
        let config =
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(config)?)
    }

    /// Path of a kubeconfig for this control plane (for kubectl, helm and the binaries).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kubeconfig for this control plane that authenticates with `token` (e.g. a
    /// ServiceAccount's, from the TokenRequest API), written once per `name`.
    pub fn kubeconfig_for_token(&self, name: &str, token: &str) -> Result<PathBuf> {
        let path = self.dir.join(format!("kubeconfig-{name}"));
        let ca = self.dir.join("certs/ca.crt");
        write(&path, &kubeconfig_yaml(&self.server, &ca, token))?;
        Ok(path)
    }

    /// `kubectl` from `.bin/`, pointed at this control plane as its admin.
    pub fn kubectl(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(crate::bin_dir().join("kubectl"));
        cmd.env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// `helm` from `.bin/`, pointed at this control plane, with its caches in the plane's
    /// folder (nothing from the user's own helm setup).
    pub fn helm(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(crate::bin_dir().join("helm"));
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", self.dir.join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.join("helm/data"));
        cmd
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Scratch directory of this control plane, removed when it stops.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a namespace with a random name for one test to isolate itself in.
    pub async fn test_namespace(&self, client: &Client) -> Result<String> {
        let name = format!("t-{}", short_id());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(name)
    }

    /// Stops etcd and kube-apiserver (also done when the owning process exits).
    pub fn stop(&self) {
        let mut processes = self.processes.lock().unwrap_or_else(|e| e.into_inner());
        for p in processes.iter_mut().rev() {
            p.stop();
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Applies every CRD under `charts/javari/crds/` (the committed YAML users install) and waits
/// until each is Established.
pub async fn install_crds(client: &Client) -> Result<()> {
    let dir = workspace_root().join("charts/javari/crds");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&text).map_err(|source| Error::Yaml {
                path: path.display().to_string(),
                source,
            })?;
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply("javari-testenv").force(),
            &Patch::Apply(&crd),
        )
        .await?;
        let established = await_condition(api.clone(), &name, conditions::is_crd_established());
        if tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .is_err()
        {
            return Err(Error::NotReady {
                what: "CRD",
                seconds: 30,
                log: name,
            });
        }
    }
    Ok(())
}

fn kubeconfig_yaml(server: &str, ca: &Path, token: &str) -> String {
    let ca = ca.display();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: javari-test\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: admin\n  user:\n    token: {token}\ncontexts:\n- name: javari-test\n  context:\n    cluster: javari-test\n    user: admin\n    namespace: default\ncurrent-context: javari-test\n"
    )
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn mkdir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}
