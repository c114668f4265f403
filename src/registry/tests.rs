//! The registry's unit tests over real loopback connections: the limits
//! in total and per address, and eviction of the longest quiet one.

use super::*;
use std::net::TcpListener;

/// Connects to `listener` and asks `registry` to admit the connection.
fn admit(
    registry: &Arc<Registry>,
    listener: &TcpListener,
) -> Result<Connection, (TcpStream, Refusal)> {
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (stream, peer) = listener.accept().unwrap();
    registry.admit(stream, peer)
}

#[test]
fn limits_apply_in_total_and_per_address_and_free_up_on_drop() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let registry = Registry::new(3, PerIpLimit::set(2));
    let first = admit(&registry, &listener).ok().unwrap();
    let _second = admit(&registry, &listener).ok().unwrap();
    let refused = admit(&registry, &listener).err().unwrap().1;
    assert_eq!(refused, Refusal::TooManyFromAddress);
    drop(first);
    assert_eq!(registry.open_count(), 1);
    assert!(admit(&registry, &listener).is_ok());

    let total = Registry::new(1, PerIpLimit::set(0));
    let exempt = Registry::new(5, PerIpLimit::default());
    assert!(
        admit(&exempt, &listener).is_ok(),
        "loopback is exempt from the default per-address limit"
    );
    let _only = admit(&total, &listener).ok().unwrap();
    assert_eq!(admit(&total, &listener).err().unwrap().1, Refusal::TooMany);
}

#[test]
fn a_full_registry_evicts_the_longest_quiet_connection_once_quiet_long_enough() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let strict = Registry::new(1, PerIpLimit::set(0));
    let _young = admit(&strict, &listener).ok().unwrap();
    // Quiet for less than EVICTABLE_AFTER: the newcomer is refused.
    assert_eq!(admit(&strict, &listener).err().unwrap().1, Refusal::TooMany);

    let mut registry = Registry::new(2, PerIpLimit::set(0));
    Arc::get_mut(&mut registry).unwrap().evictable_after = Duration::ZERO;
    let first = admit(&registry, &listener).ok().unwrap();
    let second = admit(&registry, &listener).ok().unwrap();
    // The first made progress since: the second has been quiet longer.
    first
        .liveness()
        .progressed(Instant::now() + Duration::from_secs(1));
    let third = admit(&registry, &listener).ok().unwrap();
    assert!(second.liveness().is_evicted() && !first.liveness().is_evicted());
    assert_eq!(registry.open_count(), 3, "over the limit while it closes");
    // While the evicted one is closing, a tenth of the limit (one) is
    // already over it: the next newcomer is refused.
    assert_eq!(
        admit(&registry, &listener).err().unwrap().1,
        Refusal::TooMany
    );
    drop(second);
    assert_eq!(registry.open_count(), 2);
    assert_eq!(lock(&registry.state).evicting, 0);
    drop((first, third));
}
