//! Test helpers: one real bundled broker per test run (started through `scripts/kafka.sh`),
//! `spawn_app()` for an in-process server, and `ServeProcess` for the real binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use livepoll::app::Application;
use livepoll::broker::BundledBroker;
use livepoll::cli::{BrokerArgs, ServeArgs};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub const ADMIN: &str = "test-admin-token";
pub const PRESENTER: &str = "test-presenter-key";
pub const MODERATOR: &str = "test-moderator-key";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A broker started through our scripts, stopped when the test process exits.
pub struct TestBroker {
    pub broker: BundledBroker,
    pub data_dir: PathBuf,
    pub port: u16,
}

impl TestBroker {
    pub fn start() -> TestBroker {
        let data_dir = tempfile::Builder::new()
            .prefix("livepoll-broker-")
            .tempdir()
            .unwrap()
            .keep();
        let port = free_port();
        let broker = BundledBroker::new(&data_dir, port).unwrap();
        broker
            .start_watched(Some(std::process::id()))
            .expect("bundled broker starts");
        TestBroker {
            broker,
            data_dir,
            port,
        }
    }

    /// Starts it again (after a test killed it), still watched by this test process.
    pub fn restart(&self) {
        self.broker
            .start_watched(Some(std::process::id()))
            .expect("bundled broker restarts");
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.data_dir.join("kafka/broker.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// The broker shared by every test that does not kill its broker.
pub fn shared_broker() -> &'static TestBroker {
    static BROKER: OnceLock<TestBroker> = OnceLock::new();
    BROKER.get_or_init(TestBroker::start)
}

pub fn unique_prefix() -> String {
    format!("t{}", rand::random::<u32>())
}

pub fn serve_args(brokers: &str, data_dir: &Path, prefix: &str) -> ServeArgs {
    ServeArgs {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_url: Some("http://venue.example:8080".into()),
        broker: BrokerArgs {
            data_dir: data_dir.to_path_buf(),
            kafka_port: 9092,
        },
        brokers: Some(brokers.to_string()),
        admin_token: Some(ADMIN.into()),
        presenter_key: Some(PRESENTER.into()),
        moderator_key: Some(MODERATOR.into()),
        block_words: None,
        profanity_filter: false,
        polls: None,
        new_secret: false,
        title: String::new(),
        language: None,
        topic_prefix: prefix.to_string(),
        vote_partitions: 6,
        secret_file: None,
        node_id: None,
        kafka_options: Vec::new(),
        replication_factor: None,
        trusted_proxies: Vec::new(),
        max_connections_per_client: 512,
        event_code: livepoll::eventcode::EventCodeSetting::Off,
        session_rate: 120,
    }
}

/// A second node of the deployment whose first node keeps its data in `first`: the same
/// topics, admin token and secret (`--secret-file` pointing at the first node's key), as every
/// node of a real deployment has; a node with another secret on the same prefix is refused.
pub fn node_args(brokers: &str, data_dir: &Path, prefix: &str, first: &Path) -> ServeArgs {
    let mut args = serve_args(brokers, data_dir, prefix);
    args.secret_file = Some(first.join("secret.key"));
    args
}

/// Requests to a livepoll server, in-process ([`TestApp`] derefs to one) or a child process
/// ([`ServeProcess::api`]).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

pub struct TestApp {
    api: Api,
    pub data_dir: PathBuf,
    pub prefix: String,
    pub brokers: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(shared_broker()).await
}

/// An app on this broker, with its own temp data dir and topics.
pub async fn spawn_app_on(broker: &TestBroker) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut app = spawn_app_with(serve_args(
        &broker.bootstrap(),
        dir.path(),
        &unique_prefix(),
    ))
    .await;
    app._dir = Some(dir);
    app
}

pub async fn spawn_app_with(args: ServeArgs) -> TestApp {
    let data_dir = args.broker.data_dir.clone();
    let prefix = args.topic_prefix.clone();
    let brokers = args.brokers.clone().unwrap_or_default();
    let app = Application::build(args).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        api: Api::new(base),
        data_dir,
        prefix,
        brokers,
        stop: Some(tx),
        task: Some(task),
        _dir: None,
    }
}

