//! Access control lists (emqttd_access_rule / acl.conf): who may publish or subscribe to what.
//!
//! Rules are checked in order and the first that matches decides; when none does, `no_match`
//! decides. A rule matches when its `who` fits the client, its `action` fits the request, and one
//! of its topics fits: for a publish, the topic matches the rule's filter; for a subscription,
//! the requested filter matches it as a topic would (so rule `sensors/#` covers a subscription to
//! `sensors/+/temp`), or equals it literally for an `eq` topic. `%u` and `%c` in a rule's topics
//! stand for the client's user name and client id; a rule with `%u` does not match a client that
//! gave no user name.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// What a client asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// PUBLISH to a topic.
    Publish,
    /// SUBSCRIBE to a filter.
    Subscribe,
}

/// A rule as written in the config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Allow or deny.
    pub permission: Permission,
    /// `all`, `user:<name>`, `client:<id>`, `ip:<address or CIDR>`.
    pub who: String,
    /// `publish`, `subscribe` or `all`.
    pub action: String,
    /// Filters (`eq <filter>` for a literal match).
    pub topics: Vec<String>,
}

/// The client a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// Client id.
    pub client_id: &'a str,
    /// User name, if given.
    pub username: Option<&'a str>,
    /// Peer address.
    pub ip: IpAddr,
}

#[derive(Debug, Clone)]
enum Subject {
    All,
    User(String),
    Client(String),
    Net(IpNet),
}

#[derive(Debug, Clone)]
enum TopicRule {
    Filter(String),
    Eq(String),
}

#[derive(Debug, Clone)]
struct Rule {
    permission: Permission,
    who: Subject,
    publish: bool,
    subscribe: bool,
    topics: Vec<TopicRule>,
}

/// A checked rule list.
#[derive(Debug, Clone)]
pub struct Acl {
    rules: Vec<Rule>,
    no_match: Permission,
}

impl Acl {
    /// Allows everything.
    pub fn allow_all() -> Self {
        Self {
            rules: Vec::new(),
            no_match: Permission::Allow,
        }
    }

