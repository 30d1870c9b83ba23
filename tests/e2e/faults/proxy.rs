//! A fault-injecting proxy in front of the real S3-compatible server, as a stopped, slow or
//! failing S3 looks to its clients: answers 500 `InternalError`, 503 `ServiceUnavailable`
//! or 503 `SlowDown` (throttling) instead of forwarding, or after forwarding (the write
//! landed, the answer was lost), delays answers, closes connections without an answer,
//! refuses every request while "down", holds every one while "stalled", and kills a
//! process at its n-th write.
//!
//! Requests are forwarded with their headers as signed (the Host header included), so the
//! server checks the client's SigV4 signature as it would without the proxy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// One way a request goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    /// 500 InternalError, the request not forwarded.
    Internal,
    /// 503 ServiceUnavailable, not forwarded.
    Unavailable,
    /// 503 SlowDown (S3's throttling), not forwarded.
    SlowDown,
    /// Forwarded (a write lands), then answered 500: the client cannot know it landed.
    LostAnswer,
    /// Forwarded after a pause.
    Slow(Duration),
    /// The connection closed without an answer.
    Reset,
}

impl Fault {
    /// Every kind, each drawn as often as the others.
    pub(super) const ALL: [Fault; 6] = [
        Fault::Internal,
        Fault::Unavailable,
        Fault::SlowDown,
        Fault::LostAnswer,
        Fault::SLOW,
        Fault::Reset,
    ];

    /// The pause a slowed request waits.
    pub(super) const SLOW: Fault = Fault::Slow(Duration::from_millis(400));

    fn index(self) -> usize {
        match self {
            Fault::Internal => 0,
            Fault::Unavailable => 1,
            Fault::SlowDown => 2,
            Fault::LostAnswer => 3,
            Fault::Slow(_) => 4,
            Fault::Reset => 5,
        }
    }
}

/// Kill process `pid` when the `at`-th write (PUT) since this was set arrives.
#[derive(Debug)]
struct Kill {
    pid: u32,
    at: usize,
    seen: usize,
}

#[derive(Debug)]
struct Plan {
    /// Probability that a request gets a fault, drawn from `ALL`.
    rate: f64,
    /// Every request refused (the connection closed), as a stopped server.
    down: bool,
    /// Every request held without an answer, as a stalled server.
    stalled: bool,
    kill: Option<Kill>,
    /// xorshift64 state: the same faults on every run.
    rng: u64,
}

impl Plan {
    fn next(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What was done to the requests that went through.
#[derive(Debug, Default)]
pub(super) struct Counts {
    pub(super) requests: AtomicUsize,
    /// Writes (PUTs) among them.
    pub(super) writes: AtomicUsize,
    /// Per kind of [`Fault`], in the order of `Fault::ALL` (read with `injected_of`).
    injected: [AtomicUsize; 6],
    /// Requests refused while down.
    pub(super) refused: AtomicUsize,
    /// Requests held while stalled.
    pub(super) held: AtomicUsize,
    pub(super) killed: AtomicUsize,
}

impl Counts {
    /// The faults of `kind` injected.
    pub(super) fn injected_of(&self, kind: Fault) -> usize {
        self.injected[kind.index()].load(Ordering::Relaxed)
    }

    pub(super) fn faults(&self) -> usize {
        self.injected
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<usize>()
            + self.refused.load(Ordering::Relaxed)
            + self.held.load(Ordering::Relaxed)
            + self.killed.load(Ordering::Relaxed)
    }
}

struct Shared {
    upstream: String,
    client: Client<HttpConnector, Incoming>,
    plan: Mutex<Plan>,
    counts: Counts,
}

/// A running proxy; stops when dropped.
pub(super) struct Proxy {
    pub(super) endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 to `upstream` (`http://host:port`), passing
    /// everything through until told otherwise.
    pub(super) async fn start(upstream: &str, seed: u64) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            plan: Mutex::new(Plan {
                rate: 0.0,
                down: false,
                stalled: false,
                kill: None,
                rng: seed.max(1),
            }),
            counts: Counts::default(),
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { shared.handle(req).await }
                    });
                    // A connection closed on purpose ends with an error: nothing to do.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service)
                        .await;
                });
            }
        });
        Proxy {
            endpoint,
            shared,
            task,
        }
    }

    /// Fault a share `rate` of the requests from now on (0: none).
    pub(super) fn set_rate(&self, rate: f64) {
        self.shared.plan.lock().unwrap().rate = rate;
    }

    /// Refuse every request (as a stopped server), or serve again.
    pub(super) fn set_down(&self, down: bool) {
        self.shared.plan.lock().unwrap().down = down;
    }

    /// Hold every request without an answer (as a stalled server), or serve again.
    pub(super) fn set_stalled(&self, stalled: bool) {
        self.shared.plan.lock().unwrap().stalled = stalled;
    }

    /// Kill `pid` when the `at`-th write from now arrives (1: the first); `None`: kill
    /// nothing.
    pub(super) fn kill_at_write(&self, kill: Option<(u32, usize)>) {
        self.shared.plan.lock().unwrap().kill = kill.map(|(pid, at)| Kill { pid, at, seen: 0 });
    }

    pub(super) fn counts(&self) -> &Counts {
        &self.shared.counts
    }
}

