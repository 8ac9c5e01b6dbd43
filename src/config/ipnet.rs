//! [`IpNet`]: reading `10.0.0.0/16`, `fd00::/8` or a bare address, and
//! testing whether a peer's address is inside the network.
//!
//! Written by hand rather than taken from a crate: it is two masks and a
//! comparison. IPv4 peers of a dual-stack listener show up as IPv4-mapped
//! IPv6 addresses (`::ffff:10.0.0.1`), so both the networks read here and
//! the addresses tested are brought to their IPv4 form when they have
//! one; `::ffff:10.0.0.0/104` and `10.0.0.0/8` are the same network.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::types::IpNet;

/// The prefix length of an IPv4-mapped IPv6 address's `::ffff:` part.
const MAPPED_PREFIX: u8 = 96;

/// Why a text is not a network. The messages do not repeat the text, so
/// the caller decides how to quote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpNetError {
    /// The part before any `/` is not an IP address.
    NotAnAddress,
    /// The part after `/` is not a number.
    BadPrefix,
    /// The prefix is longer than the address has bits.
    PrefixTooLong { max: u8 },
    /// Bits after the prefix are set; `network` is what was probably meant.
    HostBitsSet { network: IpNet },
}

impl fmt::Display for IpNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpNetError::NotAnAddress => f.write_str(
                "is not an IP address or network; expected one like `10.0.0.0/16`, \
                 `127.0.0.1` or `fd00::/8`",
            ),
            IpNetError::BadPrefix => {
                f.write_str("has an invalid prefix length; expected a number after `/`")
            }
            IpNetError::PrefixTooLong { max } => {
                write!(f, "has a prefix longer than the address's {max} bits")
            }
            IpNetError::HostBitsSet { network } => write!(
                f,
                "has bits set after the prefix; the network is `{network}`"
            ),
        }
    }
}

impl std::error::Error for IpNetError {}

impl IpNet {
    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address
    /// is tested as the IPv4 address it maps.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = v4_mask(self.prefix_len);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = v6_mask(self.prefix_len);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    /// `address/prefix`, or a bare address as a network of one.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = address.parse().map_err(|_| IpNetError::NotAnAddress)?;
        let max = bits(addr);
        let prefix_len = match prefix {
            Some(prefix) => parse_prefix(prefix)?,
            None => max,
        };
        if prefix_len > max {
            return Err(IpNetError::PrefixTooLong { max });
        }
        let network = IpNet {
            addr: masked(addr, prefix_len),
            prefix_len,
        };
        if network.addr != addr {
            return Err(IpNetError::HostBitsSet {
                network: canonical(network),
            });
        }
        Ok(canonical(network))
    }
}

impl fmt::Display for IpNet {
    /// Always `address/prefix`, also for a network of one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// One to three decimal digits; the range is checked by the caller.
fn parse_prefix(prefix: &str) -> Result<u8, IpNetError> {
    let digits = !prefix.is_empty() && prefix.len() <= 3;
    if !digits || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IpNetError::BadPrefix);
    }
    // Three digits are at most 999, which fits in a u16; anything over
    // 255 is reported as too long, like any other over the limit.
    let value: u16 = prefix.parse().map_err(|_| IpNetError::BadPrefix)?;
    Ok(u8::try_from(value).unwrap_or(u8::MAX))
}

fn bits(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `addr` with every bit after the first `prefix_len` cleared.
fn masked(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & v4_mask(prefix_len))),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & v6_mask(prefix_len))),
    }
}

/// A network inside `::ffff:0:0/96` as the IPv4 network it maps.
fn canonical(network: IpNet) -> IpNet {
    match network.addr {
        IpAddr::V6(v6) if network.prefix_len >= MAPPED_PREFIX => match v6.to_ipv4_mapped() {
            Some(v4) => IpNet {
                addr: IpAddr::V4(v4),
                prefix_len: network.prefix_len - MAPPED_PREFIX,
            },
            None => network,
        },
        _ => network,
    }
}

/// The first `prefix_len` bits set; a prefix over 32 counts as 32.
fn v4_mask(prefix_len: u8) -> u32 {
    let host_bits = 32u32.saturating_sub(u32::from(prefix_len));
    u32::MAX.checked_shl(host_bits).unwrap_or(0)
}

