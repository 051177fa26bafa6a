//! Listener access rules, as esockd_access: an ordered list of `allow`/`deny` rules over
//! IP addresses and CIDR blocks, checked when a peer is admitted (`connection_sup`).
//!
//! Invariants and choices, all esockd's:
//! - The first rule that matches decides; when none matches the peer is allowed, so an
//!   empty list admits everyone (esockd_connection_sup's `nomatch -> true`).
//! - A bare address is a host rule (`/32` or `/128`). A CIDR with host bits set
//!   (`10.1.2.3/8`) is accepted and means its network (`10.0.0.0/8`).
//! - An IPv4-mapped IPv6 peer (`::ffff:10.1.2.3`, seen on a dual-stack socket) is matched as
//!   the IPv4 address it carries, so IPv4 rules keep working on a `[::]` listener.
//!
//! Rules are parsed once, from config or the admin API, into [`AccessRule`]; matching does
//! not allocate.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::Deserialize;

/// What a matching rule does with the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Admit the peer.
    Allow,
    /// Refuse the peer: the socket is closed at once.
    Deny,
}

/// The peers a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Every address.
    All,
    /// The addresses in one network (a host is a `/32` or `/128` network).
    Net(IpNet),
}

/// One rule: `allow all`, `deny all`, `allow <ip or CIDR>` or `deny <ip or CIDR>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AccessRule {
    /// What happens to a peer the rule matches.
    pub access: Access,
    /// Which peers the rule matches.
    pub target: Target,
}

/// A rule that does not parse; the message names the rule and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid access rule {rule:?}: {reason}")]
pub struct AccessRuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong with it.
    pub reason: String,
}

impl AccessRule {
    /// Parses `allow all`, `deny all`, `allow|deny <ip>` or `allow|deny <ip>/<prefix>`, IPv4 or
    /// IPv6. Words are separated by any whitespace; nothing may follow the target.
    pub fn parse(rule: &str) -> Result<Self, AccessRuleError> {
        let error = |reason: String| AccessRuleError {
            rule: rule.to_owned(),
            reason,
        };
        let mut words = rule.split_whitespace();
        let (Some(access), Some(target), None) = (words.next(), words.next(), words.next()) else {
            return Err(error(
                "expected `allow` or `deny`, then `all` or an IP address or CIDR".to_owned(),
            ));
        };
        let access = match access {
            "allow" => Access::Allow,
            "deny" => Access::Deny,
            other => return Err(error(format!("expected `allow` or `deny`, found `{other}`"))),
        };
        let target = if target == "all" {
            Target::All
        } else if target.contains('/') {
            let net =
                IpNet::from_str(target).map_err(|_| error(format!("`{target}` is not a CIDR block")))?;
            Target::Net(net.trunc())
        } else {
            let ip = IpAddr::from_str(target)
                .map_err(|_| error(format!("`{target}` is not `all`, an IP address or a CIDR")))?;
            Target::Net(IpNet::from(ip))
        };
        Ok(Self { access, target })
    }

    /// Whether this rule covers `ip` (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn matches(&self, ip: IpAddr) -> bool {
        match self.target {
            Target::All => true,
            Target::Net(net) => net.contains(&ip.to_canonical()),
        }
    }
}

/// A proxy whose word on the client's address is taken (`trusted_proxies`): an IP address or a
/// CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TrustedProxy(AccessRule);

impl TryFrom<String> for TrustedProxy {
    type Error = AccessRuleError;

    fn try_from(net: String) -> Result<Self, Self::Error> {
        match AccessRule::parse(&format!("allow {net}")) {
            Ok(rule) if rule.target != Target::All => Ok(TrustedProxy(rule)),
            Ok(_) => Err(AccessRuleError {
                rule: net,
                reason: "a trusted proxy is an IP address or a CIDR block".into(),
            }),
            Err(mut e) => {
                e.rule = net;
                Err(e)
            }
        }
    }
}

/// Whether a proxy at `ip` may name the client's address: any peer when `trusted` is empty,
/// otherwise one inside a trusted network.
pub fn proxy_trusted(trusted: &[TrustedProxy], ip: IpAddr) -> bool {
    trusted.is_empty() || trusted.iter().any(|t| t.0.matches(ip))
}

/// What `rules` decide for `ip`: the first matching rule's access, or [`Access::Allow`] when
/// none matches (esockd's default).
pub fn check(rules: &[AccessRule], ip: IpAddr) -> Access {
    rules
        .iter()
        .find(|rule| rule.matches(ip))
        .map_or(Access::Allow, |rule| rule.access)
}

impl FromStr for AccessRule {
    type Err = AccessRuleError;