/// What to do with one request.
enum Action {
    Forward,
    Fault(Fault),
    /// The writer was just killed; the request it had on the wire lands or not.
    Killed {
        lands: bool,
    },
    Refuse,
    Hold,
}

impl Shared {
    fn decide(&self, method: &Method) -> Action {
        let mut plan = self.plan.lock().unwrap();
        if plan.down {
            self.counts.refused.fetch_add(1, Ordering::Relaxed);
            return Action::Refuse;
        }
        if plan.stalled {
            self.counts.held.fetch_add(1, Ordering::Relaxed);
            return Action::Hold;
        }
        if method == Method::PUT {
            self.counts.writes.fetch_add(1, Ordering::Relaxed);
        }
        if method == Method::PUT
            && let Some(kill) = plan.kill.as_mut()
        {
            kill.seen += 1;
            if kill.seen == kill.at {
                let pid = kill.pid;
                plan.kill = None;
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
                self.counts.killed.fetch_add(1, Ordering::Relaxed);
                return Action::Killed {
                    lands: plan.next() < 0.5,
                };
            }
        }
        if plan.rate > 0.0 && plan.next() < plan.rate {
            let fault = Fault::ALL[(plan.next() * Fault::ALL.len() as f64) as usize];
            self.counts.injected[fault.index()].fetch_add(1, Ordering::Relaxed);
            return Action::Fault(fault);
        }
        Action::Forward
    }

    async fn handle(&self, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let reset = || std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault: reset");
        match self.decide(req.method()) {
            Action::Forward => self.forward(req).await,
            Action::Refuse | Action::Fault(Fault::Reset) => Err(reset()),
            // Longer than any client waits.
            Action::Hold => {
                tokio::time::sleep(Duration::from_secs(300)).await;
                Err(reset())
            }
            Action::Killed { lands } => {
                if lands {
                    let _ = self.forward(req).await;
                }
                Err(reset())
            }
            Action::Fault(Fault::Slow(pause)) => {
                tokio::time::sleep(pause).await;
                self.forward(req).await
            }
            Action::Fault(Fault::LostAnswer) => {
                let _ = self.forward(req).await?.into_body().collect().await;
                Ok(s3_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError"))
            }
            Action::Fault(Fault::Internal) => {
                Ok(s3_error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError"))
            }
            Action::Fault(Fault::Unavailable) => Ok(s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
            )),
            Action::Fault(Fault::SlowDown) => {
                Ok(s3_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown"))
            }
        }
    }

    async fn forward(&self, mut req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        *req.uri_mut() = format!("{}{path}", self.upstream)
            .parse()
            .map_err(std::io::Error::other)?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(std::io::Error::other)?;
        Ok(resp.map(|b| b.map_err(|e| e.into()).boxed()))
    }
}

/// An S3 error answer, as the service writes one.
fn s3_error(status: StatusCode, code: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected fault</Message><RequestId>fault</RequestId></Error>"
    );
    let mut resp = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    resp
}
