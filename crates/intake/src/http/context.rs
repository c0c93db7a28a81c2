//! Who is asking: the request id, the client's IP address, its user agent.
//!
//! The client IP is the TCP peer, unless the peer is one of
//! `TRUSTED_PROXIES`: then it is the nearest address in `X-Forwarded-For`
//! that is not itself a trusted proxy. A header from anyone else changes
//! nothing, so a client cannot choose its own rate-limit key.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::middleware::RequestId;
use crate::app::App;

/// Longest user agent kept in a session record.
const MAX_USER_AGENT: usize = 256;

/// Facts about the request every audit event and session needs.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request's id.
    pub request_id: String,
    /// The client's IP address (`unknown` without a peer address).
    pub client_ip: String,
    /// The client's user agent, truncated.
    pub user_agent: String,
}

impl FromRequestParts<App> for RequestContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Infallible> {
        Ok(Self::of(parts, &app.config.trusted_proxies))
    }
}

impl RequestContext {
    /// Reads the context from request parts.
    pub fn of(parts: &Parts, trusted_proxies: &[IpNet]) -> Self {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map_or_else(|| "unknown".to_owned(), |id| id.as_str().to_owned());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let client_ip = peer
            .map(|peer| client_ip(peer, &forwarded, trusted_proxies).to_string())
            .unwrap_or_else(|| "unknown".to_owned());
        let user_agent: String = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(MAX_USER_AGENT)
            .collect();
        Self {
            request_id,
            client_ip,
            user_agent,
        }
    }
}

/// The client's address given the peer and the `X-Forwarded-For` chain.
pub fn client_ip(peer: IpAddr, forwarded_for: &str, trusted_proxies: &[IpNet]) -> IpAddr {
    let trusted = |address: &IpAddr| trusted_proxies.iter().any(|net| net.contains(address));
    if !trusted(&peer) {
        return peer;
    }
    // Walk from the nearest hop outward; the first untrusted hop is the
    // client. A malformed entry ends the walk at the last trusted hop.
    let mut client = peer;
    for hop in forwarded_for
        .rsplit(',')
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
    {
        let Ok(address) = hop.parse::<IpAddr>() else {
            break;
        };
        client = address;
        if !trusted(&address) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| net.parse().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_forwarded_header_from_an_untrusted_peer_changes_nothing() {
        let client = client_ip(ip("203.0.113.9"), "198.51.100.1", &nets(&["10.0.0.0/8"]));
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client() {
        let client = client_ip(ip("10.0.0.2"), "198.51.100.1", &nets(&["10.0.0.0/8"]));
        assert_eq!(client, ip("198.51.100.1"));
    }

    #[test]
    fn the_nearest_untrusted_hop_wins_over_spoofed_entries() {
        let chain = "6.6.6.6, 198.51.100.1, 10.0.0.3";
        let client = client_ip(ip("10.0.0.2"), chain, &nets(&["10.0.0.0/8"]));
        assert_eq!(client, ip("198.51.100.1"));
    }

    #[test]
    fn a_malformed_hop_stops_at_the_last_trusted_address() {
        let client = client_ip(ip("10.0.0.2"), "junk, 10.0.0.3", &nets(&["10.0.0.0/8"]));
        assert_eq!(client, ip("10.0.0.3"));
    }
}