    fn from_str(rule: &str) -> Result<Self, Self::Err> {
        Self::parse(rule)
    }
}

impl TryFrom<String> for AccessRule {
    type Error = AccessRuleError;

    fn try_from(rule: String) -> Result<Self, Self::Error> {
        Self::parse(&rule)
    }
}

/// Writes the rule back in the form [`AccessRule::parse`] reads (hosts without a prefix).
impl fmt::Display for AccessRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            Access::Allow => "allow",
            Access::Deny => "deny",
        };
        match self.target {
            Target::All => write!(f, "{access} all"),
            Target::Net(net) if net.prefix_len() == net.max_prefix_len() => {
                write!(f, "{access} {}", net.addr())
            }
            Target::Net(net) => write!(f, "{access} {net}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn rules(list: &[&str]) -> Vec<AccessRule> {
        list.iter()
            .map(|r| AccessRule::parse(r).expect("test rule"))
            .collect()
    }

    #[test]
    fn parses_all_and_host_and_cidr_rules_for_both_families() {
        let cases = [
            ("allow all", "allow all"),
            ("deny all", "deny all"),
            ("allow 127.0.0.1", "allow 127.0.0.1"),
            ("deny 10.0.0.0/8", "deny 10.0.0.0/8"),
            ("deny   10.1.2.3/8 ", "deny 10.0.0.0/8"),
            ("allow ::1", "allow ::1"),
            ("deny fd00::/8", "deny fd00::/8"),
            ("allow 2001:db8::1/128", "allow 2001:db8::1"),
        ];
        for (input, shown) in cases {
            let rule = AccessRule::parse(input).expect(input);
            assert_eq!(rule.to_string(), shown, "{input}");
            assert_eq!(AccessRule::parse(&rule.to_string()), Ok(rule));
        }
    }

    #[test]
    fn rejects_malformed_rules_naming_them() {
        let cases = [
            ("", "expected `allow` or `deny`"),
            ("allow", "expected `allow` or `deny`"),
            ("allow all now", "expected `allow` or `deny`"),
            ("permit all", "found `permit`"),
            ("Allow all", "found `Allow`"),
            ("allow 10.0.0.0/33", "`10.0.0.0/33` is not a CIDR block"),
            ("deny fd00::/129", "`fd00::/129` is not a CIDR block"),
            ("deny 300.1.1.1", "`300.1.1.1` is not `all`"),
            ("deny example.com", "`example.com` is not `all`"),
        ];
        for (input, reason) in cases {
            let err = AccessRule::parse(input).expect_err(input);
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("invalid access rule {input:?}: ")),
                "{message}"
            );
            assert!(message.contains(reason), "{input}: {message}");
        }
    }

    #[test]
    fn matches_ipv4_and_ipv6_networks_only_within_their_family() {
        let v4 = AccessRule::parse("deny 10.0.0.0/8").expect("rule");
        assert!(v4.matches(ip("10.255.0.1")));
        assert!(!v4.matches(ip("11.0.0.1")));
        assert!(!v4.matches(ip("fd00::1")));
        let v6 = AccessRule::parse("deny fd00::/8").expect("rule");
        assert!(v6.matches(ip("fd12:3456::1")));
        assert!(!v6.matches(ip("fe80::1")));
        assert!(!v6.matches(ip("10.0.0.1")));
        let host = AccessRule::parse("allow 192.168.1.1").expect("rule");
        assert!(host.matches(ip("192.168.1.1")));
        assert!(!host.matches(ip("192.168.1.2")));
    }

    #[test]
    fn ipv4_mapped_ipv6_peers_match_ipv4_rules() {
        let rule = AccessRule::parse("deny 10.0.0.0/8").expect("rule");
        assert!(rule.matches(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn first_match_wins_as_in_esockd_access_match() {
        // esockd's own access_match case.
        let list = rules(&["deny 192.168.1.1", "allow 192.168.1.0/24", "deny all"]);
        assert_eq!(check(&list, ip("192.168.1.1")), Access::Deny);
        assert_eq!(check(&list, ip("192.168.1.4")), Access::Allow);
        assert_eq!(check(&list, ip("192.168.1.60")), Access::Allow);
        assert_eq!(check(&list, ip("10.10.10.10")), Access::Deny);
        let list = rules(&["allow all", "deny 10.0.0.0/8"]);
        assert_eq!(check(&list, ip("10.0.0.1")), Access::Allow);
    }

    #[test]
    fn no_matching_rule_allows() {
        assert_eq!(check(&[], ip("10.0.0.1")), Access::Allow);
        let list = rules(&["deny 10.0.0.0/8"]);
        assert_eq!(check(&list, ip("192.0.2.1")), Access::Allow);
    }
}
