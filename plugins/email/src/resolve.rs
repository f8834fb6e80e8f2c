//! Host names to addresses within a deadline, for IMAP and SMTP alike.
//!
//! `getaddrinfo` has no deadline of its own and cannot be cancelled, so it runs on
//! a thread of its own that the caller stops waiting for at the deadline (the
//! thread ends when the system resolver gives up). A tokio runtime resolving a
//! name would instead hold its own shutdown until the lookup returned.
//!
//! Must never: let a hanging resolver hold a call past its deadline.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::EmailError;

/// The addresses of `host` (a name, an IP address, or `[IPv6]`) on `port`, found
/// before `deadline`.
pub fn addresses(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, EmailError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(not_in_time());
    }
    let (answer, answered) = mpsc::channel();
    let name = bare.to_owned();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = answer.send(found);
        })
        .map_err(|_| EmailError::Network("no thread to resolve the host".into()))?;
    match answered.recv_timeout(left) {
        Ok(Ok(found)) if !found.is_empty() => Ok(found),
        Ok(Ok(_)) => Err(EmailError::Network("host has no address".into())),
        Ok(Err(_)) => Err(EmailError::Network("host not found".into())),
        Err(_) => Err(not_in_time()),
    }
}

/// The time one of `untried` addresses may take to connect: an equal share of
/// what is left before `deadline` (one unreachable address must not use it all),
/// or `None` when nothing is left.
pub fn share(deadline: Instant, untried: usize) -> Option<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    let share = left / u32::try_from(untried.max(1)).unwrap_or(u32::MAX);
    (!share.is_zero()).then_some(share)
}

fn not_in_time() -> EmailError {
    EmailError::Network("the host name was not resolved in time".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_taken_as_they_are() {
        let soon = Instant::now() + Duration::from_secs(1);
        assert_eq!(
            addresses("127.0.0.1", 25, soon).expect("v4"),
            vec!["127.0.0.1:25".parse().expect("test value")]
        );
        assert_eq!(
            addresses("[::1]", 587, soon).expect("v6"),
            vec!["[::1]:587".parse().expect("test value")]
        );
    }

    #[test]
    fn a_passed_deadline_answers_at_once() {
        let error = addresses("localhost", 25, Instant::now()).expect_err("no time");
        assert!(matches!(error, EmailError::Network(_)), "{error:?}");
    }

    #[test]
    fn each_address_gets_a_share_of_the_time_left() {
        let deadline = Instant::now() + Duration::from_secs(9);
        let share = share(deadline, 3).expect("time left");
        assert!(share <= Duration::from_secs(3) && share > Duration::from_secs(2));
        assert_eq!(super::share(Instant::now(), 1), None);
    }
}