impl TestApp {
    /// Stops the server and waits until it has shut down.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

impl std::ops::Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    pub fn new(base: String) -> Api {
        Api {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// A request carrying the admin bearer token.
    pub fn as_admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN)
    }

    /// GET as the admin, decoded from JSON.
    pub async fn admin_get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let res = self.as_admin(reqwest::Method::GET, path).send().await;
        res.unwrap().json().await.unwrap()
    }

    /// GET as the admin, the body as text.
    pub async fn admin_text(&self, path: &str) -> String {
        let res = self.as_admin(reqwest::Method::GET, path).send().await;
        res.unwrap().text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET without credentials, decoded from JSON.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn session(&self) -> String {
        let v: Value = self
            .client
            .post(self.url("/api/session"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["voter"].as_str().unwrap().to_string()
    }

    pub async fn admin_post(&self, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut r = self.as_admin(reqwest::Method::POST, path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    /// Creates a poll and opens it; returns its id.
    pub async fn open_poll(&self, def: Value) -> String {
        let res = self.admin_post("/api/polls", Some(def)).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{}",
            res.text().await.unwrap()
        );
        let id = res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let res = self
            .admin_post(&format!("/api/polls/{id}/open"), None)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        id
    }

    /// Opens a two-option poll, has one new voter vote `choice` (accepted) and waits until
    /// that vote is counted; returns the poll's id.
    pub async fn open_poll_with_one_vote(&self, choice: usize) -> String {
        let id = self.open_poll(single(2)).await;
        let voter = self.session().await;
        assert_eq!(
            self.vote(&voter, &id, json!({ "choice": choice })).await,
            StatusCode::ACCEPTED
        );
        self.wait_results(&id, |r| r["voters"] == 1).await;
        id
    }

    /// Puts a poll on air (or takes the screen off air with `None`).
    pub async fn put_on_air(&self, poll: Option<&str>) {
        let res = self
            .as_admin(reqwest::Method::PUT, "/api/screen")
            .json(&json!({ "poll": poll }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.status());
    }

    pub async fn vote(&self, voter: &str, poll: &str, body: Value) -> StatusCode {
        self.client
            .post(self.url(&format!("/api/polls/{poll}/votes")))
            .header("x-livepoll-voter", voter)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// The poll as an admin sees it (with results).
    pub async fn poll(&self, id: &str) -> Value {
        self.admin_get(&format!("/api/polls/{id}")).await
    }

    /// Waits until the admin view of the poll's results satisfies `ok`.
    pub async fn wait_results(&self, id: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let p = self.poll(id).await;
            if ok(&p["results"]) {
                return p["results"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "results never matched; last: {}",
                p["results"]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub fn single(options: usize) -> Value {
    json!({"question": "Which one?", "kind": "single", "options": (0..options).map(|i| format!("option {i}")).collect::<Vec<_>>()})
}

pub async fn get_status(client: &reqwest::Client, url: &str) -> Option<StatusCode> {
    client
        .get(url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

/// Polls `url` until it answers `want` (or panics after `secs`).
pub async fn wait_status(client: &reqwest::Client, url: &str, want: StatusCode, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if get_status(client, url).await == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_livepoll"));
    // Any broker the binary starts (`kafka start`, `serve`) is stopped when the test process
    // exits, even if a failing test never reaches its own `stop`.
    c.env_remove("LIVEPOLL_BROKERS")
        .env("LIVEPOLL_LOG", "livepoll=info,warn")
        .env("LIVEPOLL_WATCH_PID", std::process::id().to_string());
    c
}

/// The real `livepoll serve` binary as a child process.
pub struct ServeProcess {
    pub child: Child,
    pub base: String,
}

impl ServeProcess {
    pub fn start(args: &[&str], port: u16) -> ServeProcess {
        let bind = format!("127.0.0.1:{port}");
        let child = bin()
            .arg("serve")
            .args(["--bind", &bind, "--admin-token", ADMIN])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        ServeProcess {
            child,
            base: format!("http://{bind}"),
        }
    }

    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Waits for the process to exit; returns its exit code.
    /// Requests to this server (valid across restarts on the same port).
    pub fn api(&self) -> Api {
        Api::new(self.base.clone())
    }

    /// Waits until `/healthz` answers 200 (or panics after `secs`).
    pub async fn wait_healthy(&self, secs: u64) {
        let api = self.api();
        wait_status(&api.client, &api.url("/healthz"), StatusCode::OK, secs).await;
    }

    /// `serve` with its bundled broker on `kafka_port`, data in `data_dir`.
    pub fn start_bundled(data_dir: &Path, kafka_port: u16, port: u16) -> ServeProcess {
        ServeProcess::start(
            &[
                "--data-dir",
                data_dir.to_str().unwrap(),
                "--kafka-port",
                &kafka_port.to_string(),
            ],
            port,
        )
    }

    pub fn wait(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit within {secs}s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stdout(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True while the process runs. A killed process that nobody reaps (PID 1 of some containers
/// does not) stays a zombie which `kill(pid, 0)` still finds: that does not count as running.
pub fn pid_alive(pid: i32) -> bool {
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_none_or(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// An app on the shared broker, served with these connection limits (short timeouts, a small
/// per-client cap) instead of the defaults.
pub async fn spawn_app_with_limits(limits: livepoll::http::server::ConnLimits) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let args = serve_args(&shared_broker().bootstrap(), dir.path(), &unique_prefix());
    let data_dir = args.broker.data_dir.clone();
    let prefix = args.topic_prefix.clone();
    let brokers = args.brokers.clone().unwrap_or_default();
    let app = Application::build(args).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_with(
        async move {
            let _ = rx.await;
        },
        limits,
    ));
    TestApp {
        api: Api::new(base),
        data_dir,
        prefix,
        brokers,
        stop: Some(tx),
        task: Some(task),
        _dir: Some(dir),
    }
}

/// Posts `body` (if any) to `path` as `voter` until the server gives a definite answer: 202, or
/// a 4xx other than 429 (returned). Connection errors, 429 and 503 are retried, as a page does
/// (counted in `retries`); the request is the same each time, so a retry can never count twice.
pub async fn post_until_answered(
    api: &Api,
    voter: &str,
    path: &str,
    body: Option<Value>,
    retries: &std::sync::atomic::AtomicUsize,
) -> StatusCode {
    loop {
        let mut req = api
            .client
            .post(api.url(path))
            .header("x-livepoll-voter", voter)
            .timeout(Duration::from_secs(10));
        if let Some(b) = &body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(r)
                if r.status() == StatusCode::ACCEPTED
                    || (r.status().is_client_error()
                        && r.status() != StatusCode::TOO_MANY_REQUESTS) =>
            {
                return r.status();
            }
            _ => {
                retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await
            }
        }
    }
}

/// Arguments of a `livepoll serve` child process on the shared broker, with its own data dir
/// and topics (the same arguments start it again after a kill).
pub fn child_serve_args(data_dir: &Path) -> Vec<String> {
    [
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--brokers",
        &shared_broker().bootstrap(),
        "--topic-prefix",
        &unique_prefix(),
    ]
    .map(String::from)
    .to_vec()
}

/// Renders an SVG QR code to PNG and decodes it (librsvg + zbar, from scripts/setup.sh --test).
pub fn decode_qr(svg_bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = (dir.path().join("qr.svg"), dir.path().join("qr.png"));
    std::fs::write(&svg, svg_bytes).unwrap();
    let status = std::process::Command::new("rsvg-convert")
        .args(["--width", "600", "--background-color", "white", "--output"])
        .arg(&png)
        .arg(&svg)
        .status()
        .expect("rsvg-convert runs (scripts/setup.sh --test installs librsvg2-bin)");
    assert!(status.success());
    let out = std::process::Command::new("zbarimg")
        .args(["--quiet", "--raw"])
        .arg(&png)
        .output()
        .expect("zbarimg runs (scripts/setup.sh --test installs zbar-tools)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
