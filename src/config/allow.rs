//! `allow:` on a route: which signed-in users may pass, by role, group,
//! whole email address or email domain, read into an [`AllowRule`].
//!
//! Emails and domains are lowercased here, since both compare without
//! regard to case in practice; roles and groups are kept as written,
//! since providers send them as configured. Whether the route signs users
//! in at all is the caller's check (see `routes`), and matching an
//! identity against the rule is the auth module's job.

use super::error::Report;
use super::fields::{text_list, Section};
use super::types::AllowRule;
use super::web::is_domain;
use super::yaml::Node;

const KEYS: [&str; 4] = ["roles", "groups", "emails", "email_domains"];

/// Reads the value of `allow:`; an empty mapping lets every signed-in
/// user through, as no `allow` does.
pub(super) fn read(node: &Node, path: &str, report: &mut Report) -> Option<AllowRule> {
    let what = "a mapping with `roles`, `groups`, `emails` or `email_domains`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let roles = entries(
        &section,
        "roles",
        ("a list of roles", "a role"),
        name,
        report,
    );
    let groups = entries(
        &section,
        "groups",
        ("a list of groups", "a group"),
        name,
        report,
    );
    let what = ("a list of email addresses", "an email address");
    let emails = entries(&section, "emails", what, email, report);
    let what = ("a list of domains", "a domain");
    let domains = entries(&section, "email_domains", what, domain, report);
    Some(AllowRule {
        roles: roles?,
        groups: groups?,
        emails: emails?,
        email_domains: domains?,
    })
}

/// The list under `key`, each item kept as `check` gives it back.
fn entries(
    section: &Section,
    key: &str,
    what: (&str, &str),
    check: fn(&str) -> Result<String, &'static str>,
    report: &mut Report,
) -> Option<Vec<String>> {
    section.read_or(key, Vec::new(), report, |node, path, report| {
        text_list(node, path, what, check, report)
    })
}

/// A role or group: any text without blanks at its ends.
fn name(text: &str) -> Result<String, &'static str> {
    if text.is_empty() || text.trim() != text {
        return Err("is empty or has blanks at an end, which no role or group has");
    }
    Ok(text.to_string())
}

/// `local@domain`: one `@`, with something on both sides, no blanks.
fn email(text: &str) -> Result<String, &'static str> {
    let valid = match text.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    };
    if !valid {
        return Err("is not an email address; write it `name@example.com`");
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("holds a space or control character, which no email address has");
    }
    Ok(text.to_lowercase())
}

/// A domain such as `example.com`, compared with the whole part after
/// an email's last `@`.
fn domain(text: &str) -> Result<String, &'static str> {
    if text.contains('@') {
        return Err("holds `@`; write only the domain, such as `example.com`");
    }
    if !is_domain(text) {
        return Err("is not a domain name such as `example.com`");
    }
    Ok(text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Emails need one `@` with text on both sides, and are lowercased.
    #[test]
    fn emails() {
        assert_eq!(email("Ann@Example.com"), Ok("ann@example.com".to_string()));
        for text in ["ann", "@example.com", "ann@", "a@b@c", "a b@c.d", ""] {
            assert!(email(text).is_err(), "{text}");
        }
    }

    /// Domains look like `example.com`; `@` and odd shapes are refused.
    #[test]
    fn domains() {
        assert_eq!(domain("Example.COM"), Ok("example.com".to_string()));
        let error = domain("@example.com").expect_err("an @");
        assert!(error.contains("holds `@`"), "{error}");
        for text in ["example", ".example.com", "exa mple.com", "*.example.com"] {
            assert!(domain(text).is_err(), "{text}");
        }
    }

    /// Roles are kept as written; empty ones and blank ends are refused.
    #[test]
    fn names() {
        assert_eq!(name("Reader.All"), Ok("Reader.All".to_string()));
        assert!(name("").is_err());
        assert!(name(" admin").is_err());
    }
}
