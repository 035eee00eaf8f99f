//! Real S3 servers on random free `127.0.0.1` ports: s3s-fs, `rclone serve s3`, moto,
//! Ceph's RADOS Gateway ([`crate::ceph`]) and (when available) MinIO, each in path-style and,
//! where the kit runs it so, virtual-hosted mode.
//!
//! Virtual-hosted requests go to `http://<bucket>.localhost:<port>`; since `*.localhost` does
//! not resolve everywhere, [`loopback_http_client`] resolves `localhost` and every
//! `*.localhost` name to `127.0.0.1` itself (other names go to the system resolver).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use backupman_s3::{S3Credentials, S3Drive, S3Settings, SharedHttpClient};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The checks an S3 drive's `health` runs, in order: tests name them from here so that a
/// renamed or added check shows up in one place. The first names where the credentials came
/// from: the kit's drives carry `access_key`/`secret_key`, so `config file`.
pub const HEALTH_CHECKS: [&str; 8] = [
    "credentials (config file)",
    "PutObject",
    "GetObject",
    "ListBucket",
    "DeleteObject",
    "multipart upload + abort",
    "no-clobber writes (If-None-Match)",
    "incomplete uploads",
];

/// Which server a [`S3Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// s3s-fs (crates.io), files in a temp folder.
    S3sFs,
    /// `rclone serve s3` over a temp folder.
    Rclone,
    /// moto's server, in memory.
    Moto,
    /// MinIO, when a binary or an endpoint is given.
    Minio,
    /// Ceph's RADOS Gateway on a throw-away single-node cluster ([`crate::ceph`]).
    CephRgw,
}

/// How requests address the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `http://host:port/bucket/key` (`force_path_style: true`).
    Path,
    /// `http://bucket.host:port/key` (`force_path_style: false`).
    VirtualHosted,
}

/// A running S3 server; dropping it stops the process and removes its files.
#[derive(Debug)]
pub struct S3Server {
    /// Which server.
    pub flavor: Flavor,
    /// How it is addressed.
    pub style: Style,
    /// Its loopback port.
    pub port: u16,
    /// The endpoint to configure (`http://localhost:P` for virtual-hosted).
    pub endpoint: String,
    /// Access key it accepts.
    pub access_key: String,
    /// Secret key it accepts.
    pub secret_key: String,
    /// Region to configure.
    pub region: String,
    child: Option<Child>,
    root: Option<tempfile::TempDir>,
    /// The cluster behind [`Flavor::CephRgw`].
    cluster: Option<crate::ceph::Cluster>,
}

/// The environment variable naming a binary, or a loud failure.
pub fn bin_from_env(var: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => panic!(
            "{var} is not set: the test servers are provisioned by xtask; run `cargo xtask test`"
        ),
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("cannot bind a loopback port")
        .port()
}

/// Resolves `localhost` and `*.localhost` to `127.0.0.1`; everything else through the system.
#[derive(Debug, Clone, Copy)]
pub struct LoopbackResolver;

impl ResolveDns for LoopbackResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        if name == "localhost" || name.ends_with(".localhost") {
            return DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]));
        }
        let name = name.to_owned();
        DnsFuture::new(async move {
            tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(ResolveDnsError::new)
        })
    }
}

/// The SDK's default HTTPS client (rustls on aws-lc) with the [`LoopbackResolver`].
pub fn loopback_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .build_with_resolver(LoopbackResolver)
}

impl S3Server {
    /// s3s-fs, in either style (`--domain localhost:P` lets it take bucket host names).
    pub fn s3s_fs(style: Style) -> Self {
        let bin = bin_from_env("BACKUPMAN_S3S_FS_BIN");
        Self::spawn(Flavor::S3sFs, style, |port, root, key, secret| {
            let mut cmd = Command::new(&bin);
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", key, "--secret-key", secret]);
            if style == Style::VirtualHosted {
                cmd.args(["--domain", &format!("localhost:{port}")]);
            }
            cmd.arg(root);
            cmd
        })
    }

    /// `rclone serve s3` on a local folder.
    pub fn rclone(style: Style) -> Self {
        let bin = bin_from_env("BACKUPMAN_RCLONE_BIN");
        Self::spawn(Flavor::Rclone, style, |port, root, key, secret| {
            let mut cmd = Command::new(&bin);
            cmd.args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
                .args(["--auth-key", &format!("{key},{secret}")])
                .args(["--config", "/dev/null"]);
            if style == Style::VirtualHosted {
                cmd.arg("--force-path-style=false");
            }
            cmd.arg(root);
            cmd
        })
    }

