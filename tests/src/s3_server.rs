//! A real S3-compatible server on 127.0.0.1 for the tests: s3s-fs 0.14.1, with SigV4
//! authentication on, so a wrong key is refused as AWS would refuse it.
//!
//! Why not Garage: Garage 2.5.0 ignores `If-None-Match` / `If-Match` on PutObject (its
//! `put.rs` reads neither), so it cannot show that the registry's conditional writes hold.
//! s3s-fs checks both. The binary comes from `cargo install s3s-fs@0.14.1 --features binary`
//! (`.ci/run` does it); `RISKFN_S3_SERVER` may name it explicitly.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use riskfn_core::registry::s3::S3Settings;

pub const REGION: &str = "us-east-1";

/// A running server with one bucket; stopped when dropped.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("RISKFN_S3_SERVER") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "the S3 tests need the s3s-fs server: run .ci/run, or \
             `cargo install s3s-fs@0.14.1 --locked --features binary` and put it on PATH"
        )
    })
}

impl S3Server {
    /// Start a server storing under `scratch`, with the bucket `riskfn`.
    pub fn start(scratch: &Path) -> S3Server {
        let root = scratch.join("s3-root");
        let _ = std::fs::remove_dir_all(&root);
        let bucket = "riskfn".to_owned();
        std::fs::create_dir_all(root.join(&bucket)).expect("create bucket folder");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let (access_key, secret_key) = (
            "riskfn-test".to_owned(),
            "riskfn-test-secret-key".to_owned(),
        );
        let log = std::fs::File::create(scratch.join("s3-server.log")).expect("log file");
        let mut child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "s3s-fs exited with {status}; see {}",
                    scratch.join("s3-server.log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not listen within 15 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        S3Server {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            access_key,
            secret_key,
        }
    }

    /// `s3://<bucket>/<path>`.
    pub fn uri(&self, path: &str) -> String {
        format!("s3://{}/{}", self.bucket, path.trim_start_matches('/'))
    }

    /// Settings for in-process clients.
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint: Some(self.endpoint.clone()),
            region: Some(REGION.to_owned()),
            access_key_id: Some(self.access_key.clone()),
            secret_access_key: Some(self.secret_key.clone()),
            session_token: None,
            path_style: true,
            timeout: None,
        }
    }

    /// Environment for a `riskfn` process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.clone()),
            // Keep the SDK away from profile files and instance metadata.
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("AWS_CONFIG_FILE", "/nonexistent".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".to_owned()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
