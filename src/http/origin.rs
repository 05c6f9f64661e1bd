//! Refuses state-changing requests that another web page made a browser send.
//!
//! Cookies with `SameSite=Lax` still travel with a form posted from another port of the same
//! host, so cookies alone cannot tell the attendee's own page from a hostile one. Every request
//! other than GET, HEAD and OPTIONS therefore needs:
//! - a body, if any, declared as `Content-Type: application/json` (a form cannot send that
//!   without a CORS preflight, which livepoll never answers), and
//! - if the browser says where the request comes from (`Origin`, `Sec-Fetch-Site`), this server:
//!   the `Origin`'s host and port equal the request's `Host`, or it is the public URL's origin.
//!
//! Requests without `Origin` (curl, scripts, load tests) pass: a browser always sends one with
//! a cross-origin POST.

use warp::Filter;
use warp::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use warp::http::{HeaderMap, Method};

use super::error::ApiError;

/// Passes safe requests and state-changing requests from this server's own pages or from
/// non-browser clients; rejects the rest with 403 `forbidden`.
pub fn same_origin(
    public_url: &str,
) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone + use<> {
    let public = parse_origin(public_url);
    warp::method()
        .and(warp::header::headers_cloned())
        .and_then(move |method: Method, headers: HeaderMap| {
            let verdict = check(&method, &headers, public.as_ref());
            async move { verdict.map_err(|m| warp::reject::custom(ApiError::Forbidden(m))) }
        })
        .untuple_one()
}

/// `(scheme, host, port)` with the host lower-cased and the port made explicit.
pub(super) type Authority = (String, String, u16);

pub(super) fn check(
    method: &Method,
    h: &HeaderMap,
    public: Option<&Authority>,
) -> Result<(), String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let has_body = h.contains_key(TRANSFER_ENCODING)
        || h.get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().iter().any(|b| *b != b'0'));
    match h.get(CONTENT_TYPE) {
        Some(ct) if !is_json(ct.as_bytes()) => {
            return Err("send the request body as Content-Type: application/json".into());
        }
        None if has_body => {
            return Err("a request body needs Content-Type: application/json".into());
        }
        _ => {}
    }
    if let Some(site) = h.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err("requests from other web pages are refused".into());
    }
    let Some(origin) = h.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin
        .to_str()
        .ok()
        .and_then(parse_origin)
        .ok_or("requests from other web pages are refused (unreadable Origin)")?;
    let host = h
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|host| parse_authority(&origin.0, host));
    if host.as_ref() == Some(&origin) || public == Some(&origin) {
        Ok(())
    } else {
        Err(format!(
            "requests from other web pages are refused (Origin {}://{}:{} is not this server)",
            origin.0, origin.1, origin.2
        ))
    }
}

/// `application/json`, any case, with or without parameters such as `charset=utf-8`.
fn is_json(ct: &[u8]) -> bool {
    let essence = ct.split(|b| *b == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
}

/// `scheme://host[:port]` (a URL's path is ignored); `None` for `null` or anything else.
pub(super) fn parse_origin(url: &str) -> Option<Authority> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    parse_authority(&scheme, authority)
}

/// `host[:port]` as in a `Host` header; the port defaults to the scheme's.
fn parse_authority(scheme: &str, authority: &str) -> Option<Authority> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal without a port, `[::1]`, has colons but ends with `]`.
        Some((host, port)) if !port.contains(']') => (host, Some(port.parse::<u16>().ok()?)),
        _ => (authority, None),
    };
    let default = if scheme == "https" { 443 } else { 80 };
    Some((
        scheme.to_string(),
        host.to_ascii_lowercase(),
        port.unwrap_or(default),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, headers: &[(&str, &str)]) -> Result<(), String> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                warp::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        check(
            &method,
            &h,
            parse_origin("https://poll.example.org/").as_ref(),
        )
    }

    const JSON: (&str, &str) = ("content-type", "application/json");
    const HOST_8080: (&str, &str) = ("host", "127.0.0.1:8080");

    #[test]
    fn own_pages_and_scripts_pass() {
        let post = |h: &[(&str, &str)]| req(Method::POST, h);
        assert!(post(&[JSON, HOST_8080, ("content-length", "12")]).is_ok());
        assert!(post(&[JSON, HOST_8080, ("origin", "http://127.0.0.1:8080")]).is_ok());
        assert!(
            post(&[
                ("content-type", "Application/JSON; charset=utf-8"),
                HOST_8080
            ])
            .is_ok()
        );
        assert!(post(&[HOST_8080, ("content-length", "0")]).is_ok());
        assert!(post(&[HOST_8080, ("origin", "http://127.0.0.1:8080")]).is_ok());
        assert!(
            post(&[
                ("host", "poll.example.org"),
                ("origin", "https://poll.example.org")
            ])
            .is_ok()
        );
        assert!(
            post(&[
                ("host", "10.0.0.5:8080"),
                ("origin", "https://poll.example.org")
            ])
            .is_ok()
        );
        assert!(post(&[("host", "[::1]:8080"), ("origin", "http://[::1]:8080")]).is_ok());
        assert!(
            post(&[
                ("host", "x:80"),
                ("origin", "http://X"),
                ("sec-fetch-site", "same-origin")
            ])
            .is_ok()
        );
        assert!(req(Method::GET, &[("origin", "http://evil.example")]).is_ok());
    }

    #[test]
    fn other_pages_and_other_bodies_are_refused() {
        let post = |h: &[(&str, &str)]| req(Method::POST, h);
        let form = ("content-type", "text/plain");
        assert!(post(&[form, HOST_8080, ("origin", "http://127.0.0.1:8080")]).is_err());
        assert!(post(&[form, HOST_8080]).is_err());
        assert!(post(&[HOST_8080, ("content-length", "5")]).is_err());
        assert!(post(&[HOST_8080, ("transfer-encoding", "chunked")]).is_err());
        assert!(post(&[("content-type", "application/jsonx"), HOST_8080]).is_err());
        assert!(post(&[JSON, HOST_8080, ("origin", "http://127.0.0.1:9999")]).is_err());
        assert!(post(&[HOST_8080, ("origin", "http://127.0.0.1:9999")]).is_err());
        assert!(post(&[JSON, HOST_8080, ("origin", "null")]).is_err());
        assert!(post(&[JSON, ("origin", "http://127.0.0.1:8080")]).is_err());
        assert!(post(&[JSON, HOST_8080, ("sec-fetch-site", "same-site")]).is_err());
        assert!(post(&[JSON, HOST_8080, ("sec-fetch-site", "cross-site")]).is_err());
        for m in [Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(req(m, &[HOST_8080, ("origin", "http://evil.example")]).is_err());
        }
    }
}