    /// moto's server (S3 and IAM). `no_auth_actions`: `Some(n)` turns IAM authorization on
    /// after the first `n` requests (moto's `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn moto(style: Style, no_auth_actions: Option<u32>) -> Self {
        let bin = bin_from_env("BACKUPMAN_MOTO_BIN");
        Self::spawn(Flavor::Moto, style, |port, root, _, _| {
            let mut cmd = Command::new(&bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(root)
                .env(
                    "MOTO_S3_CUSTOM_ENDPOINTS",
                    format!("http://localhost:{port}"),
                );
            if let Some(n) = no_auth_actions {
                cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", n.to_string());
            }
            cmd
        })
    }

    /// MinIO: the server at `BACKUPMAN_TEST_S3_ENDPOINT` (with `BACKUPMAN_TEST_S3_ACCESS_KEY`
    /// and `BACKUPMAN_TEST_S3_SECRET_KEY`, default `minioadmin`/`minioadmin`), else `minio`
    /// from PATH; `None` when neither is there.
    pub fn minio() -> Option<Self> {
        if let Ok(endpoint) = std::env::var("BACKUPMAN_TEST_S3_ENDPOINT")
            && !endpoint.is_empty()
        {
            let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "minioadmin".into());
            return Some(Self {
                flavor: Flavor::Minio,
                style: Style::Path,
                port: 0,
                endpoint,
                access_key: var("BACKUPMAN_TEST_S3_ACCESS_KEY"),
                secret_key: var("BACKUPMAN_TEST_S3_SECRET_KEY"),
                region: "us-east-1".into(),
                child: None,
                root: None,
                cluster: None,
            });
        }
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("minio"))
                .find(|p| p.is_file())
        })?;
        Some(Self::spawn(
            Flavor::Minio,
            Style::Path,
            |port, root, key, secret| {
                let mut cmd = Command::new(&found);
                cmd.args(["server", "--address", &format!("127.0.0.1:{port}")])
                    .args(["--console-address", &format!("127.0.0.1:{}", free_port())])
                    .arg(root)
                    .env("MINIO_ROOT_USER", key)
                    .env("MINIO_ROOT_PASSWORD", secret);
                cmd
            },
        ))
    }

    /// Ceph's RADOS Gateway (16, Debian's), path-style, on a cluster of its own that takes
    /// about 15 seconds to start and is stopped when this is dropped.
    pub fn ceph_rgw() -> Self {
        let (access_key, secret_key) = ("backupman-test", "backupman-test-secret/+=");
        let cluster = crate::ceph::Cluster::start(access_key, secret_key);
        Self {
            flavor: Flavor::CephRgw,
            style: Style::Path,
            port: cluster.rgw_port,
            endpoint: format!("http://127.0.0.1:{}", cluster.rgw_port),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: "us-east-1".into(),
            child: None,
            root: None,
            cluster: Some(cluster),
        }
    }

    fn spawn(
        flavor: Flavor,
        style: Style,
        command: impl FnOnce(u16, &Path, &str, &str) -> Command,
    ) -> Self {
        let root = tempfile::tempdir().expect("cannot create a temp folder");
        let data = root.path().join("data");
        std::fs::create_dir(&data).expect("cannot create the server's data folder");
        let (access_key, secret_key) = match flavor {
            // moto accepts any key until IAM authorization is switched on.
            Flavor::Moto => (
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            ),
            _ => ("backupman-test", "backupman-test-secret/+="),
        };
        let port = free_port();
        let stderr_path = root.path().join("stderr.log");
        let mut cmd = command(port, &data, access_key, secret_key);
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdin(Stdio::null())
            .stdout(File::create(root.path().join("stdout.log")).expect("stdout log"))
            .stderr(File::create(&stderr_path).expect("stderr log"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e} (run `cargo xtask test`)"));
        let host = match style {
            Style::Path => "127.0.0.1",
            Style::VirtualHosted => "localhost",
        };
        let mut server = Self {
            flavor,
            style,
            port,
            endpoint: format!("http://{host}:{port}"),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            region: "us-east-1".into(),
            child: Some(child),
            root: Some(root),
            cluster: None,
        };
        server.wait_ready(&program, &stderr_path);
        server
    }

    /// Waits until the port accepts connections, or fails naming the binary and its stderr.
    fn wait_ready(&mut self, program: &str, stderr_path: &Path) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let child = self.child.as_mut().expect("a spawned server has a process");
        crate::wait_for_server(
            &format!("S3 test server {program} (on {addr})"),
            child,
            stderr_path,
            READY_TIMEOUT,
            || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok(),
        );
    }

    /// A short name for messages: `s3s-fs (virtual-hosted)`.
    pub fn name(&self) -> String {
        let flavor = match self.flavor {
            Flavor::S3sFs => "s3s-fs",
            Flavor::Rclone => "rclone serve s3",
            Flavor::Moto => "moto",
            Flavor::Minio => "minio",
            Flavor::CephRgw => "ceph rgw",
        };
        let style = match self.style {
            Style::Path => "path-style",
            Style::VirtualHosted => "virtual-hosted",
        };
        format!("{flavor} ({style})")
    }

    /// The drive settings for `bucket` and `prefix` on this server.
    pub fn drive_settings(&self, bucket: &str, prefix: &str) -> S3Settings {
        let mut settings = S3Settings::new(self.name(), bucket, self.region.clone());
        settings.credentials = Some(S3Credentials::new(
            self.access_key.clone(),
            self.secret_key.clone(),
        ));
        settings.endpoint = Some(self.endpoint.clone());
        settings.prefix = prefix.into();
        settings.force_path_style = self.style == Style::Path;
        settings.timeout_seconds = Some(30);
        settings.max_attempts = Some(2);
        settings.part_size_mb = Some(5);
        settings
    }

    /// A drive on this server (through [`loopback_http_client`]).
    pub fn drive(&self, bucket: &str, prefix: &str) -> S3Drive {
        drive_for(&self.drive_settings(bucket, prefix))
    }

    /// Creates `bucket`, addressing the server in its own style.
    pub async fn create_bucket(&self, bucket: &str) {
        self.drive(bucket, "")
            .client()
            .create_bucket()
            .bucket(bucket)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot create bucket {bucket} on {}: {e:?}", self.name()));
    }

    /// Creates `bucket` with Object Lock enabled (and so versioning), as
    /// `aws s3api create-bucket --object-lock-enabled-for-bucket` does.
    pub async fn create_locked_bucket(&self, bucket: &str) {
        self.drive(bucket, "")
            .client()
            .create_bucket()
            .bucket(bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "cannot create locked bucket {bucket} on {}: {e:?}",
                    self.name()
                )
            });
    }

    /// Runs `aws s3api ARGS` against this server and returns its stdout as JSON; panics with
    /// the CLI's stderr when it fails.
    pub fn s3api(&self, args: &[&str]) -> serde_json::Value {
        let out = self.s3api_output(args);
        assert!(
            out.status.success(),
            "aws s3api {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// Runs `aws s3api ARGS` against this server, successful or not.
    pub fn s3api_output(&self, args: &[&str]) -> std::process::Output {
        self.aws_cli()
            .arg("s3api")
            .args(args)
            .output()
            .expect("run aws s3api")
    }

    /// Keys of the multipart uploads still open in `bucket` under `prefix`: ListMultipartUploads,
    /// or for s3s-fs (which does not implement it) the upload files in its data folder.
    pub async fn open_uploads(&self, bucket: &str, prefix: &str) -> Vec<String> {
        if self.flavor == Flavor::S3sFs {
            let dir = self.data_dir().expect("s3s-fs runs locally");
            return std::fs::read_dir(&dir)
                .expect("read the s3s-fs data folder")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(".upload"))
                .collect();
        }
        let out = self
            .drive(bucket, "")
            .client()
            .list_multipart_uploads()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListMultipartUploads on {}: {e:?}", self.name()));
        out.uploads()
            .iter()
            .filter_map(|u| u.key().map(str::to_owned))
            .collect()
    }

    /// The `aws` CLI pointed at this server (path-style address), with its credentials.
    pub fn aws_cli(&self) -> Command {
        let mut cmd = Command::new(bin_from_env("BACKUPMAN_AWS_BIN"));
        let endpoint = match self.flavor {
            Flavor::Minio => self.endpoint.clone(),
            _ => format!("http://127.0.0.1:{}", self.port),
        };
        cmd.arg("--endpoint-url")
            .arg(endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_DEFAULT_REGION", &self.region)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        cmd
    }

    /// Runs `aws iam ARGS` against this server (moto) and returns its stdout; panics with
    /// the CLI's stderr when it fails.
    pub fn aws_iam(&self, args: &[&str]) -> String {
        let out = self
            .aws_cli()
            .arg("iam")
            .args(args)
            .output()
            .expect("run aws iam");
        assert!(
            out.status.success(),
            "aws iam {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("aws prints UTF-8")
    }

    /// Creates the IAM user `name` on this server (moto), allowed `actions` on `bucket` and
    /// its objects, with an access key: its ID and secret. Three IAM requests (the user, its
    /// policy, its key), which count towards moto's `no_auth_actions`.
    pub fn iam_user(&self, name: &str, bucket: &str, actions: &[&str]) -> (String, String) {
        self.aws_iam(&["create-user", "--user-name", name]);
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": actions,
                "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]
            }]
        });
        self.aws_iam(&[
            "put-user-policy",
            "--user-name",
            name,
            "--policy-name",
            bucket,
            "--policy-document",
            &policy.to_string(),
        ]);
        let keys = self.aws_iam(&[
            "create-access-key",
            "--user-name",
            name,
            "--query",
            "AccessKey.[AccessKeyId,SecretAccessKey]",
            "--output",
            "text",
        ]);
        let (key, secret) = keys.trim().split_once('\t').expect("key and secret");
        (key.to_owned(), secret.to_owned())
    }

    /// The server's data folder (`None` for an external MinIO).
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.root.as_ref().map(|r| r.path().join("data"))
    }
}

