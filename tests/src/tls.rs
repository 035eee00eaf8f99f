//! TLS on loopback for tests of private CAs: a CA made for one test and a server certificate
//! for `localhost` and `127.0.0.1` it signed ([`certificates`]), and [`TlsProxy`], which puts
//! that certificate in front of any plain TCP server (an S3 server) with `socat`.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::s3::free_port;

/// A CA and a server certificate for `localhost` and `127.0.0.1` signed by it, written to
/// `dir`: returns the paths of the CA's certificate, the server's certificate and its key.
pub fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "backupman test CA");
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().expect("server key");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");

    let paths = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem()).expect("write the CA certificate");
    std::fs::write(&paths.1, cert.pem()).expect("write the server certificate");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write the server key");
    paths
}

/// `socat` terminating TLS on a free `127.0.0.1` port with a certificate from
/// [`certificates`], forwarding each connection to a plain TCP port; stops when dropped.
#[derive(Debug)]
pub struct TlsProxy {
    /// Its loopback port.
    pub port: u16,
    ca_file: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

impl TlsProxy {
    /// TLS on a new port in front of `127.0.0.1:backend`.
    pub fn start(backend: u16) -> Self {
        let dir = tempfile::tempdir().expect("cannot create a temp folder");
        let (ca_file, cert, key) = certificates(dir.path());
        let port = free_port();
        let stderr_path = dir.path().join("stderr.log");
        let mut child = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
                cert.display(),
                key.display()
            ))
            .arg(format!("TCP:127.0.0.1:{backend}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path).expect("stderr log"))
            .spawn()
            .expect("cannot start socat (installed by `cargo xtask test`)");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        crate::wait_for_server(
            &format!("TLS proxy socat (on {addr})"),
            &mut child,
            &stderr_path,
            Duration::from_secs(30),
            || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok(),
        );
        Self {
            port,
            ca_file,
            child,
            dir,
        }
    }

    /// The endpoint URL to configure: `https://localhost:PORT`.
    pub fn endpoint(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// The PEM file of the CA that issued the proxy's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A folder for the test's own files, removed with the proxy.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
