//! Allow rules: may this signed-in user pass this route.
//!
//! [`check`] compares an [`Identity`] with a route's [`AllowRule`] and
//! answers a [`Verdict`]. Turning the verdict into a response (403 and
//! its text) is the gate's job; finding the identity is the session's and
//! the provider's.

use crate::auth::identity::Identity;
use crate::config::AllowRule;

/// What a rule says about one identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// No list matched, but the rule lists groups and the provider did not
    /// send them all (Azure's group overage, or groups trimmed to fit the
    /// session cookie): the user might be in one. Fail closed, and say why
    /// in the 403, so the user is not left guessing.
    GroupsUnknown,
}

/// Whether `identity` passes `rule`.
///
/// A rule with every list empty lets every signed-in user through.
/// Otherwise one match in any list is enough:
///
/// - `roles` and `groups`: exact and case-sensitive, as providers send
///   ids and role values verbatim;
/// - `emails`: the whole address, case-insensitive;
/// - `email_domains`: the whole domain after the email's last `@`,
///   case-insensitive. `example.com` does not match `evil-example.com`,
///   `example.com.evil.io` or a subdomain, and `a@b@example.com` is in
///   `example.com`, which is how mail would route it. A trailing dot on
///   either side is ignored (`example.com.` is the same domain).
pub fn check(rule: &AllowRule, identity: &Identity) -> Verdict {
    if is_open(rule) || matches(rule, identity) {
        return Verdict::Allow;
    }
    if !rule.groups.is_empty() && identity.groups_overage {
        return Verdict::GroupsUnknown;
    }
    Verdict::Deny
}

fn is_open(rule: &AllowRule) -> bool {
    rule.roles.is_empty()
        && rule.groups.is_empty()
        && rule.emails.is_empty()
        && rule.email_domains.is_empty()
}

fn matches(rule: &AllowRule, identity: &Identity) -> bool {
    let role = identity.roles.iter().any(|role| rule.roles.contains(role));
    let group = identity
        .groups
        .iter()
        .any(|group| rule.groups.contains(group));
    role || group || email_matches(rule, identity.email.as_deref())
}

fn email_matches(rule: &AllowRule, email: Option<&str>) -> bool {
    let Some(email) = email.filter(|email| !email.is_empty()) else {
        return false;
    };
    let whole = rule
        .emails
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(email));
    whole || domain_matches(&rule.email_domains, email)
}

fn domain_matches(allowed: &[String], email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return false;
    };
    let domain = domain.trim_end_matches('.');
    !domain.is_empty()
        && allowed
            .iter()
            .any(|entry| entry.trim_end_matches('.').eq_ignore_ascii_case(domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(roles: &[&str], groups: &[&str], emails: &[&str], domains: &[&str]) -> AllowRule {
        let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        AllowRule {
            roles: own(roles),
            groups: own(groups),
            emails: own(emails),
            email_domains: own(domains),
        }
    }

    fn user(email: Option<&str>, roles: &[&str], groups: &[&str], overage: bool) -> Identity {
        Identity {
            subject: "sub".into(),
            email: email.map(str::to_string),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            groups_overage: overage,
            ..Identity::default()
        }
    }

    /// An empty rule lets any signed-in user through, even one with nothing.
    #[test]
    fn empty_rule_allows_everyone() {
        let verdict = check(&AllowRule::default(), &user(None, &[], &[], false));
        assert_eq!(verdict, Verdict::Allow);
    }

    /// Roles and groups match exactly and case-sensitively.
    #[test]
    fn roles_and_groups_table() {
        let by_role = rule(&["admin"], &[], &[], &[]);
        let by_group = rule(&[], &["g1"], &[], &[]);
        let by_either = rule(&["r"], &["g"], &[], &[]);
        let cases: [(&AllowRule, &[&str], &[&str], Verdict); 7] = [
            (&by_role, &["admin"], &[], Verdict::Allow),
            (&by_role, &["Admin"], &[], Verdict::Deny),
            (&by_role, &["admins"], &[], Verdict::Deny),
            (&by_role, &[], &["admin"], Verdict::Deny),
            (&by_group, &[], &["g0", "g1"], Verdict::Allow),
            (&by_group, &[], &["G1"], Verdict::Deny),
            (&by_either, &[], &["g"], Verdict::Allow),
        ];
        for (index, (rule, roles, groups, expected)) in cases.into_iter().enumerate() {
            let identity = user(None, roles, groups, false);
            assert_eq!(check(rule, &identity), expected, "case {index}");
        }
    }

    /// Emails match whole and case-insensitively; domains only whole.
    #[test]
    fn email_table() {
        let by_email = rule(&[], &[], &["Alice@Example.com"], &[]);
        let by_domain = rule(&[], &[], &[], &["example.com"]);
        let cases = [
            (&by_email, "alice@example.com", Verdict::Allow),
            (&by_email, "xalice@example.com", Verdict::Deny),
            (&by_domain, "bob@example.com", Verdict::Allow),
            (&by_domain, "bob@EXAMPLE.COM", Verdict::Allow),
            (&by_domain, "bob@example.com.", Verdict::Allow),
            (&by_domain, "bob@evil-example.com", Verdict::Deny),
            (&by_domain, "bob@example.com.evil.io", Verdict::Deny),
            (&by_domain, "bob@sub.example.com", Verdict::Deny),
            (&by_domain, "example.com@evil.io", Verdict::Deny),
            (&by_domain, "a@b@example.com", Verdict::Allow),
            (&by_domain, "a@example.com@evil.io", Verdict::Deny),
            (&by_domain, "example.com", Verdict::Deny),
            (&by_domain, "bob@", Verdict::Deny),
            (&by_domain, "", Verdict::Deny),
        ];
        for (rule, email, expected) in cases {
            let identity = user(Some(email), &[], &[], false);
            assert_eq!(check(rule, &identity), expected, "{email}");
        }
    }

    /// An empty domain entry never matches an address without a domain.
    #[test]
    fn empty_domain_entry_matches_nothing() {
        let rule = rule(&[], &[], &[], &[""]);
        assert_eq!(
            check(&rule, &user(Some("bob@"), &[], &[], false)),
            Verdict::Deny
        );
    }

    /// No email at all cannot match an email rule.
    #[test]
    fn missing_email_is_denied() {
        let rule = rule(&[], &[], &[], &["example.com"]);
        assert_eq!(check(&rule, &user(None, &[], &[], false)), Verdict::Deny);
    }

    /// Overage turns a deny into "groups unknown" only when the rule lists
    /// groups; a match elsewhere still allows.
    #[test]
    fn overage_table() {
        let with_groups = rule(&["admin"], &["g1"], &[], &[]);
        let roles_only = rule(&["admin"], &[], &[], &[]);
        let cases = [
            (
                &with_groups,
                user(None, &[], &[], true),
                Verdict::GroupsUnknown,
            ),
            (
                &with_groups,
                user(None, &["admin"], &[], true),
                Verdict::Allow,
            ),
            (&with_groups, user(None, &[], &["g1"], true), Verdict::Allow),
            (&with_groups, user(None, &[], &[], false), Verdict::Deny),
            (&roles_only, user(None, &[], &[], true), Verdict::Deny),
        ];
        for (index, (rule, identity, expected)) in cases.iter().enumerate() {
            assert_eq!(check(rule, identity), *expected, "case {index}");
        }
    }
}