/// A drive for `settings` through [`loopback_http_client`].
pub fn drive_for(settings: &S3Settings) -> S3Drive {
    S3Drive::with_http_client(settings.clone(), loopback_http_client())
        .expect("a valid test drive config")
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // A Ceph cluster's daemons are killed, and its folder removed, with it.
        drop(self.cluster.take());
        // `root` (a TempDir) removes the server's files when dropped after this.
    }
}

/// Every server this machine can run, in each style it supports: s3s-fs, rclone and moto in
/// path-style and virtual-hosted, plus MinIO (path-style) when available.
pub fn all_servers() -> Vec<S3Server> {
    let mut servers = Vec::new();
    for style in [Style::Path, Style::VirtualHosted] {
        servers.push(S3Server::s3s_fs(style));
        servers.push(S3Server::rclone(style));
        servers.push(S3Server::moto(style, None));
    }
    servers.extend(S3Server::minio());
    servers
}

/// What a [`http_client_with_hook`] hook does with each request: change it, or fail it (as a
/// connection error) with the returned message.
pub type RequestHook = Arc<dyn Fn(&mut HttpRequest) -> Result<(), String> + Send + Sync>;

/// The [`loopback_http_client`] with `hook` run on every request after it was signed.
pub fn http_client_with_hook(hook: RequestHook) -> SharedHttpClient {
    SharedHttpClient::new(Hooked {
        inner: loopback_http_client(),
        hook,
    })
}

