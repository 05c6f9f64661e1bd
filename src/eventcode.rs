//! Who may join (CONTRACT.md "Event code"): a short code shown on the projector, needed for a new
//! voter token, and a per-address limit on how fast tokens are handed out.
//!
//! The code keeps out people who cannot see the screen; the limit keeps one script from minting
//! thousands of identities. `auto` derives the code from the deployment's secret keys and topic
//! prefix, so every node sharing `--secret-file` and `--topic-prefix` shows and accepts the same
//! code with no further setup, and it stays the same across restarts (a printed QR stays valid).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::ratelimit::RateLimiter;

/// `--event-code`: `off`, `auto`, or a code of your own (4–32 letters or digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventCodeSetting {
    Off,
    Auto,
    Fixed(String),
}

impl std::str::FromStr for EventCodeSetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "" => Ok(EventCodeSetting::Off),
            "auto" => Ok(EventCodeSetting::Auto),
            _ => {
                let code = normalize(s);
                let ok = (4..=32).contains(&code.len())
                    && code.chars().all(|c| c.is_ascii_alphanumeric());
                if ok {
                    Ok(EventCodeSetting::Fixed(code))
                } else {
                    Err(format!(
                        "{s:?} is not an event code: use auto, off, or 4 to 32 letters and digits"
                    ))
                }
            }
        }
    }
}