/// The first `prefix_len` bits set; a prefix over 128 counts as 128.
fn v6_mask(prefix_len: u8) -> u128 {
    let host_bits = 128u32.saturating_sub(u32::from(prefix_len));
    u128::MAX.checked_shl(host_bits).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("a valid network")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("a valid address")
    }

    /// Networks, bare addresses and both families parse to what they say.
    #[test]
    fn parses_networks_and_addresses() {
        let cases = [
            ("10.0.0.0/16", "10.0.0.0", 16),
            ("127.0.0.1", "127.0.0.1", 32),
            ("0.0.0.0/0", "0.0.0.0", 0),
            ("::1", "::1", 128),
            ("fd00::/8", "fd00::", 8),
            ("::/0", "::", 0),
            ("::ffff:10.0.0.0/104", "10.0.0.0", 8),
            ("::ffff:10.1.2.3", "10.1.2.3", 32),
        ];
        for (text, addr, prefix_len) in cases {
            let expected = IpNet {
                addr: ip(addr),
                prefix_len,
            };
            assert_eq!(net(text), expected, "{text}");
        }
    }

    /// Each kind of bad network gets its own reason.
    #[test]
    fn refuses_bad_networks() {
        let too_long_v4 = IpNetError::PrefixTooLong { max: 32 };
        let cases = [
            ("10.0.0.0/33", too_long_v4.clone()),
            ("10.0.0.0/999", too_long_v4),
            ("::/129", IpNetError::PrefixTooLong { max: 128 }),
            ("10.0.0.0/", IpNetError::BadPrefix),
            ("10.0.0.0/+8", IpNetError::BadPrefix),
            ("10.0.0.0/1000", IpNetError::BadPrefix),
            ("10.0.0.0/8/8", IpNetError::BadPrefix),
            ("10.0.0/8", IpNetError::NotAnAddress),
            ("localhost", IpNetError::NotAnAddress),
            ("010.0.0.1", IpNetError::NotAnAddress),
            (" 10.0.0.1", IpNetError::NotAnAddress),
            ("fe80::1%eth0", IpNetError::NotAnAddress),
            ("", IpNetError::NotAnAddress),
        ];
        for (text, error) in cases {
            assert_eq!(text.parse::<IpNet>(), Err(error), "{text}");
        }
    }

    /// Host bits set are refused, naming the network that was meant.
    #[test]
    fn host_bits_suggest_the_network() {
        let error = "10.0.0.1/8".parse::<IpNet>().expect_err("host bits");
        assert_eq!(
            error.to_string(),
            "has bits set after the prefix; the network is `10.0.0.0/8`"
        );
        let error = "fd00::1/8".parse::<IpNet>().expect_err("host bits");
        assert!(error.to_string().ends_with("`fd00::/8`"), "{error}");
    }

    /// Membership: inside, outside, other family, mapped addresses.
    #[test]
    fn contains() {
        let lan = net("10.0.0.0/16");
        assert!(lan.contains(ip("10.0.255.255")));
        assert!(!lan.contains(ip("10.1.0.0")));
        assert!(!lan.contains(ip("::1")));
        assert!(lan.contains(ip("::ffff:10.0.3.4")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("::1").contains(ip("::1")));
        assert!(!net("::1").contains(ip("::2")));
        assert!(net("fd00::/8").contains(ip("fdff::1")));
    }

    /// A prefix past the address's bits, built by hand, does not panic.
    #[test]
    fn overlong_prefix_built_by_hand_is_exact_match() {
        let odd = IpNet {
            addr: ip("10.0.0.1"),
            prefix_len: 200,
        };
        assert!(odd.contains(ip("10.0.0.1")));
        assert!(!odd.contains(ip("10.0.0.2")));
    }

    /// Bit `index` (0 = most significant) of a `width`-bit number.
    fn bit(value: u128, width: u32, index: u32) -> bool {
        value >> (width - 1 - index) & 1 == 1
    }

    /// The first `prefix_len` bits of both numbers agree, one at a time.
    fn same_prefix(a: u128, b: u128, width: u32, prefix_len: u8) -> bool {
        (0..u32::from(prefix_len)).all(|i| bit(a, width, i) == bit(b, width, i))
    }

    proptest! {
        /// IPv4 membership agrees with comparing the prefix bit by bit.
        #[test]
        fn v4_contains_agrees_with_bits(
            net in any::<u32>(),
            len in 0u8..=32,
            peer in any::<u32>(),
        ) {
            let network = IpNet {
                addr: masked(IpAddr::V4(Ipv4Addr::from(net)), len),
                prefix_len: len,
            };
            let expected = same_prefix(u128::from(net), u128::from(peer), 32, len);
            prop_assert_eq!(network.contains(IpAddr::V4(Ipv4Addr::from(peer))), expected);
        }

        /// IPv6 membership agrees with comparing the prefix bit by bit.
        #[test]
        fn v6_contains_agrees_with_bits(
            net in any::<u128>(),
            len in 0u8..=128,
            peer in any::<u128>(),
        ) {
            let peer = Ipv6Addr::from(peer);
            prop_assume!(peer.to_ipv4_mapped().is_none());
            let network = IpNet {
                addr: masked(IpAddr::V6(Ipv6Addr::from(net)), len),
                prefix_len: len,
            };
            let expected = same_prefix(net, u128::from(peer), 128, len);
            prop_assert_eq!(network.contains(IpAddr::V6(peer)), expected);
        }

        /// A peer that shares a network's first bits is inside it.
        #[test]
        fn v4_peers_sharing_the_prefix_are_inside(
            net in any::<u32>(),
            len in 0u8..=32,
            noise in any::<u32>(),
        ) {
            let host_mask = !v4_mask(len);
            let peer = (net & !host_mask) | (noise & host_mask);
            let network: IpNet = format!("{}/{len}", Ipv4Addr::from(net & !host_mask))
                .parse()
                .expect("a network address");
            prop_assert!(network.contains(IpAddr::V4(Ipv4Addr::from(peer))));
        }

        /// What `Display` writes parses back to the same network.
        #[test]
        fn display_round_trips(net in any::<u128>(), len in 0u8..=128) {
            let network = canonical(IpNet {
                addr: masked(IpAddr::V6(Ipv6Addr::from(net)), len),
                prefix_len: len,
            });
            prop_assert_eq!(network.to_string().parse::<IpNet>(), Ok(network));
        }

        /// The parser never panics on any text.
        #[test]
        fn never_panics_on_any_text(text in "\\PC{0,50}") {
            let _ = text.parse::<IpNet>();
        }

        /// The parser never panics on text made of address characters.
        #[test]
        fn never_panics_on_address_soup(text in "[0-9a-fA-F:./%]{0,45}") {
            if let Ok(network) = text.parse::<IpNet>() {
                prop_assert!(network.prefix_len <= bits(network.addr));
            }
        }
    }
}
