//! Who signs users in: `auth.provider` and the keys that belong to one
//! provider or another (`tenant_id` and `authority` to Azure, `issuer` to
//! any OpenID Connect provider), read into a [`ProviderSpec`].
//!
//! Which keys a provider takes and needs is written once, as a [`Rule`]
//! per key; [`Keys`] applies the rules for the provider the file names,
//! so that a key of another provider is an error rather than ignored.
//! With the provider itself in error, each present key is still read for
//! its own problems, and none is called missing or out of place.
//!
//! Azure is configured for one tenant only: with `common`,
//! `organizations` or `consumers` tokens would come from any tenant, and
//! no single issuer could be checked.

use http::uri::Uri;

use super::error::Report;
use super::fields::{quoted, text, Section};
use super::types::ProviderSpec;
use super::web::{self, is_domain, is_guid};
use super::yaml::{child_path, Node};

const PROVIDERS: &str = "azure, oidc or dev";
const MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/";

/// A value of `provider:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Azure,
    Oidc,
    Dev,
}

impl Kind {
    /// As the file writes it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Azure => "azure",
            Kind::Oidc => "oidc",
            Kind::Dev => "dev",
        }
    }
}

/// A key that only some providers take, and which of those need it.
pub(super) struct Rule {
    key: &'static str,
    takes: &'static [Kind],
    needs: &'static [Kind],
}

const IDENTITY_PROVIDERS: &[Kind] = &[Kind::Azure, Kind::Oidc];

pub(super) const TENANT_ID: Rule = Rule::needed("tenant_id", &[Kind::Azure]);
pub(super) const AUTHORITY: Rule = Rule {
    key: "authority",
    takes: &[Kind::Azure],
    needs: &[],
};
pub(super) const ISSUER: Rule = Rule::needed("issuer", &[Kind::Oidc]);
pub(super) const CLIENT_ID: Rule = Rule::needed("client_id", IDENTITY_PROVIDERS);
pub(super) const CLIENT_SECRET: Rule = Rule::needed("client_secret", IDENTITY_PROVIDERS);
pub(super) const PUBLIC_URL: Rule = Rule {
    key: "public_url",
    takes: &[Kind::Azure, Kind::Oidc, Kind::Dev],
    needs: IDENTITY_PROVIDERS,
};

impl Rule {
    /// A key that exactly `providers` take, and need.
    const fn needed(key: &'static str, providers: &'static [Kind]) -> Rule {
        Rule {
            key,
            takes: providers,
            needs: providers,
        }
    }
}

/// The `auth` mapping with the provider it names, when that is valid.
pub(super) struct Keys<'s, 'n> {
    pub(super) section: &'s Section<'n>,
    pub(super) kind: Option<Kind>,
}

impl<'n> Keys<'_, 'n> {
    /// Reads the key of `rule` with `read`: `Some(None)` when it is
    /// absent and not needed; an error when it is absent and needed, or
    /// present and not taken.
    pub(super) fn read<T>(
        &self,
        rule: &Rule,
        report: &mut Report,
        read: impl FnOnce(&'n Node, &str, &mut Report) -> Option<T>,
    ) -> Option<Option<T>> {
        match (self.section.get(rule.key), self.kind) {
            (None, Some(kind)) if rule.needs.contains(&kind) => {
                let message = format!(
                    "missing required key `{}`: `provider: {}` needs it",
                    rule.key,
                    kind.name()
                );
                report.error(self.section.at, &self.path(rule), message);
                None
            }
            (None, _) => Some(None),
            (Some(_), Some(kind)) if !rule.takes.contains(&kind) => {
                self.refuse(rule, kind, report);
                None
            }
            (Some((node, path)), _) => read(node, &path, report).map(Some),
        }
    }

    fn refuse(&self, rule: &Rule, kind: Kind, report: &mut Report) {
        let takers: Vec<String> = rule
            .takes
            .iter()
            .map(|taker| format!("`provider: {}`", taker.name()))
            .collect();
        let message = format!(
            "`{}` is not a setting of `provider: {}`; it is for {} only, so remove it",
            rule.key,
            kind.name(),
            takers.join(" and ")
        );
        let at = self.section.key_at(rule.key).unwrap_or(self.section.at);
        report.error(at, &self.path(rule), message);
    }

    fn path(&self, rule: &Rule) -> String {
        child_path(&self.section.path, rule.key)
    }
}

/// `provider: azure | oidc | dev`.
pub(super) fn kind(node: &Node, path: &str, report: &mut Report) -> Option<Kind> {
    let scalar = text(node, path, PROVIDERS, report)?;
    match scalar.value.as_str() {
        "azure" => Some(Kind::Azure),
        "oidc" => Some(Kind::Oidc),
        "dev" => Some(Kind::Dev),
        _ => {
            let shown = quoted(scalar.shown());
            let message = format!("{shown} is not a provider; expected {PROVIDERS}");
            report.error(node.at, path, message);
            None
        }
    }
}

/// The provider's own keys, each read even when another fails.
pub(super) fn read(keys: &Keys, report: &mut Report) -> Option<ProviderSpec> {
    let tenant_id = keys.read(&TENANT_ID, report, tenant);
    let authority = keys.read(&AUTHORITY, report, |node, path, report| {
        url(node, path, report, web::origin)
    });
    let issuer = keys.read(&ISSUER, report, issuer);
    let provider = match keys.kind? {
        Kind::Azure => ProviderSpec::Azure {
            tenant_id: tenant_id??,
            authority: authority?.unwrap_or_else(|| Uri::from_static(DEFAULT_AUTHORITY)),
        },
        Kind::Oidc => ProviderSpec::Oidc { issuer: issuer?? },
        Kind::Dev => ProviderSpec::Dev,
    };
    Some(provider)
}

/// One Azure tenant: its id (a GUID) or a verified domain, lowercased.
fn tenant(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(node, path, "a tenant id or domain", report)?;
    let value = scalar.value.to_ascii_lowercase();
    let problem = if MULTI_TENANT.contains(&value.as_str()) {
        "is a multi-tenant alias (`common`, `organizations` or `consumers`), but supervise \
         signs users in from one tenant only: with an alias, tokens of any tenant would \
         do, and no issuer could be checked; use your tenant's id or domain"
    } else if is_guid(&value) || is_domain(&value) {
        return Some(value);
    } else {
        "is not a tenant id (a GUID such as `72f988bf-86f1-41af-91ab-2d7cd011db47`) \
         or a domain such as `contoso.onmicrosoft.com`"
    };
    let message = format!("{} {problem}", quoted(scalar.shown()));
    report.error(node.at, path, message);
    None
}

/// An OpenID Connect issuer, kept exactly as written.
fn issuer(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    url(node, path, report, |value| {
        web::issuer(value).map(|()| value.to_string())
    })
}

/// A URL checked by `check`, whose reason follows the quoted text.
pub(super) fn url<T>(
    node: &Node,
    path: &str,
    report: &mut Report,
    check: impl FnOnce(&str) -> Result<T, &'static str>,
) -> Option<T> {
    let scalar = text(node, path, "an `https://` URL", report)?;
    match check(&scalar.value) {
        Ok(value) => Some(value),
        Err(problem) => {
            let message = format!("{} {problem}", quoted(scalar.shown()));
            report.error(node.at, path, message);
            None
        }
    }
}
