//! The embedded pages and assets, `/qr.svg`, and `/healthz`.
//!
//! Pages are plain files in `assets/`, compiled into the binary with rust-embed. A strict
//! Content-Security-Policy keeps every page offline-safe (nothing from other hosts) and makes
//! injected markup inert.

use rust_embed::RustEmbed;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::error::error_reply;
use super::{json_reply, with_state};
use crate::state::{AppState, now_ms};

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_guess::from_path(path).first_or_octet_stream();
            let mut res = Response::new(file.data.into_owned().into());
            let h = res.headers_mut();
            h.insert("content-type", mime.to_string().parse().expect("mime"));
            h.insert("content-security-policy", CSP.parse().expect("csp"));
            h.insert("cache-control", "no-cache".parse().expect("header"));
            res
        }
        None => error_reply(StatusCode::NOT_FOUND, "not_found", "no such file"),
    }
}

pub fn routes(state: AppState) -> BoxedFilter<(Response,)> {
    let index = warp::path::end()
        .and(warp::get())
        .map(|| asset("index.html"));
    let screen = warp::path!("screen")
        .and(warp::get())
        .map(|| asset("screen.html"));
    let admin = warp::path!("admin")
        .and(warp::get())
        .map(|| asset("admin.html"));
    let moderate = warp::path!("moderate")
        .and(warp::get())
        .map(|| asset("moderate.html"));
    let present = warp::path!("present")
        .and(warp::get())
        .map(|| asset("present.html"));
    let files = warp::path("assets")
        .and(warp::path::tail())
        .and(warp::get())
        .map(|tail: warp::path::Tail| asset(tail.as_str()));
    // With an event code, only an admin (the signed-in projector, the console) gets the QR code
    // that carries it: anyone else who can reach the server must not learn the code from it.
    let qr = warp::path!("qr.svg")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(super::is_admin(state.clone()))
        .map(|s: AppState, admin: bool| {
            let svg = match s.gate.code().filter(|_| admin) {
                Some(code) => crate::qr::svg(&crate::eventcode::url_with_code(&s.public_url, code))
                    .unwrap_or_else(|_| s.qr_svg.clone()),
                None => s.qr_svg.clone(),
            };
            let mut res = Response::new(svg.into());
            let h = res.headers_mut();
            h.insert("content-type", "image/svg+xml".parse().expect("mime"));
            h.insert("cache-control", "no-store".parse().expect("header"));
            res
        });
    let info = warp::path!("api" / "info")
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(super::is_admin(state.clone()))
        .map(|s: AppState, admin: bool| {
            // The code itself only to an admin; everyone may know that one is needed.
            let code = s.gate.code().filter(|_| admin);
            json_reply(
                StatusCode::OK,
                &serde_json::json!({
                    "join_url": s.public_url,
                    "code_required": s.gate.code().is_some(),
                    "event_code": code,
                    "qr_url": code.map_or_else(
                        || s.public_url.clone(),
                        |c| crate::eventcode::url_with_code(&s.public_url, c),
                    ),
                    "now": now_ms(),
                    "title": s.title,
                    "language": s.language,
                    "admin": admin,
                    "node": s.health.node(),
                }),
            )
        });
    let health = warp::path!("healthz").and(warp::get()).and(with_state(state)).map(|s: AppState| {
        let polls = s.polls();
        let node = s.health.node();
        let lag = s.consumer.lag.records();
        let open_files = s.health.descriptors().report();
        let warnings: Vec<String> = s.health.descriptors().warning().into_iter().collect();
        // A node far behind the topics is routed around until it caught up (CONTRACT.md
        // "Running several nodes on one Kafka cluster").
        let skipped = s.consumer.skipped_records.load(std::sync::atomic::Ordering::Relaxed);
        let checked = s
            .health
            .check()
            .and_then(|()| s.consumer.stalls.check())
            .and_then(|()| s.consumer.lag.behind().map_or(Ok(()), Err));
        match checked {
            Ok(()) => json_reply(
                StatusCode::OK,
                &serde_json::json!({
                    "status": "ok",
                    "kafka": s.kafka_desc,
                    "polls": polls.list().len(),
                    "votes_applied": s.consumer.votes_applied.load(std::sync::atomic::Ordering::Relaxed),
                    "node": node,
                    "lag": lag,
                    "skipped_records": skipped,
                    "open_files": open_files,
                    "warnings": warnings,
                }),
            ),
            Err(reason) => {
                let mut res = json_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({ "status": "unavailable", "reason": reason, "kafka": s.kafka_desc, "node": node, "lag": lag, "skipped_records": skipped, "open_files": open_files, "warnings": warnings }),
                );
                res.headers_mut().insert("retry-after", "2".parse().expect("header"));
                res
            }
        }
    });
    index
        .or(screen)
        .unify()
        .or(admin)
        .unify()
        .or(moderate)
        .unify()
        .or(present)
        .unify()
        .or(files)
        .unify()
        .or(qr)
        .unify()
        .or(info)
        .unify()
        .or(health)
        .unify()
        .boxed()
}
