//! Headless Chromium for the page tests: Debian's `chromium` driven by `chromedriver` over
//! WebDriver (fantoccini). Each test starts its own chromedriver in its own process group and
//! kills the whole group (driver and browsers) when it ends, even on a panic.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::free_port;

/// The two screens the pages are made for.
#[derive(Debug, Clone, Copy)]
pub enum Viewport {
    /// A small phone: 360 × 740 CSS pixels at 2× density, touch.
    Phone,
    /// A projector: 1920 × 1080 CSS pixels at 1×.
    Projector,
    /// A small laptop (or a 720p projector): 1280 × 720 CSS pixels at 1×.
    Laptop,
    /// A 4K projector or TV: 3840 × 2160 CSS pixels at 1×.
    Uhd,
    /// A desktop browser window of this many CSS pixels (e.g. 1280 × 577: a 720p screen minus
    /// the browser's own bars).
    Sized(u32, u32),
    /// The organiser's laptop: 1366 × 900 CSS pixels at 1×.
    Console,
}

pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver runs (scripts/setup.sh --test installs chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A new browser (its own profile, so its own cookies and storage).
    pub async fn browser(&self, viewport: Viewport) -> Client {
        self.browser_with(viewport, &[]).await
    }

    /// A new browser started with extra Chromium switches (e.g. `--force-prefers-reduced-motion`).
    pub async fn browser_with(&self, viewport: Viewport, extra: &[&str]) -> Client {
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--hide-scrollbars",
        ];
        args.extend_from_slice(extra);
        let mut options = json!({ "binary": chromium_binary() });
        match viewport {
            Viewport::Phone => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 360, "height": 740, "pixelRatio": 2.0, "touch": true },
                    "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Mobile Safari/537.36",
                });
            }
            Viewport::Projector => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 1920, "height": 1080, "pixelRatio": 1.0, "touch": false, "mobile": false },
                });
            }
            Viewport::Laptop => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 1280, "height": 720, "pixelRatio": 1.0, "touch": false, "mobile": false },
                });
            }
            Viewport::Console => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 1366, "height": 900, "pixelRatio": 1.0, "touch": false, "mobile": false },
                });
            }
            Viewport::Uhd => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 3840, "height": 2160, "pixelRatio": 1.0, "touch": false, "mobile": false },
                });
            }
            Viewport::Sized(width, height) => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "touch": false, "mobile": false },
                });
            }
        }
        options["args"] = json!(args);
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a headless Chromium session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group holds chromedriver and every Chromium it started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn chromium_binary() -> String {
    std::env::var("LIVEPOLL_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Where screenshots are saved: `target/test-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    let path = artifacts_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

/// Runs `script` (a function body) in the page until it returns something other than
/// null/false, and returns that; panics with `what` after 15 s.
pub async fn wait_js(client: &Client, what: &str, script: &str, args: Vec<Value>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = Value::Null;
    loop {
        if let Ok(v) = client.execute(script, args.clone()).await {
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            last = v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the element matching `css` has exactly this text.
pub async fn wait_text(client: &Client, css: &str, want: &str) {
    wait_js(
        client,
        &format!("{css} to read {want:?}"),
        "const e = document.querySelector(arguments[0]); return !!e && e.textContent === arguments[1];",
        vec![json!(css), json!(want)],
    )
    .await;
}

/// Waits until the element matching `css` contains this text.
pub async fn wait_contains(client: &Client, css: &str, want: &str) {
    wait_js(
        client,
        &format!("{css} to contain {want:?}"),
        "const e = document.querySelector(arguments[0]); return !!e && e.textContent.includes(arguments[1]);",
        vec![json!(css), json!(want)],
    )
    .await;
}

/// Clicks (taps, on a phone) the visible button whose text is exactly `label`, inside `scope`
/// (CSS). Retries while the page re-renders under it.
pub async fn tap_button(client: &Client, scope: &str, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for b in client
            .find_all(Locator::Css(&format!("{scope} button")))
            .await
            .unwrap_or_default()
        {
            if b.text().await.is_ok_and(|t| t == label) && b.click().await.is_ok() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no button {label:?} to tap in {scope}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `aria-pressed` state of each choice button on the attendee page, by label.
pub async fn pressed_choices(client: &Client) -> Vec<String> {
    let v = client
        .execute(
            "return [...document.querySelectorAll('#form button.choice')].filter(b => b.getAttribute('aria-pressed') === 'true').map(b => b.textContent);",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Every resource the page loaded, and every src/href/action in its DOM, that points outside `base`.
pub async fn outside_references(client: &Client, base: &str) -> Vec<String> {
    let v = client
        .execute(
            r#"const base = arguments[0];
               const urls = performance.getEntriesByType("resource").map(e => e.name);
               for (const e of document.querySelectorAll("[src],[href],[action]"))
                 for (const a of ["src", "href", "action"]) {
                   const v = e.getAttribute(a);
                   if (v) urls.push(new URL(v, location.href).href);
                 }
               return urls.filter(u => !u.startsWith(base) && !u.startsWith("blob:"));"#,
            vec![json!(format!("{base}/"))],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Every visible element of the page that lies (partly) outside the viewport, or whose content
/// overflows a box that clips it; empty when the page fits. Each entry names the element.
/// With `vertical` false (phones, which scroll) only the width counts.
pub async fn outside_viewport(client: &Client, vertical: bool) -> Vec<String> {
    let v = client
        .execute(
            r##"const out = [];
               const W = window.innerWidth, H = arguments[0] ? window.innerHeight : Infinity;
               const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().replace(/\s+/g, ".") : "");
               for (const e of document.body.querySelectorAll("*")) {
                 const cs = getComputedStyle(e);
                 if (cs.display === "none" || cs.visibility === "hidden" || e.closest("[hidden]") || e.closest(".sr-only")) continue;
                 const r = e.getBoundingClientRect();
                 if (r.width === 0 && r.height === 0) continue;
                 if (r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1)
                   out.push(`${name(e)} at ${Math.round(r.left)},${Math.round(r.top)}-${Math.round(r.right)},${Math.round(r.bottom)} in ${W}x${H}`);
                 const clips = cs.overflow === "hidden" || cs.overflowY === "hidden";
                 if (arguments[0] && clips && e.scrollHeight > e.clientHeight + 2 && !e.classList.contains("bar") && !e.classList.contains("col-bar") && !e.classList.contains("opt"))
                   out.push(`${name(e)} clips ${e.scrollHeight - e.clientHeight}px of its content`);
               }
               return out.slice(0, 20);"##,
            vec![json!(vertical)],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

/// Presses and releases one key (a character or a `fantoccini::key::Key`) on whatever has the
/// focus, as a keyboard would.
pub async fn press_key(client: &Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(keys).await.unwrap();
}

/// axe-core's script, installed by `scripts/setup.sh --test` into the cache (test-only: the
/// server never serves it).
pub fn axe_source() -> String {
    let cache = std::env::var("LIVEPOLL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/livepoll")
        });
    let path = cache.join("axe-core/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (scripts/setup.sh --test installs axe-core)",
            path.display()
        )
    })
}

/// Runs axe-core on the page as it is now and returns its serious and critical violations, one
/// line per rule with the elements it names; empty when the page is clean.
pub async fn axe_serious(client: &Client, axe: &str) -> Vec<String> {
    client
        .execute(&format!("{axe}\n;return true;"), vec![])
        .await
        .expect("axe-core loads into the page");
    let v = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { resultTypes: ["violations"] }).then((r) => done(
                 r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
                   .map((v) => `${v.impact} ${v.id} (${v.help}): ` + v.nodes.map((n) => n.target.join(" ") + " — " + (n.failureSummary || "").replace(/\s+/g, " ")).join("; "))
               ), (e) => done([`axe failed: ${e}`]));"#,
            vec![],
        )
        .await
        .expect("axe-core runs");
    serde_json::from_value(v).unwrap()
}