/// An HTTP client that adds one header to every request after it was signed (to send, say,
/// a security token the signature does not cover).
pub fn http_client_adding_header(name: &'static str, value: &'static str) -> SharedHttpClient {
    http_client_with_hook(Arc::new(move |request: &mut HttpRequest| {
        request.headers_mut().insert(name, value);
        Ok(())
    }))
}

#[derive(Clone)]
struct Hooked<T> {
    inner: T,
    hook: RequestHook,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Hooked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooked")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl HttpClient for Hooked<SharedHttpClient> {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Hooked {
            inner: self.inner.http_connector(settings, components),
            hook: self.hook.clone(),
        })
    }
}

impl HttpConnector for Hooked<SharedHttpConnector> {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        match (self.hook)(&mut request) {
            Ok(()) => self.inner.call(request),
            Err(message) => HttpConnectorFuture::ready(Err(ConnectorError::io(
                std::io::Error::other(message).into(),
            ))),
        }
    }
}

/// A TCP server on `127.0.0.1` that accepts connections and never answers; stops when dropped.
#[derive(Debug)]
pub struct SilentServer {
    /// Its loopback port.
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    /// Starts it on a free port.
    pub fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `openssl s_server` on `127.0.0.1` with a freshly made self-signed certificate; stops when
/// dropped.
#[derive(Debug)]
pub struct SelfSignedTlsServer {
    /// Its loopback port.
    pub port: u16,
    child: Child,
    _root: tempfile::TempDir,
}

impl SelfSignedTlsServer {
    /// Starts it on a free port with a new certificate.
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp folder");
        let (key, cert) = (root.path().join("key.pem"), root.path().join("cert.pem"));
        let made = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("cannot run openssl (needed for the TLS test)");
        assert!(
            made.status.success(),
            "openssl req failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        let port = free_port();
        let stderr_path = root.path().join("stderr.log");
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path).expect("stderr log"))
            .spawn()
            .expect("cannot start openssl s_server");
        let mut server = Self {
            port,
            child,
            _root: root,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if server.child.try_wait().ok().flatten().is_some() || started.elapsed() > READY_TIMEOUT
            {
                panic!(
                    "openssl s_server did not listen on {addr}; its stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for SelfSignedTlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