    /// Checks each rule; the error names the rule (`acl.rules[2]`) and what is wrong.
    pub fn new(rules: &[RuleConfig], no_match: Permission) -> Result<Self, String> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| parse_rule(r).map_err(|e| format!("acl.rules[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { rules, no_match })
    }

    /// Whether `who` may do `action` on `topic` (a topic name, or a filter to subscribe to).
    pub fn check(&self, who: &Who<'_>, action: Action, topic: &str) -> Permission {
        for rule in &self.rules {
            let acts = match action {
                Action::Publish => rule.publish,
                Action::Subscribe => rule.subscribe,
            };
            if acts && rule.who.fits(who) && rule.topics.iter().any(|t| t.fits(who, action, topic)) {
                return rule.permission;
            }
        }
        self.no_match
    }
}

fn parse_rule(r: &RuleConfig) -> Result<Rule, String> {
    let who = match r.who.split_once(':') {
        None if r.who == "all" => Subject::All,
        Some(("user", name)) if !name.is_empty() => Subject::User(name.to_string()),
        Some(("client", id)) if !id.is_empty() => Subject::Client(id.to_string()),
        Some(("ip", net)) => Subject::Net(
            net.parse::<IpNet>()
                .or_else(|_| net.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("`{net}` is not an IP address or CIDR"))?,
        ),
        _ => {
            return Err(format!(
                "who `{}` is not all, user:<name>, client:<id> or ip:<cidr>",
                r.who
            ))
        }
    };
    let (publish, subscribe) = match r.action.as_str() {
        "publish" => (true, false),
        "subscribe" => (false, true),
        "all" | "pubsub" => (true, true),
        other => return Err(format!("action `{other}` is not publish, subscribe or all")),
    };
    if r.topics.is_empty() {
        return Err("no topics".into());
    }
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let (eq, filter) = match t.strip_prefix("eq ") {
                Some(f) => (true, f.trim()),
                None => (false, t.as_str()),
            };
            crate::codec::validate_topic_filter(&filter.replace(['%'], "x"))
                .map_err(|e| format!("topic `{t}`: {e}"))?;
            Ok(if eq {
                TopicRule::Eq(filter.to_string())
            } else {
                TopicRule::Filter(filter.to_string())
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Rule {
        permission: r.permission,
        who,
        publish,
        subscribe,
        topics,
    })
}

impl Subject {
    fn fits(&self, who: &Who<'_>) -> bool {
        match self {
            Subject::All => true,
            Subject::User(name) => who.username == Some(name.as_str()),
            Subject::Client(id) => who.client_id == id,
            Subject::Net(net) => net.contains(&canonical(who.ip)),
        }
    }
}

/// An IPv4-mapped IPv6 peer counts as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl TopicRule {
    fn fits(&self, who: &Who<'_>, action: Action, topic: &str) -> bool {
        match self {
            TopicRule::Eq(filter) => action == Action::Subscribe && filter == topic,
            TopicRule::Filter(filter) => {
                if filter.contains("%u") && who.username.is_none() {
                    return false;
                }
                let filter = filter
                    .replace("%u", who.username.unwrap_or(""))
                    .replace("%c", who.client_id);
                crate::routing::topic::matches(&filter, topic)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(permission: Permission, who: &str, action: &str, topics: &[&str]) -> RuleConfig {
        RuleConfig {
            permission,
            who: who.into(),
            action: action.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn who<'a>(client_id: &'a str, username: Option<&'a str>) -> Who<'a> {
        Who {
            client_id,
            username,
            ip: "10.1.2.3".parse().unwrap(),
        }
    }

    #[test]
    fn emqttd_default_acl_conf() {
        use Permission::*;
        let acl = Acl::new(
            &[
                rule(Allow, "user:dashboard", "subscribe", &["$SYS/#"]),
                rule(Allow, "ip:127.0.0.1", "all", &["$SYS/#", "#"]),
                rule(Deny, "all", "subscribe", &["$SYS/#", "eq #"]),
                rule(Allow, "all", "all", &["#"]),
            ],
            Deny,
        )
        .unwrap();
        let anyone = who("c1", None);
        assert_eq!(acl.check(&anyone, Action::Subscribe, "$SYS/brokers/x"), Deny);
        assert_eq!(
            acl.check(&anyone, Action::Subscribe, "#"),
            Deny,
            "eq # is literal"
        );
        assert_eq!(acl.check(&anyone, Action::Subscribe, "a/#"), Allow);
        assert_eq!(
            acl.check(&who("d", Some("dashboard")), Action::Subscribe, "$SYS/x"),
            Allow
        );
        let local = Who {
            ip: "127.0.0.1".parse().unwrap(),
            ..anyone
        };
        assert_eq!(acl.check(&local, Action::Subscribe, "#"), Allow);
    }

    #[test]
    fn client_and_user_substitution() {
        use Permission::*;
        let acl = Acl::new(
            &[
                rule(Allow, "all", "all", &["clients/%c/#", "users/%u/#"]),
                rule(Deny, "all", "all", &["#"]),
            ],
            Allow,
        )
        .unwrap();
        assert_eq!(
            acl.check(&who("c7", None), Action::Publish, "clients/c7/x"),
            Allow
        );
        assert_eq!(acl.check(&who("c7", None), Action::Publish, "clients/c8/x"), Deny);
        assert_eq!(
            acl.check(&who("c7", None), Action::Subscribe, "users//x"),
            Deny,
            "no user name"
        );
        assert_eq!(
            acl.check(&who("c7", Some("ann")), Action::Subscribe, "users/ann/+"),
            Allow
        );
    }

    #[test]
    fn no_match_and_ip_rules() {
        use Permission::*;
        let acl = Acl::new(&[rule(Deny, "ip:10.0.0.0/8", "publish", &["#"])], Allow).unwrap();
        assert_eq!(acl.check(&who("x", None), Action::Publish, "t"), Deny);
        assert_eq!(
            acl.check(&who("x", None), Action::Subscribe, "t"),
            Allow,
            "no_match"
        );
    }

    #[test]
    fn bad_rules_name_the_rule() {
        use Permission::*;
        let err = Acl::new(
            &[
                rule(Allow, "all", "all", &["#"]),
                rule(Allow, "group:x", "all", &["#"]),
            ],
            Allow,
        )
        .unwrap_err();
        assert!(err.starts_with("acl.rules[1]: who `group:x`"), "{err}");
        let err = Acl::new(&[rule(Allow, "all", "read", &["#"])], Allow).unwrap_err();
        assert!(err.contains("action `read`"), "{err}");
        let err = Acl::new(&[rule(Allow, "all", "all", &["a/#/b"])], Allow).unwrap_err();
        assert!(err.contains("topic `a/#/b`"), "{err}");
    }
}