/// What people type is compared without spaces or dashes and case-blind (`123 456`, `ab-cd`).
pub fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The 6-digit code `auto` gives for one key of the deployment and its topic prefix.
pub fn derive(key: &[u8; 32], topic_prefix: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(b"livepoll event code:");
    mac.update(topic_prefix.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let n = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
    format!("{:06}", n % 1_000_000)
}

/// `join_url` with the code, so scanning the QR code joins in one step.
pub fn url_with_code(join_url: &str, code: &str) -> String {
    format!("{}/?code={code}", join_url.trim_end_matches('/'))
}

/// Decides who gets a new voter token: the event code (if one is set) and a per-address rate.
pub struct Gate {
    /// The code shown on the screen; `None` when codes are off.
    code: Option<String>,
    /// Every code accepted: the shown one, and those of the other keys of a rotated secret.
    accepted: Vec<String>,
    limiter: Option<RateLimiter>,
}

impl Gate {
    /// `keys` are the deployment's keys, the signing one first (used only for `auto`);
    /// `per_minute` 0 turns the limit off.
    pub fn new(
        setting: &EventCodeSetting,
        keys: &[[u8; 32]],
        topic_prefix: &str,
        per_minute: u32,
    ) -> Gate {
        let accepted: Vec<String> = match setting {
            EventCodeSetting::Off => Vec::new(),
            EventCodeSetting::Fixed(c) => vec![normalize(c)],
            EventCodeSetting::Auto => keys.iter().map(|k| derive(k, topic_prefix)).collect(),
        };
        Gate {
            code: accepted.first().cloned(),
            accepted,
            limiter: (per_minute > 0).then(|| RateLimiter::per_minute(per_minute)),
        }
    }

    /// The code to show, if one is needed.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// True if no code is needed or `given` is one of the accepted codes.
    pub fn accepts(&self, given: Option<&str>) -> bool {
        if self.accepted.is_empty() {
            return true;
        }
        let Some(given) = given.map(normalize) else {
            return false;
        };
        let mut ok = subtle::Choice::from(0);
        for code in &self.accepted {
            ok |= code.as_bytes().ct_eq(given.as_bytes());
        }
        bool::from(ok)
    }

    /// Counts one new session for `client`; `Err(wait)` if that address is over its rate.
    /// The machine itself is never limited (the organiser's laptop, load tests), nor a request
    /// that did not come through the server (`client` is `None`).
    pub fn admit(&self, client: Option<SocketAddr>) -> Result<(), Duration> {
        match (&self.limiter, client.and_then(|c| limit_key(c.ip()))) {
            (Some(limiter), Some(key)) => limiter.check(&key),
            _ => Ok(()),
        }
    }
}

/// The key an address is limited under: the address itself for IPv4, its /64 for IPv6 (one
/// device usually holds a whole /64). `None` for this machine: exactly 127.0.0.1 and ::1, not
/// all of 127.0.0.0/8 (a local reverse proxy connects from 127.x too, and without
/// `--trusted-proxy` it must not lift the limit for everyone behind it).
fn limit_key(ip: IpAddr) -> Option<String> {
    match ip.to_canonical() {
        IpAddr::V4(v4) if v4 == std::net::Ipv4Addr::LOCALHOST => None,
        IpAddr::V6(v6) if v6 == std::net::Ipv6Addr::LOCALHOST => None,
        IpAddr::V4(v4) => Some(v4.to_string()),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_codes_compare_without_spaces_dashes_or_case() {
        assert_eq!("off".parse(), Ok(EventCodeSetting::Off));
        assert_eq!("AUTO".parse(), Ok(EventCodeSetting::Auto));
        assert_eq!(
            "ab-cd 12".parse(),
            Ok(EventCodeSetting::Fixed("ABCD12".into()))
        );
        assert!("abc".parse::<EventCodeSetting>().is_err());
        assert!("ab!cd".parse::<EventCodeSetting>().is_err());
        let gate = Gate::new(&"rust-42".parse().unwrap(), &[], "p", 0);
        assert_eq!(gate.code(), Some("RUST42"));
        assert!(gate.accepts(Some(" rust 42 ")));
        assert!(!gate.accepts(Some("RUST43")));
        assert!(!gate.accepts(None));
        assert!(Gate::new(&EventCodeSetting::Off, &[], "p", 0).accepts(None));
    }

    #[test]
    fn auto_is_six_digits_the_same_for_every_node_of_a_deployment() {
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        let node_a = Gate::new(&EventCodeSetting::Auto, &[k1, k2], "livepoll", 0);
        let node_b = Gate::new(&EventCodeSetting::Auto, &[k1, k2], "livepoll", 0);
        let code = node_a.code().unwrap().to_string();
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(node_b.code(), Some(code.as_str()));
        assert!(
            node_a.accepts(Some(&derive(&k2, "livepoll"))),
            "a rotated-out key's code still works"
        );
        let other_event = Gate::new(&EventCodeSetting::Auto, &[k1], "meetup-2", 0);
        assert_ne!(other_event.code(), Some(code.as_str()));
        let other_secret = Gate::new(&EventCodeSetting::Auto, &[[3u8; 32]], "livepoll", 0);
        assert!(!other_secret.accepts(Some(&code)));
    }

    #[test]
    fn the_session_limit_is_per_address_and_spares_this_machine() {
        let gate = Gate::new(&EventCodeSetting::Off, &[], "p", 2);
        let a: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.8:5000".parse().unwrap();
        assert!(gate.admit(Some(a)).is_ok() && gate.admit(Some(a)).is_ok());
        let wait = gate.admit(Some(a)).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(
            gate.admit(Some(b)).is_ok(),
            "another address is not affected"
        );
        let local: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!((0..10).all(|_| gate.admit(Some(local)).is_ok()));
        let local6: SocketAddr = "[::1]:1".parse().unwrap();
        assert!((0..10).all(|_| gate.admit(Some(local6)).is_ok()));
        // Another loopback address (a local proxy, a script using 127.x) is limited like any.
        let proxy: SocketAddr = "127.0.0.2:1".parse().unwrap();
        assert!(gate.admit(Some(proxy)).is_ok() && gate.admit(Some(proxy)).is_ok());
        assert!(gate.admit(Some(proxy)).is_err(), "127.0.0.2 is not exempt");
        let v6a: SocketAddr = "[2001:db8:1:2::1]:1".parse().unwrap();
        let v6b: SocketAddr = "[2001:db8:1:2::ff]:1".parse().unwrap();
        assert!(gate.admit(Some(v6a)).is_ok() && gate.admit(Some(v6a)).is_ok());
        assert!(gate.admit(Some(v6b)).is_err(), "one /64 is one client");
        let off = Gate::new(&EventCodeSetting::Off, &[], "p", 0);
        assert!((0..500).all(|_| off.admit(Some(a)).is_ok()));
    }
}
