//! `X-Forwarded-For`, believed only from configured reverse proxies (`--trusted-proxies`).
//! Anyone else could write any address into the header and hide behind it in the access log
//! and the login-failure limits, so from an untrusted peer the header is ignored.

use actix_web::http::header::HeaderMap;
use std::net::IpAddr;

/// Whether `ip` is in `spec`: an address (`10.0.0.5`) or a CIDR block (`10.0.0.0/8`).
pub fn matches(spec: &str, ip: IpAddr) -> bool {
    let (addr, bits) = match spec.split_once('/') {
        Some((a, b)) => match b.parse::<u32>() {
            Ok(bits) => (a, Some(bits)),
            Err(_) => return false,
        },
        None => (spec, None),
    };
    let Ok(net) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    let ip = match (net, ip) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        _ => ip,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            (u32::from(n) & mask) == (u32::from(i) & mask)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            (u128::from(n) & mask) == (u128::from(i) & mask)
        }
        _ => false,
    }
}

fn trusted(proxies: &[String], ip: IpAddr) -> bool {
    proxies.iter().any(|p| matches(p, ip))
}

/// The client address of a request from `peer`.
pub fn client_ip(peer: IpAddr, proxies: &[String], headers: &HeaderMap) -> IpAddr {
    if proxies.is_empty() || !trusted(proxies, peer) {
        return peer;
    }
    // Right to left: each trusted proxy appended the address it received from.
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        if text.len() > 4096 {
            return peer;
        }
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !trusted(proxies, ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(xff).unwrap(),
        );
        h
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let outsider: IpAddr = "198.51.100.7".parse().unwrap();
        let h = headers("203.0.113.9, 10.1.2.4");
        let trusted = vec!["10.0.0.0/8".to_string()];
        assert_eq!(client_ip(proxy, &trusted, &h).to_string(), "203.0.113.9");
        assert_eq!(client_ip(outsider, &trusted, &h), outsider);
        assert_eq!(client_ip(proxy, &[], &h), proxy);
        // A forged left-most entry does not win over the proxy's own right-most append.
        let h = headers("1.1.1.1, 203.0.113.9");
        assert_eq!(client_ip(proxy, &trusted, &h).to_string(), "203.0.113.9");
        // Garbage stops the walk at the last good hop.
        let h = headers("not-an-ip");
        assert_eq!(client_ip(proxy, &trusted, &h), proxy);
        assert!(matches("::1", "::1".parse().unwrap()));
        assert!(!matches("10.0.0.0/8", "11.0.0.1".parse().unwrap()));
    }
}
